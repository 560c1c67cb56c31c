'use strict'
// CommonJS consumer: require() picks the package's "require" export (index.js). This file runs
// in plain jest (the default babel-jest transform, no flags) and again under
// --experimental-vm-modules, where import() works too.

const vm = require('node:vm')
const api = require('solid-client-authn-native')
const { describeBehaviour } = require('../../common/behaviour.cjs')

// jest can only import() ES modules when node runs with --experimental-vm-modules.
const vmModules = typeof vm.SourceTextModule === 'function'

describeBehaviour('require', api, { describe, test, expect })

describe('require: entry points', () => {
  test('resolves to the package root through the file: symlink', () => {
    const resolved = require.resolve('solid-client-authn-native')
    expect(resolved).toMatch(/[\\/]index\.js$/)
    expect(require(resolved)).toBe(api)
  })

  ;(vmModules ? test : test.skip)('import() from a CommonJS test gives the same classes as require()', async () => {
    const esm = await import('solid-client-authn-native')
    // index.mjs has named exports only; a default would mean the CommonJS file was imported.
    expect('default' in esm).toBe(false)
    expect(esm.InMemoryStorage).toBe(api.InMemoryStorage)
    expect(esm.Session).toBe(api.Session)
    expect(esm.getSessionFromStorage).toBe(api.getSessionFromStorage)
    expect(esm.EVENTS).toBe(api.EVENTS)
  })
})

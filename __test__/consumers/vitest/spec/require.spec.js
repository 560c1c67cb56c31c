// CommonJS consumer: a .cjs module that require()s the package (the "require" export, index.js),
// loaded here through createRequire.
import { createRequire } from 'node:module'
import { describe, expect, test } from 'vitest'

const require = createRequire(import.meta.url)
// The checks every consumer project runs, shared with the jest consumer.
const { describeBehaviour } = require('../../common/behaviour.cjs')
const { api, resolved } = require('./require-helper.cjs')

describeBehaviour('require', api, { describe, test, expect })

describe('require: entry points', () => {
  test('require() resolves index.js through the file: symlink', () => {
    expect(resolved).toMatch(/[\\/]index\.js$/)
    expect(require(resolved)).toBe(api)
  })

  test('import() gives the same classes as require()', async () => {
    const esm = await import('solid-client-authn-native')
    expect('default' in esm).toBe(false)
    expect(esm.InMemoryStorage).toBe(api.InMemoryStorage)
    expect(esm.Session).toBe(api.Session)
    expect(esm.getSessionFromStorage).toBe(api.getSessionFromStorage)
    expect(esm.EVENTS).toBe(api.EVENTS)
  })
})

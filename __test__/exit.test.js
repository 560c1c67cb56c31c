'use strict'
// Child-process tests: the process exits by itself, and the two entry points are one module.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

function runFixture(name) {
  const started = Date.now()
  const result = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', name)], {
    encoding: 'utf8',
    timeout: 20_000,
  })
  return { ...result, elapsed: Date.now() - started }
}

test('a script that uses the module and never logs out exits by itself', () => {
  const r = runFixture('no-logout.js')
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { webId: 'https://w/', ids: ['a'], made: 100 })
  assert.ok(r.elapsed < 5_000, `took ${r.elapsed} ms`)
})

test('a storage call that never settles does not keep the process alive', () => {
  const r = runFixture('hanging-storage.js')
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'started')
  assert.ok(r.elapsed < 5_000, `took ${r.elapsed} ms, the default storage timeout is 10 s`)
})

test('while something else keeps the process alive, a hanging call times out with a StorageError', () => {
  const r = runFixture('hanging-storage-timeout.js')
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), {
    isStorageError: true,
    code: 'ERR_STORAGE_TIMEOUT',
    message: 'storage.get("solidClientAuthn:registeredSessions") did not settle within 100 ms',
  })
})

test('import and require give the same module', () => {
  const r = runFixture('dual.mjs')
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), {
    sameSession: true,
    sameStorage: true,
    sameFunctions: true,
    exports: true,
    restored: 'https://shared.example/#me',
    listedByCjs: ['shared'],
    afterEsmLogout: [],
  })
})

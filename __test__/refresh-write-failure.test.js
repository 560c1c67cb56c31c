'use strict'
// A storage that fails just when a refresh writes the rotated refresh token. The provider
// (oidc-provider with rotation and reuse detection) has already spent the old token, so the new
// one must not be lost: the call rejects with a StorageError that carries the session (logged in,
// with the new tokens), nothing in storage is deleted, and the next operation on the session
// writes the record first. Had the new token been dropped, the next refresh would present the
// spent one and the provider would revoke the grant.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startOp } = require('./support/servers.js')
const { RECORD_PREFIX, asyncMapStorage, rejection } = require('./helpers.js')

const REDIRECT = 'http://localhost:9/callback'

let op
let opLogin
test.before(async () => {
  op = await startOp({ rotate: true })
  ;({ opLogin } = await import('./support/op-login.mjs'))
})
test.after(() => op?.stop())

/** A Map storage whose writes to `failing` keys reject while `failing` names them. */
function flakyStorage() {
  const inner = asyncMapStorage()
  const failing = new Set()
  return {
    map: inner.map,
    failing,
    get: (key) => inner.get(key),
    async set(key, value) {
      if (failing.has(key)) throw new Error('the database is read-only right now')
      return inner.set(key, value)
    },
    async delete(key) {
      if (failing.has(key)) throw new Error('the database is read-only right now')
      return inner.delete(key)
    },
  }
}

test('a refresh whose record cannot be written keeps its tokens, and they are written later', async () => {
  const storage = flakyStorage()
  const id = 'rotated'
  const key = RECORD_PREFIX + id
  const session = new lib.Session({ storage, keepAlive: false }, id)
  const url = await session.login({ oidcIssuer: op.issuer, redirectUrl: REDIRECT, handleRedirect: () => {} })
  await session.handleIncomingRedirect(await opLogin(url, { redirectUrl: REDIRECT }))
  const stored = JSON.parse(storage.map.get(key))
  // Make the next restore refresh.
  storage.map.set(key, JSON.stringify({ ...stored, accessTokenExpiresAt: '0' }))
  const before = storage.map.get(key)
  const errorsBefore = (await op.stats()).grantErrors

  storage.failing.add(key)
  const heard = []
  const e = await rejection(lib.getSessionFromStorage(id, { storage, onNewRefreshToken: (t) => heard.push(t) }))
  assert.ok(e instanceof lib.StorageError, String(e))
  assert.equal(e.code, 'ERR_STORAGE_FAILED')
  assert.match(e.cause.message, /read-only/, "the storage's own error is the cause")
  assert.equal(storage.map.get(key), before, 'the old record is still there, untouched')
  assert.equal(heard.length, 1, 'the app heard of the new refresh token')
  assert.notEqual(heard[0], stored.refreshToken)
  assert.ok(!e.message.includes(heard[0]), 'no token in the message')

  const restored = e.session
  assert.ok(restored instanceof lib.Session, 'the error carries the session')
  assert.equal(restored.info.isLoggedIn, true)
  assert.equal((await restored.fetch(op.privateResource)).status, 200, 'it works with the new tokens')

  // Still failing: the next operation tries the write first, and says it failed.
  const again = await rejection(lib.getSessionFromStorage(id, { storage }))
  assert.equal(again.code, 'ERR_STORAGE_FAILED')
  assert.equal(storage.map.get(key), before)

  // The storage recovers: the next restore writes the refreshed record, then uses it.
  storage.failing.delete(key)
  const later = await lib.getSessionFromStorage(id, { storage })
  assert.equal(later.info.isLoggedIn, true)
  assert.equal(JSON.parse(storage.map.get(key)).refreshToken, heard[0], 'the rotated refresh token is stored')
  assert.equal((await later.fetch(op.privateResource)).status, 200)

  // And it refreshes: the grant was never revoked.
  await lib.refreshSession(later, { storage })
  assert.equal(later.info.isLoggedIn, true)
  assert.deepEqual((await op.stats()).grantErrors, errorsBefore, 'no spent refresh token was presented')
})

test('a logout while the refreshed record waits to be written forgets it', async () => {
  const storage = flakyStorage()
  const id = 'rotated-then-gone'
  const key = RECORD_PREFIX + id
  const session = new lib.Session({ storage, keepAlive: false }, id)
  const url = await session.login({ oidcIssuer: op.issuer, redirectUrl: REDIRECT, handleRedirect: () => {} })
  await session.handleIncomingRedirect(await opLogin(url, { redirectUrl: REDIRECT }))
  storage.map.set(key, JSON.stringify({ ...JSON.parse(storage.map.get(key)), accessTokenExpiresAt: '0' }))
  storage.failing.add(key)
  const e = await rejection(lib.getSessionFromStorage(id, { storage }))
  storage.failing.delete(key)
  await e.session.logout()
  assert.equal(storage.map.get(key), undefined)
  assert.equal(await lib.getSessionFromStorage(id, { storage }), undefined, 'the unsaved record did not bring it back')
})

'use strict'
// Operations on InMemoryStorage finish inside one native call unless they wait on the network;
// then two of them can be in flight on one session at once. They must keep apart as operations on
// a store implemented in JS do: each is a key-lock family of its own. Against oidc-provider with
// rotation and reuse detection, two refreshes with one refresh token would revoke the grant, and a
// refresh finishing after a logout would write the session back.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startOp } = require('./support/servers.js')
const { RECORD_PREFIX } = require('./helpers.js')

const REDIRECT = 'http://localhost:9/callback'

let op
let opLogin
test.before(async () => {
  op = await startOp({ rotate: true })
  ;({ opLogin } = await import('./support/op-login.mjs'))
})
test.after(() => op?.stop())

/** A session logged in on `storage`, whose stored access token is then made due. */
async function dueSession(storage, id) {
  const session = new lib.Session({ storage, keepAlive: false }, id)
  const url = await session.login({ oidcIssuer: op.issuer, redirectUrl: REDIRECT, handleRedirect: () => {} })
  await session.handleIncomingRedirect(await opLogin(url, { redirectUrl: REDIRECT }))
  const key = RECORD_PREFIX + id
  const stored = JSON.parse(await storage.get(key))
  await storage.set(key, JSON.stringify({ ...stored, accessTokenExpiresAt: '0' }))
  return { session, key, stored }
}

test('a restore and a forced refresh of one session at once on InMemoryStorage refresh one after the other, and the grant stays good', async () => {
  const storage = new lib.InMemoryStorage()
  const { session, key, stored } = await dueSession(storage, 'raced')
  const errorsBefore = (await op.stats()).grantErrors

  const [restored] = await Promise.all([lib.getSessionFromStorage('raced', { storage }), lib.refreshSession(session, { storage })])
  assert.equal(restored.info.isLoggedIn, true)
  assert.equal(session.info.isLoggedIn, true)
  assert.deepEqual((await op.stats()).grantErrors, errorsBefore, 'no spent refresh token was presented')
  const after = JSON.parse(await storage.get(key))
  assert.notEqual(after.refreshToken, stored.refreshToken, 'the rotated refresh token is stored')

  // The grant is still alive: one more refresh works, and so do the tokens.
  await lib.refreshSession(restored, { storage })
  assert.equal(restored.info.isLoggedIn, true)
  assert.equal((await restored.fetch(op.privateResource)).status, 200)
  assert.deepEqual((await op.stats()).grantErrors, errorsBefore)
})

test('a logout during a refresh on InMemoryStorage waits for it, and the session stays forgotten', async () => {
  const storage = new lib.InMemoryStorage()
  const { key } = await dueSession(storage, 'leaving')

  const restoring = lib.getSessionFromStorage('leaving', { storage })
  const leaving = new lib.Session({ storage, keepAlive: false }, 'leaving').logout()
  await Promise.allSettled([restoring, leaving])
  await leaving
  // The logout waited for the refresh, which ran against a live grant.
  assert.equal((await restoring).info.isLoggedIn, true)

  assert.equal(await storage.get(key), undefined, 'no refresh wrote the record back')
  assert.ok(!(await lib.getSessionIdFromStorageAll(storage)).includes('leaving'), 'nor is it listed')
})

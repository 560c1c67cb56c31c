'use strict'
// Two operations on one session at once, against oidc-provider with rotation and reuse detection,
// where two refreshes with one refresh token revoke the grant, and a refresh that finishes after
// a logout writes the session back.
// - On InMemoryStorage, operations finish inside one native call unless they wait on the
//   network; then they keep apart as operations on a store implemented in JS do.
// - Across processes (two store objects over one map: separate locks, as two processes have), a
//   logout waits for a refresh in flight elsewhere, through the session's refresh lease.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startOp } = require('./support/servers.js')
const { RECORD_PREFIX, asyncMapStorage } = require('./helpers.js')

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

test('a logout in another process during a refresh waits for it, revokes what it stored, and the session stays forgotten', async () => {
  const here = asyncMapStorage()
  // Another process's handle on the same data: a store object of its own.
  const elsewhere = {
    get: async (key) => here.map.get(key),
    set: async (key, value) => void here.map.set(key, value),
    delete: async (key) => void here.map.delete(key),
  }
  const { key, stored } = await dueSession(here, 'shared')
  const errorsBefore = (await op.stats()).grantErrors

  const leaseKey = 'solidClientAuthn:refreshLease:shared'
  here.calls.length = 0
  let refreshToken
  const restoring = lib.getSessionFromStorage('shared', { storage: here, onNewRefreshToken: (t) => (refreshToken = t) })
  // The refresh has taken its lease and read the record again (its token request is on its way).
  const recordReads = () => here.calls.filter(([method, k]) => method === 'get' && k === key).length
  while (!(here.map.has(leaseKey) && recordReads() >= 2)) await new Promise((resolve) => setImmediate(resolve))
  await new lib.Session({ storage: elsewhere, keepAlive: false }, 'shared').logout()

  const restored = await restoring
  assert.equal(restored.info.isLoggedIn, true, 'the refresh ran against a live grant')
  assert.equal(here.map.get(key), undefined, 'no refresh wrote the record back')
  assert.equal(here.map.get(leaseKey), undefined, 'no lease is left')
  assert.ok(!(await lib.getSessionIdFromStorageAll(elsewhere)).includes('shared'))
  assert.deepEqual((await op.stats()).grantErrors, errorsBefore, 'no spent refresh token was presented')
  // The logout revoked the refresh token the refresh stored.
  const again = new lib.Session({ storage: new lib.InMemoryStorage(), keepAlive: false })
  const login = again.login({ refreshToken, clientId: stored.clientId, clientSecret: stored.clientSecret, oidcIssuer: op.issuer })
  await assert.rejects(login, (e) => e.code === 'ERR_OAUTH_INVALID_GRANT')
})

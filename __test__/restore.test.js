'use strict'
// Restoring stored sessions through their refresh tokens, against a real Community Solid
// Server, on sessions the reference package itself logged in and stored.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const binding = require('../binding.js')
const { startCss } = require('./support/servers.js')
const { RECORD_PREFIX, asyncMapStorage, rejection } = require('./helpers.js')

const { getSessionFromStorage, refreshSession, OAuthError } = lib

let css
let referenceLogin
test.before(async () => {
  css = await startCss()
  ;({ referenceAuthCodeSession: referenceLogin } = await import('./support/reference-login.mjs'))
})
test.after(() => css?.stop())

/** A storage holding a session the reference logged in through the authorization code flow. */
async function storedByReference(sessionId) {
  const storage = asyncMapStorage()
  await referenceLogin({ css, storage, sessionId })
  return storage
}

const requests = () => binding.httpRequestsSent()
const record = (storage, id) => JSON.parse(storage.map.get(RECORD_PREFIX + id))

test('a session the reference stored is restored, refreshed, used, and still readable by the reference', async () => {
  const storage = await storedByReference('r-1')
  const before = record(storage, 'r-1')
  const refreshTokens = []
  const session = await getSessionFromStorage('r-1', { storage, onNewRefreshToken: (t) => refreshTokens.push(t) })
  assert.equal(session.info.isLoggedIn, true)
  assert.equal(session.info.webId, css.webId)
  assert.ok(session.info.expirationDate > Date.now())
  assert.equal((await session.fetch(css.privateResource)).status, 200)
  // CSS does not rotate refresh tokens; the event fires all the same, as with the reference.
  assert.deepEqual(refreshTokens, [before.refreshToken])
  const after = record(storage, 'r-1')
  assert.equal(after.refreshToken, before.refreshToken)
  assert.equal(after.publicKey, before.publicKey, 'the stored key is kept')
  assert.ok(after.accessToken && Number(after.accessTokenExpiresAt) > Date.now())
  assert.deepEqual(Object.keys(after).slice(0, Object.keys(before).length), Object.keys(before), 'fields keep their places')

  // The reference restores what we stored, and can use it.
  const reference = await import('@inrupt/solid-client-authn-node')
  const copy = asyncMapStorage(storage.map)
  const theirs = await reference.getSessionFromStorage('r-1', { storage: copy })
  assert.equal(theirs.info.isLoggedIn, true)
  assert.equal((await theirs.fetch(css.privateResource)).status, 200)
  await theirs.logout()
})

test('a second restore uses the stored access token and sends nothing to the provider', async () => {
  const storage = await storedByReference('r-2')
  await getSessionFromStorage('r-2', { storage })
  const sent = requests()
  const again = await getSessionFromStorage('r-2', { storage })
  assert.equal(requests() - sent, 0)
  assert.equal(again.info.isLoggedIn, true)
  assert.equal((await again.fetch(css.privateResource)).status, 200)
})

test('twenty concurrent restores of one session send one token request and all log in', async () => {
  const storage = await storedByReference('r-3')
  await getSessionFromStorage('r-3', { storage }) // discovery and keys are cached from here on
  const stored = record(storage, 'r-3')
  storage.map.set(RECORD_PREFIX + 'r-3', JSON.stringify({ ...stored, accessTokenExpiresAt: '0' }))
  const sent = requests()
  const sessions = await Promise.all(Array.from({ length: 20 }, () => getSessionFromStorage('r-3', { storage })))
  assert.equal(requests() - sent, 1)
  assert.ok(sessions.every((s) => s.info.isLoggedIn && s.info.webId === css.webId))
  assert.equal((await sessions[19].fetch(css.privateResource)).status, 200)
})

test('refreshSession refreshes even while the stored access token is good', async () => {
  const storage = await storedByReference('r-4')
  const session = await getSessionFromStorage('r-4', { storage })
  const firstToken = record(storage, 'r-4').accessToken
  const announced = []
  session.events.on('newTokens', (tokens) => announced.push(tokens))
  const sent = requests()
  await refreshSession(session, { storage })
  assert.equal(requests() - sent, 1)
  assert.notEqual(record(storage, 'r-4').accessToken, firstToken)
  assert.equal(announced.length, 1, 'newTokens fires after a refreshSession that refreshed')
  assert.equal(announced[0].accessToken, record(storage, 'r-4').accessToken)
  assert.equal((await session.fetch(css.privateResource)).status, 200)
})

test('a refused refresh rejects with a typed error and leaves the record byte for byte as it was', async () => {
  const storage = await storedByReference('r-5')
  const key = RECORD_PREFIX + 'r-5'
  storage.map.set(key, JSON.stringify({ ...record(storage, 'r-5'), refreshToken: 'NOT-A-VALID-REFRESH-TOKEN' }))
  const before = storage.map.get(key)
  const e = await rejection(getSessionFromStorage('r-5', { storage }))
  assert.ok(e instanceof OAuthError, String(e))
  assert.equal(e.code, 'ERR_OAUTH_INVALID_GRANT')
  assert.ok(!e.message.includes('NOT-A-VALID'))
  assert.equal(storage.map.get(key), before)
  // Without refreshing, it still loads.
  assert.equal((await getSessionFromStorage('r-5', { storage, refreshSession: false })).info.isLoggedIn, false)
})

test('login({ refreshToken, clientId, clientSecret, oidcIssuer }) logs in with a refresh token the app holds', async () => {
  const stored = await storedByReference('r-6')
  const { refreshToken, clientId, clientSecret } = record(stored, 'r-6')
  const storage = asyncMapStorage()
  const session = new lib.Session({ storage }, 'rt-login')
  const events = []
  session.events.on('login', () => events.push('login'))
  session.events.on('newRefreshToken', (t) => events.push(t === refreshToken ? 'same refresh token' : 'rotated'))
  await session.login({ oidcIssuer: css.issuer, clientId, clientSecret, refreshToken })
  assert.equal(session.info.isLoggedIn, true)
  assert.equal(session.info.webId, css.webId)
  assert.deepEqual(events, ['same refresh token', 'login'])
  assert.equal((await session.fetch(css.privateResource)).status, 200)
  const mine = record(storage, 'rt-login')
  assert.equal(mine.issuer, css.issuer)
  assert.equal(mine.refreshToken, refreshToken)
  // Restorable from there, through the stored token.
  assert.equal((await getSessionFromStorage('rt-login', { storage })).info.isLoggedIn, true)

  // A refresh token the provider refuses is not stored, and does not replace the one stored.
  const e = await rejection(new lib.Session({ storage }, 'rt-login').login({ oidcIssuer: css.issuer, clientId, clientSecret, refreshToken: 'BAD-REFRESH-TOKEN' }))
  assert.equal(e.code, 'ERR_OAUTH_INVALID_GRANT')
  assert.equal(record(storage, 'rt-login').refreshToken, refreshToken)
})

test("a session the reference's own refresh-token login stored is restored and used by us", async () => {
  const source = await storedByReference('r-7')
  const { refreshToken, clientId, clientSecret } = record(source, 'r-7')
  const reference = await import('@inrupt/solid-client-authn-node')
  const storage = asyncMapStorage()
  const theirs = new reference.Session({ storage }, 'ref-rt')
  await theirs.login({ oidcIssuer: css.issuer, clientId, clientSecret, refreshToken })
  assert.equal(theirs.info.isLoggedIn, true)
  // Its logout clears storage; keep what it stored, stop its timers, put it back.
  const stored = new Map(storage.map)
  await theirs.logout()
  for (const [k, v] of stored) storage.map.set(k, v)
  // The reference stored no DPoP key for this login (it made one and forgot it): we make one
  // and keep it.
  assert.equal(record(storage, 'ref-rt').privateKey, undefined)
  const ours = await getSessionFromStorage('ref-rt', { storage })
  assert.equal(ours.info.isLoggedIn, true)
  assert.equal(ours.info.webId, css.webId)
  assert.equal((await ours.fetch(css.privateResource)).status, 200)
  assert.ok(record(storage, 'ref-rt').privateKey, 'the new key is stored')
})

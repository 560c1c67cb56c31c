'use strict'
// How many calls a restore makes into the native binding. Each is a crossing of the JS/native
// boundary; a restore from a JS storage with a good stored access token takes at most 3
// (issue 14): the start, which returns the first batch of storage calls, and the resume that
// returns the restored session. HTTP requests are sent by the native side, never by JS. Calls
// are counted, not timed.
const test = require('node:test')
const assert = require('node:assert/strict')
const { generateKeyPairSync } = require('node:crypto')
const binding = require('../binding.js')
const lib = require('..')
const { countNativeCalls } = require('./support/native-calls.js')
const { startFakeIdp } = require('./support/fake-idp.js')
const { RECORD_PREFIX, asyncMapStorage } = require('./helpers.js')

const WEB_ID = 'https://alice.example/profile/card#me'

/** A logged-in session's record holding a DPoP-bound access token with an hour to live. */
function recordWithAccessToken() {
  // The JWK from the generator: exporting a KeyObject just generated can deadlock Node 20 (support/fake-idp.js, p256).
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } }).privateKey
  const { kty, crv, x, y, d } = jwk
  return JSON.stringify({
    clientId: 'https://app.example/id',
    clientType: 'solid-oidc',
    issuer: 'https://idp.example/',
    redirectUrl: 'https://app.example/cb',
    dpop: 'true',
    keepAlive: 'true',
    refreshToken: 'a-refresh-token',
    webId: WEB_ID,
    // As this package marks a login whose WebID it verified: a restore checks no profile then.
    webIdVerifiedIssuer: 'https://idp.example/',
    isLoggedIn: 'true',
    publicKey: JSON.stringify({ kty, crv, x, y, alg: 'ES256' }),
    privateKey: JSON.stringify({ kty, crv, x, y, d }),
    accessToken: 'an-access-token',
    accessTokenType: 'DPoP',
    accessTokenIssuedAt: String(Date.now()),
    accessTokenExpiresAt: String(Date.now() + 3_600_000),
  })
}

/** The native calls `action` makes, by name, and what it resolved with. */
async function counted(action) {
  const counter = countNativeCalls(binding)
  try {
    const value = await action()
    return { calls: counter.total, byName: counter.byName(), value }
  } finally {
    counter.stop()
  }
}

/** Restores `id` twice (the first makes the storage's native handle) and counts the second. */
async function countedRestore(id, storage, options = {}) {
  await lib.getSessionFromStorage(id, { storage, ...options })
  return counted(() => lib.getSessionFromStorage(id, { storage, ...options }))
}

test('a restore from a JS storage with a good stored access token makes at most 3 native calls', async () => {
  const storage = asyncMapStorage([[`${RECORD_PREFIX}n-1`, recordWithAccessToken()]])
  const { calls, byName, value: session } = await countedRestore('n-1', storage)
  assert.equal(session.info.isLoggedIn, true)
  assert.equal(session.info.webId, WEB_ID)
  assert.ok(session.info.expirationDate > Date.now())
  assert.ok(calls <= 3, `${calls} native calls: ${JSON.stringify(byName)}`)
  assert.equal(binding.runningOperations(), 0)
})

test('a restore from InMemoryStorage makes one native call, and one without refreshing from a JS storage two', async () => {
  const memory = new lib.InMemoryStorage()
  await memory.set(`${RECORD_PREFIX}n-2`, recordWithAccessToken())
  const fromMemory = await countedRestore('n-2', memory)
  assert.equal(fromMemory.value.info.isLoggedIn, true)
  assert.ok(fromMemory.calls <= 1, `${fromMemory.calls} native calls: ${JSON.stringify(fromMemory.byName)}`)

  const storage = asyncMapStorage([[`${RECORD_PREFIX}n-3`, recordWithAccessToken()]])
  const loaded = await countedRestore('n-3', storage, { refreshSession: false })
  assert.equal(loaded.value.info.webId, WEB_ID)
  assert.ok(loaded.calls <= 2, `${loaded.calls} native calls: ${JSON.stringify(loaded.byName)}`)
})

test('a refreshing restore sends its request from the native side: JS only starts and resumes the operation', async () => {
  const idp = await startFakeIdp()
  idp.answer('normal')
  try {
    for (const storage of [asyncMapStorage(), new lib.InMemoryStorage()]) {
      const session = new lib.Session({ storage }, 'n-4')
      await session.login({ oidcIssuer: idp.issuer, clientId: 'a-client', refreshToken: 'a-refresh-token' })
      const key = `${RECORD_PREFIX}n-4`
      const expire = async () => {
        const record = JSON.parse(await storage.get(key))
        await storage.set(key, JSON.stringify({ ...record, accessTokenExpiresAt: '0' }))
      }
      // The first refreshing restore also fetches the provider's keys, which are cached after it.
      await expire()
      await lib.getSessionFromStorage('n-4', { storage })
      await expire()
      const sent = binding.httpRequestsSent()
      const { byName, value: restored } = await counted(() => lib.getSessionFromStorage('n-4', { storage }))
      assert.equal(restored.info.isLoggedIn, true)
      assert.equal(binding.httpRequestsSent() - sent, 1, 'one token request')
      assert.deepEqual(Object.keys(byName).sort(), ['restoreSession', 'resumeOperation'], JSON.stringify(byName))
      // On the native store, the token request is the only thing the operation waits for.
      if (storage instanceof lib.InMemoryStorage) assert.equal(byName.resumeOperation, 1)
      await session.logout()
    }
  } finally {
    await idp.close()
  }
})

test('the requests a batch holds are told from storage calls even when an app replaced globalThis.Promise', async () => {
  const idp = await startFakeIdp()
  idp.answer('normal')
  const original = globalThis.Promise
  globalThis.Promise = class AppPromise extends original {}
  try {
    const storage = asyncMapStorage()
    const session = new lib.Session({ storage }, 'n-5')
    await session.login({ oidcIssuer: idp.issuer, clientId: 'a-client', refreshToken: 'a-refresh-token' })
    assert.equal(session.info.isLoggedIn, true)
    assert.ok(
      storage.calls.every(([, key]) => typeof key === 'string' && !key.includes('://token')),
      JSON.stringify(storage.calls),
    )
  } finally {
    globalThis.Promise = original
    await idp.close()
  }
})

'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const {
  InMemoryStorage,
  Session,
  IdentityProviderError,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
  refreshSession,
} = require('..')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, loggedInRecord, seed, rejection } = require('./helpers.js')

// No test here may talk to an identity provider. The records name a local one that answers
// nothing useful and notes every request it gets; after each test it must have got none.
const idp = { url: undefined, requests: [], server: undefined }
test.before(async () => {
  idp.server = http.createServer((req, res) => {
    idp.requests.push(`${req.method} ${req.url}`)
    res.writeHead(503).end()
  })
  await new Promise((resolve) => idp.server.listen(0, '127.0.0.1', resolve))
  idp.url = `http://127.0.0.1:${idp.server.address().port}/`
})
test.after(() => {
  idp.server.closeAllConnections()
  idp.server.close()
})
test.afterEach(() => {
  assert.deepEqual(idp.requests, [], 'a request reached the identity provider')
})

// Without the helper's made-up key material, which is not a usable key (see the test below).
const record = (overrides) => loggedInRecord({ issuer: idp.url, publicKey: undefined, privateKey: undefined, ...overrides })

/** The requests a test expected the identity provider to get, taken off its log. */
function expectRequests(expected) {
  assert.deepEqual(idp.requests, expected)
  idp.requests.length = 0
}
const DISCOVERY = 'GET /.well-known/openid-configuration'
const noRefreshToken = (overrides) => record({ refreshToken: undefined, ...overrides })

test('no session ID yet (undefined or null) resolves undefined, as the reference does; other non-strings are a TypeError', async () => {
  const storage = asyncMapStorage()
  assert.equal(await getSessionFromStorage(undefined, { storage }), undefined)
  assert.equal(await getSessionFromStorage(null, storage), undefined)
  assert.equal(await getSessionFromStorage(undefined), undefined)
  assert.deepEqual(storage.calls, [], 'nothing read')
  for (const id of [42, {}, true]) {
    const e = await rejection(getSessionFromStorage(id, { storage }))
    assert.ok(e instanceof TypeError, String(e))
    assert.equal(e.code, 'ERR_INVALID_ARG_TYPE')
  }
})

test('a storage that is not an IStorage is refused with a TypeError that says what it lacks', async () => {
  const e = await rejection(getSessionFromStorage('x', { storage: { get() {}, set() {} } }))
  assert.ok(e instanceof TypeError)
  assert.match(e.message, /IStorage.*; it has no delete function$/)
  const list = await rejection(getSessionIdFromStorageAll({ get() {} }))
  assert.match(list.message, /; it has no set, no delete function$/)
  assert.throws(() => new Session({ storage: 'redis://localhost' }), /; it is a string$/)
})

test('a storage whose get answers null for a missing key (node-redis) reads as empty', async () => {
  const inner = asyncMapStorage()
  const storage = { get: async (key) => (await inner.get(key)) ?? null, set: (k, v) => inner.set(k, v), delete: async (k) => Number(await inner.delete(k)) }
  assert.equal(await getSessionFromStorage('nobody', { storage }), undefined)
  assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
  await clearSessionFromStorageAll(storage)
})

test('restores info from the stored record, in the reference shape', async () => {
  for (const storage of [new InMemoryStorage(), asyncMapStorage()]) {
    await seed(storage, { a: noRefreshToken({ clientAppId: 'https://app.example/id' }) })
    const session = await getSessionFromStorage('a', storage)
    assert.ok(session instanceof Session)
    assert.deepEqual(Object.entries(session.info), [
      ['sessionId', 'a'],
      ['isLoggedIn', false],
      ['webId', 'https://alice.example/profile/card#me'],
      ['clientAppId', 'https://app.example/id'],
    ])
    assert.equal(await getSessionFromStorage('unknown', storage), undefined)
  }
})

test('a record without issuer (client credentials) is not a restorable session', async () => {
  const storage = new InMemoryStorage()
  await seed(storage, { 's-1': { clientId: 'app-7', clientType: 'static', clientSecret: 'sec', clientName: 'app-7' } })
  assert.equal(await getSessionFromStorage('s-1', storage), undefined)
  assert.deepEqual(await getSessionIdFromStorageAll(storage), ['s-1'])
})

test('positional form: (id, storage, onNewRefreshToken), also with InMemoryStorage', async () => {
  for (const storage of [new InMemoryStorage(), asyncMapStorage()]) {
    await seed(storage, { p: noRefreshToken() })
    const callback = () => {}
    const session = await getSessionFromStorage('p', storage, callback)
    assert.equal(session.info.sessionId, 'p', 'the storage argument is used, not the default storage')
    assert.deepEqual(session.events.listeners('newRefreshToken'), [callback])
  }
})

test('options form, with refreshSession and its alias refresh', async () => {
  const storage = asyncMapStorage()
  await seed(storage, { o: record() })
  const callback = () => {}
  const byOption = await getSessionFromStorage('o', { storage, onNewRefreshToken: callback, refreshSession: false })
  assert.equal(byOption.info.isLoggedIn, false)
  assert.deepEqual(byOption.events.listeners('newRefreshToken'), [callback])
  const byAlias = await getSessionFromStorage('o', { storage, refresh: false })
  assert.equal(byAlias.info.webId, 'https://alice.example/profile/card#me')
  // refreshSession wins over the alias: this one refreshes (and the provider is down).
  const error = await rejection(getSessionFromStorage('o', { storage, refreshSession: true, refresh: false }))
  assert.ok(error instanceof IdentityProviderError, String(error))
  expectRequests([DISCOVERY])
})

test('a refresh the provider cannot serve rejects with a typed error and changes nothing', async () => {
  const storage = new InMemoryStorage()
  await seed(storage, { r: record() })
  const before = await storage.get(RECORD_PREFIX + 'r')
  const error = await rejection(getSessionFromStorage('r', storage))
  assert.ok(error instanceof IdentityProviderError, String(error))
  assert.equal(error.code, 'ERR_IDP_RESPONSE')
  assert.match(error.message, /discovery answered HTTP 503/)
  assert.ok(!error.message.includes('SECRET'))
  assert.equal(await storage.get(RECORD_PREFIX + 'r'), before)
  expectRequests([DISCOVERY])
  // Without a refresh token, nothing to refresh: it resolves without I/O.
  await seed(storage, { n: noRefreshToken() })
  assert.equal((await getSessionFromStorage('n', storage)).info.sessionId, 'n')
})

test('the default storage is used when none is given, by every function', async () => {
  await clearSessionFromStorageAll()
  const session = new Session({}, 'default-1')
  await session.logout()
  assert.deepEqual(await getSessionIdFromStorageAll(), [])
  await clearSessionFromStorageAll()
  assert.equal(await getSessionFromStorage('default-1'), undefined)
  assert.equal(await getSessionFromStorage('default-1', undefined, undefined), undefined)
  assert.equal(await getSessionFromStorage('default-1', {}), undefined)
})

test('bad arguments reject with TypeError, never throw synchronously', async () => {
  const calls = [
    () => getSessionFromStorage(42),
    () => getSessionFromStorage('a', 'not a storage'),
    () => getSessionFromStorage('a', { storage: { get() {} } }),
    () => getSessionFromStorage('a', { onNewRefreshToken: 'nope' }),
    () => getSessionFromStorage('a', { refreshSession: 'yes' }),
    () => refreshSession({}),
  ]
  for (const call of calls) {
    const promise = call()
    assert.ok(promise instanceof Promise)
    assert.ok((await rejection(promise)) instanceof TypeError)
  }
})

test('clearSessionFromStorageAll empties the list, deletes records and their state mappings', async () => {
  for (const storage of [new InMemoryStorage(), asyncMapStorage()]) {
    await seed(storage, {
      a: noRefreshToken({ authorizationStates: JSON.stringify(['st-tracked']) }),
      b: noRefreshToken(),
    })
    await storage.set(RECORD_PREFIX + 'st-tracked', JSON.stringify({ sessionId: 'a' }))
    await storage.set(RECORD_PREFIX + 'st-untracked', JSON.stringify({ sessionId: 'b' }))
    await storage.set(RECORD_PREFIX + 'st-other', JSON.stringify({ sessionId: 'zzz' }))
    await storage.set('issuerConfig:https://idp.example/', '{}')
    await clearSessionFromStorageAll(storage)
    assert.equal(await storage.get(LIST_KEY), '[]')
    assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
    assert.equal(await storage.get(RECORD_PREFIX + 'a'), undefined)
    assert.equal(await storage.get(RECORD_PREFIX + 'b'), undefined)
    assert.equal(await storage.get(RECORD_PREFIX + 'st-tracked'), undefined)
    assert.equal(await storage.get(RECORD_PREFIX + 'st-other'), JSON.stringify({ sessionId: 'zzz' }))
    assert.equal(await storage.get('issuerConfig:https://idp.example/'), '{}')
    // A JS storage cannot list keys, so an untracked mapping is only found in the native store.
    const untracked = await storage.get(RECORD_PREFIX + 'st-untracked')
    assert.equal(untracked, storage instanceof InMemoryStorage ? undefined : JSON.stringify({ sessionId: 'b' }))
  }
})

test('clearSessionFromStorageAll without a list leaves storage alone', async () => {
  const storage = asyncMapStorage([[RECORD_PREFIX + 'x', '{}']])
  await clearSessionFromStorageAll(storage)
  assert.deepEqual(storage.calls, [['get', LIST_KEY]])
})

test('a stored DPoP key that is not usable is corrupted data, said without quoting it', async () => {
  const storage = asyncMapStorage()
  await seed(storage, { k: loggedInRecord({ issuer: idp.url }) })
  const error = await rejection(getSessionFromStorage('k', storage))
  assert.equal(error.name, 'StorageCorruptedError')
  assert.equal(error.key, RECORD_PREFIX + 'k')
  assert.match(error.message, /the stored DPoP privateKey is not usable/)
  assert.ok(!error.message.includes('SECRET'))
})

test('refreshSession reads the stored record and does nothing without a refresh token', async () => {
  const storage = new InMemoryStorage()
  await seed(storage, { q: noRefreshToken(), r: record() })
  const session = await getSessionFromStorage('q', { storage, refreshSession: false })
  assert.equal(await refreshSession(session, { storage }), undefined)
  const withToken = await getSessionFromStorage('r', { storage, refreshSession: false })
  assert.ok((await rejection(refreshSession(withToken, { storage }))) instanceof IdentityProviderError)
  expectRequests([DISCOVERY])
})

test('restoring reads the record once', async () => {
  const storage = asyncMapStorage()
  await seed(storage, { a: noRefreshToken() })
  storage.calls.length = 0
  await getSessionFromStorage('a', { storage, refreshSession: false })
  assert.deepEqual(storage.calls, [['get', RECORD_PREFIX + 'a']])
})

test('listing hands out a fresh array each time and follows changes to the stored list', async () => {
  for (const storage of [new InMemoryStorage(), asyncMapStorage()]) {
    await storage.set(LIST_KEY, JSON.stringify(['a', 'b']))
    const first = await getSessionIdFromStorageAll(storage)
    first.push('mutated')
    assert.deepEqual(await getSessionIdFromStorageAll(storage), ['a', 'b'])
    await storage.set(LIST_KEY, JSON.stringify(['c']))
    assert.deepEqual(await getSessionIdFromStorageAll(storage), ['c'])
    await storage.set(LIST_KEY, '["c", 1]')
    await assert.rejects(getSessionIdFromStorageAll(storage), { code: 'ERR_STORAGE_CORRUPTED', message: /item 1 is a number/ })
    await storage.delete(LIST_KEY)
    assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
    await storage.set(LIST_KEY, JSON.stringify(['c']))
    assert.deepEqual(await getSessionIdFromStorageAll(storage), ['c'])
  }
})

test('a list changed by logins and logouts between calls is handed out as stored, however the calls overlap', async () => {
  for (const storage of [new InMemoryStorage(), asyncMapStorage()]) {
    const ids = Array.from({ length: 300 }, (_, i) => `id-${i}`)
    const stored = async () => {
      await storage.set(LIST_KEY, JSON.stringify(ids))
      return ids.slice()
    }
    assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
    for (let i = 0; i < 200; i++) {
      if (i % 3 === 0) ids.push(`new-${i}`, 'with "quotes" \\ and \ud800 é')
      else ids.splice((i * 37) % ids.length, 1 + (i % 2))
      const expected = await stored()
      const listed = await getSessionIdFromStorageAll(storage)
      assert.deepEqual(listed, expected)
      listed.splice(0, 5, 'mutated')
    }
    // Two calls at once, the list changed between them and after.
    ids.splice(10, 3)
    await stored()
    const both = [getSessionIdFromStorageAll(storage), getSessionIdFromStorageAll(storage)]
    ids.push('late')
    const late = await stored()
    const early = late.slice(0, -1)
    const [a, b] = await Promise.all(both)
    for (const got of [a, b]) assert.ok(JSON.stringify(got) === JSON.stringify(early) || JSON.stringify(got) === JSON.stringify(late))
    assert.deepEqual(await getSessionIdFromStorageAll(storage), late)
    // A changed list that is corrupted is an error, and the next good one is read whole.
    await storage.set(LIST_KEY, JSON.stringify(late).replace(/]$/, ',7]'))
    await assert.rejects(getSessionIdFromStorageAll(storage), { code: 'ERR_STORAGE_CORRUPTED', message: /item \d+ is a number/ })
    const fixed = await stored()
    assert.deepEqual(await getSessionIdFromStorageAll(storage), fixed)
  }
})

test('a restore reads the record once, and uses a stored access token without the provider', async () => {
  const { privateJwk } = require('./support/fake-idp.js').p256()
  const { kty, crv, x, y, d } = privateJwk
  const storage = asyncMapStorage()
  await seed(storage, {
    t: record({
      refreshToken: 'SECRET-RT',
      publicKey: JSON.stringify({ kty, crv, x, y, alg: 'ES256' }),
      privateKey: JSON.stringify({ kty, crv, x, y, d }),
      accessToken: 'SECRET-AT',
      accessTokenType: 'DPoP',
      accessTokenExpiresAt: String(Date.now() + 3_600_000),
    }),
    n: noRefreshToken(),
  })
  storage.calls.length = 0
  const session = await getSessionFromStorage('t', { storage })
  assert.equal(session.info.isLoggedIn, true)
  assert.deepEqual(storage.calls, [['get', RECORD_PREFIX + 't']])
  // Nothing to log it in with: it loads logged out, with one read too.
  storage.calls.length = 0
  assert.equal((await getSessionFromStorage('n', { storage })).info.isLoggedIn, false)
  assert.deepEqual(storage.calls, [['get', RECORD_PREFIX + 'n']])
})

test('logout asks the provider for nothing when there is no refresh token to revoke', async () => {
  const storage = asyncMapStorage()
  await seed(storage, { n: noRefreshToken(), r: record() })
  await new Session({ storage }, 'n').logout()
  assert.deepEqual(idp.requests, [])
  // With one, it looks for the revocation endpoint (this provider is down): the logout still succeeds.
  await new Session({ storage }, 'r').logout()
  expectRequests([DISCOVERY])
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), [])
})

'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const {
  InMemoryStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
  getSessionFromStorage,
  Session,
  StorageError,
  StorageCorruptedError,
  setStorageTimeout,
} = require('..')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, loggedInRecord, seed, rejection } = require('./helpers.js')

test('InMemoryStorage is an IStorage with Promise-returning methods', async () => {
  const s = new InMemoryStorage()
  assert.ok(s.get('k') instanceof Promise)
  assert.equal(await s.get('k'), undefined)
  assert.equal(await s.set('k', 'v'), undefined)
  assert.equal(await s.get('k'), 'v')
  await s.delete('k')
  assert.equal(await s.get('k'), undefined)
  // Unlike the reference's, an empty string reads back as stored (divergence 19 in docs/divergences.md).
  await s.set('empty', '')
  assert.equal(await s.get('empty'), '')
  const other = new InMemoryStorage()
  await s.set('k', 'one')
  assert.equal(await other.get('k'), undefined, 'instances are separate')
})

test('a subclass that overrides a method is called through its own method', async () => {
  const seen = []
  class Logged extends InMemoryStorage {
    async get(key) {
      seen.push(key)
      return super.get(key)
    }
  }
  const s = new Logged()
  await seed(s, { a: loggedInRecord() })
  assert.deepEqual(await getSessionIdFromStorageAll(s), ['a'])
  assert.deepEqual(seen, [LIST_KEY])
})

test('JS storages: async, sync, and class-based with private state (this is kept)', async () => {
  const syncMap = new Map()
  const sync = {
    get: (k) => syncMap.get(k),
    set: (k, v) => syncMap.set(k, v),
    delete: (k) => syncMap.delete(k),
  }
  class ClassStorage {
    #m = new Map()
    async get(k) {
      return this.#m.get(k)
    }
    async set(k, v) {
      this.#m.set(k, v)
    }
    async delete(k) {
      this.#m.delete(k)
    }
  }
  for (const storage of [asyncMapStorage(), sync, new ClassStorage()]) {
    await seed(storage, { a: loggedInRecord(), b: loggedInRecord({ webId: 'https://bob.example/#me' }) })
    assert.deepEqual(await getSessionIdFromStorageAll(storage), ['a', 'b'])
    const session = await getSessionFromStorage('b', { storage, refreshSession: false })
    assert.equal(session.info.webId, 'https://bob.example/#me')
    await clearSessionFromStorageAll(storage)
    assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
    assert.equal(await storage.get(RECORD_PREFIX + 'a'), undefined)
  }
})

test('null from get counts as absent (Redis clients answer null)', async () => {
  const storage = { get: async () => null, set: async () => {}, delete: async () => {} }
  assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
  assert.equal(await getSessionFromStorage('x', storage), undefined)
})

test('storage failures reject with a StorageError that says what failed', async () => {
  const cases = [
    [() => { throw new Error('sync boom') }, 'it threw an Error'],
    [async () => { throw new TypeError('disk full') }, 'it rejected with a TypeError'],
    [() => Promise.reject('plain string'), 'it rejected with a string'],
    [() => { throw 42 }, 'it threw a number'],
    [() => { throw { secret: 1 } }, 'it threw a non-Error object'],
  ]
  for (const [get, expected] of cases) {
    const storage = { get, set: async () => {}, delete: async () => {} }
    const error = await rejection(getSessionIdFromStorageAll(storage))
    assert.ok(error instanceof StorageError, String(error))
    assert.equal(error.code, 'ERR_STORAGE_FAILED')
    assert.equal(error.message, `storage.get("${LIST_KEY}") failed: ${expected} (kept as this error's cause)`)
    assert.equal(error.key, LIST_KEY)
  }
  const original = new RangeError('original')
  const error = await rejection(getSessionIdFromStorageAll({ get: () => { throw original }, set() {}, delete() {} }))
  assert.equal(error.cause, original, 'the storage error is kept as the cause')
})

test("a storage's own message, which may quote the value it was given, is only in the cause", async () => {
  // A store that rejects a write and quotes the value in its message (as a database driver might).
  const inner = asyncMapStorage()
  const quoting = {
    ...inner,
    async set(key, value) {
      if (key.startsWith(RECORD_PREFIX)) throw new Error(`cannot write ${key}=${value}: quota exceeded`)
      return inner.set(key, value)
    },
  }
  const { execFile } = require('node:child_process')
  const secret = 'SECRET-CLIENT-SECRET-quoted'
  const session = new Session({ storage: quoting }, 'q')
  const error = await rejection(session.login({ oidcIssuer: 'https://idp.invalid/', clientId: 'c', clientSecret: secret }))
  assert.ok(error instanceof StorageError, String(error))
  assert.equal(error.code, 'ERR_STORAGE_FAILED')
  assert.equal(error.message, "storage.set(<a session record or login state>) failed: it rejected with an Error (kept as this error's cause)")
  assert.ok(error.cause instanceof Error)
  assert.match(error.cause.message, new RegExp(secret), 'the cause is the storage\'s own error, as it was')
  assert.ok(!String(error.stack).includes(secret))
  assert.ok(!require('node:util').inspect(error, { depth: 0 }).split('[cause]')[0].includes(secret))

  // And the debug log says the same, without the storage's message.
  const script = `
    const lib = require(${JSON.stringify(require.resolve('..'))})
    const map = new Map()
    const storage = {
      get: async (k) => map.get(k),
      set: async (k, v) => { if (k.startsWith('${RECORD_PREFIX}')) throw new Error('cannot write ' + k + '=' + v); map.set(k, v) },
      delete: async (k) => { map.delete(k) },
    }
    new lib.Session({ storage }, 'q').login({ oidcIssuer: 'https://idp.invalid/', clientId: 'c', clientSecret: '${secret}' }).catch(() => {})
  `
  const stderr = await new Promise((resolve, reject) =>
    execFile(process.execPath, ['-e', script], { env: { ...process.env, NODE_DEBUG: 'solid-client-authn-native' }, timeout: 20_000 }, (e, _out, err) =>
      e ? reject(new Error(err || e.message)) : resolve(err),
    ),
  )
  assert.match(stderr, /storage\.set\(<a session record or login state>\) failed: it rejected with an Error/)
  assert.ok(!stderr.includes('solidClientAuthenticationUser:q'), 'the debug log names a session record by its kind, never by its key')
  assert.ok(!stderr.includes(secret), stderr)
})

test('a get that answers a non-string rejects with the type it got', async () => {
  const storage = { get: async () => 123, set: async () => {}, delete: async () => {} }
  const error = await rejection(getSessionIdFromStorageAll(storage))
  assert.ok(error instanceof StorageError)
  assert.match(error.message, /answered with a number, expected a string or undefined/)
})

test('a storage call that never settles rejects after the configured limit', async (t) => {
  setStorageTimeout(50)
  // The timeout timer does not hold the event loop open; a server would. Stand in for one.
  const keepAlive = setInterval(() => {}, 1000)
  t.after(() => {
    setStorageTimeout(10_000)
    clearInterval(keepAlive)
  })
  const storage = { get: () => new Promise(() => {}), set: async () => {}, delete: async () => {} }
  const started = Date.now()
  const error = await rejection(getSessionFromStorage('s', { storage, refreshSession: false }))
  assert.ok(error instanceof StorageError)
  assert.equal(error.code, 'ERR_STORAGE_TIMEOUT')
  assert.equal(error.message, 'storage.get(<a session record or login state>) did not settle within 50 ms')
  assert.ok(Date.now() - started >= 45)
  assert.throws(() => setStorageTimeout(-1), TypeError)
})

test('a storage error about a session record names it by its kind: neither its message nor util.inspect shows the session ID, and `key` is the key', async (t) => {
  setStorageTimeout(50)
  const keepAlive = setInterval(() => {}, 1000)
  t.after(() => {
    setStorageTimeout(10_000)
    clearInterval(keepAlive)
  })
  // The session ID is what a web app keeps in its users' cookies.
  const sessionId = 'cookie-7c2f9e41-session-id'
  const { inspect } = require('node:util')
  const hanging = { get: () => new Promise(() => {}), set: async () => {}, delete: async () => {} }
  const failing = { get: async () => { throw new Error('the storage is down') }, set: async () => {}, delete: async () => {} }
  for (const [storage, code, message] of [
    [hanging, 'ERR_STORAGE_TIMEOUT', 'storage.get(<a session record or login state>) did not settle within 50 ms'],
    [failing, 'ERR_STORAGE_FAILED', "storage.get(<a session record or login state>) failed: it rejected with an Error (kept as this error's cause)"],
  ]) {
    const error = await rejection(getSessionFromStorage(sessionId, { storage, refreshSession: false }))
    assert.ok(error instanceof StorageError, String(error))
    assert.equal(error.code, code)
    assert.equal(error.message, message)
    assert.equal(error.key, RECORD_PREFIX + sessionId)
    assert.ok(!Object.keys(error).includes('key'), 'key is not enumerable')
    for (const shown of [inspect(error), inspect(error, { depth: Infinity, showHidden: false }), String(error.stack)]) {
      assert.ok(!shown.includes(sessionId), shown)
    }
  }
})

test('corrupted data rejects with StorageCorruptedError naming the key, never echoing the value', async () => {
  const secret = 'SECRET-REFRESH-TOKEN'
  const cases = [
    [LIST_KEY, `{"refreshToken":"${secret}"`, () => getSessionIdFromStorageAll(storage), /not valid JSON/],
    [LIST_KEY, JSON.stringify({ secret }), () => getSessionIdFromStorageAll(storage), /it is an object, expected a JSON array/],
    [LIST_KEY, JSON.stringify(['a', 7]), () => clearSessionFromStorageAll(storage), /item 1 is a number/],
    [RECORD_PREFIX + 's', `not json ${secret}`, () => getSessionFromStorage('s', { storage, refreshSession: false }), /not valid JSON/],
    [RECORD_PREFIX + 's', JSON.stringify([secret]), () => getSessionFromStorage('s', { storage, refreshSession: false }), /it is an array/],
    [RECORD_PREFIX + 's', JSON.stringify({ issuer: 'https://i/', webId: 5, refreshToken: secret }), () => getSessionFromStorage('s', { storage, refreshSession: false }), /field "webId" is a number, expected a string/],
  ]
  var storage
  for (const [key, value, call, pattern] of cases) {
    for (storage of [asyncMapStorage(), new InMemoryStorage()]) {
      await storage.set(key, value)
      const error = await rejection(call())
      assert.ok(error instanceof StorageCorruptedError, String(error))
      assert.equal(error.code, 'ERR_STORAGE_CORRUPTED')
      assert.ok(error.message.includes(key === LIST_KEY ? `"${key}"` : '<a session record or login state>'), error.message)
      assert.equal(error.key, key)
      assert.match(error.message, pattern)
      assert.ok(!error.message.includes(secret))
      assert.ok(!String(error.stack).includes(secret))
    }
  }
})

test('concurrent logouts on a slow storage lose no update to the session list', async () => {
  const storage = asyncMapStorage()
  const slow = { ...storage }
  for (const m of ['get', 'set', 'delete']) {
    slow[m] = async (...args) => {
      await new Promise((r) => setTimeout(r, Math.random() * 5))
      return storage[m](...args)
    }
  }
  const ids = Array.from({ length: 20 }, (_, i) => `s${i}`)
  await seed(storage, Object.fromEntries(ids.map((id) => [id, loggedInRecord()])))
  const sessions = ids.slice(0, 15).map((id) => new Session({ storage: slow }, id))
  await Promise.all(sessions.map((s) => s.logout()))
  assert.deepEqual(await getSessionIdFromStorageAll(storage), ids.slice(15))
})

test('clearing many sessions on a JS storage issues the calls in a few concurrent batches', async () => {
  const storage = asyncMapStorage()
  let inFlight = 0
  let maxInFlight = 0
  const tracked = { ...storage }
  for (const m of ['get', 'set', 'delete']) {
    tracked[m] = async (...args) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise((r) => setImmediate(r))
      inFlight--
      return storage[m](...args)
    }
  }
  const ids = Array.from({ length: 200 }, (_, i) => `s${i}`)
  await seed(storage, Object.fromEntries(ids.map((id) => [id, loggedInRecord()])))
  storage.calls.length = 0
  await clearSessionFromStorageAll(tracked)
  assert.ok(maxInFlight >= 200, `calls ran concurrently (max in flight ${maxInFlight})`)
  // The list is read once and written once; each record is read once and deleted once.
  assert.equal(storage.calls.filter(([m, k]) => k === LIST_KEY).length, 2)
  assert.equal(storage.calls.length, 2 + 200 * 2)
  assert.deepEqual([...storage.map.keys()], [LIST_KEY])
})

test('arguments that are not storages reject, never throw synchronously', async () => {
  for (const bad of [5, 'x', { get() {} }, { get() {}, set() {} }]) {
    const promise = getSessionIdFromStorageAll(bad)
    assert.ok(promise instanceof Promise)
    const error = await rejection(promise)
    assert.ok(error instanceof TypeError, String(error))
  }
  const p = clearSessionFromStorageAll(true)
  assert.ok((await rejection(p)) instanceof TypeError)
})

test('InMemoryStorage stores strings only; a timeout below 1 ms is refused', async () => {
  const s = new InMemoryStorage()
  await s.set('k', 'v')
  for (const value of [{ a: 1 }, 42, null, undefined]) {
    const e = await rejection(s.set('k', value))
    assert.ok(e instanceof TypeError, String(e))
    assert.match(e.message, /must be a string/)
  }
  assert.equal(await s.get('k'), 'v', 'a refused value changes nothing')

  for (const ms of [0.5, 0, -1, Number.NaN, '10']) assert.throws(() => setStorageTimeout(ms), TypeError)
  setStorageTimeout(1)
  setStorageTimeout(10_000)
})

test('a session ID that is not a string is refused (the reference takes anything)', () => {
  assert.throws(() => new Session({}, 42), { name: 'TypeError', message: /session ID must be a string/ })
})

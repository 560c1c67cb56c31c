'use strict'
// What an adversarial probe of the storage layer found (issue 5), one test per finding: lone
// surrogates, leaked locks, odd rejection values, re-entrant storages, memory held until GC,
// and the differences from the reference that were decided rather than fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const lib = require('..')
const binding = require('../binding.js')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, loggedInRecord, seed, rejection } = require('./helpers.js')

const { Session, InMemoryStorage, StorageError, StorageCorruptedError } = lib
const rec = (id) => RECORD_PREFIX + id

/** An async Map storage whose get can be swapped per key. */
function hookedStorage(entries, hooks = {}) {
  const storage = asyncMapStorage(entries)
  const plainGet = storage.get
  storage.get = function (key) {
    const hook = hooks[key]
    if (hook) {
      delete hooks[key]
      return hook.call(this, key)
    }
    return plainGet.call(this, key)
  }
  return storage
}

function within(ms, promise) {
  return Promise.race([
    promise.then(
      (value) => ({ value }),
      (error) => ({ error }),
    ),
    new Promise((resolve) => setTimeout(resolve, ms, { pending: true })).then((r) => r),
  ])
}

test.afterEach(() => {
  lib.setStorageTimeout(10_000)
  assert.equal(binding.runningOperations(), 0, 'every operation has ended and released its locks')
})

// 1. Lone surrogates

test('a session ID with an unpaired surrogate is refused before anything is read or written', async () => {
  const storage = asyncMapStorage([[rec('a\ufffd'), JSON.stringify(loggedInRecord({ webId: 'https://victim/' }))]])
  for (const id of ['a\ud800', 'a\udc00', '\udc00\ud800', 'x\ud83d']) {
    const e = await rejection(lib.getSessionFromStorage(id, { storage, refreshSession: false }))
    assert.ok(e instanceof TypeError, String(e))
    assert.match(e.message, /unpaired UTF-16 surrogate/)
    assert.throws(() => new Session({ storage }, id), TypeError)
  }
  // A session whose ID was changed afterwards refuses to log out rather than hit another record.
  const session = new Session({ storage }, 'fine')
  session.info.sessionId = 'a\udc00'
  assert.ok((await rejection(session.logout())) instanceof TypeError)
  assert.deepEqual(storage.calls, [])
  assert.ok(storage.map.has(rec('a\ufffd')), "the other session's record is untouched")
  // A well-formed pair is an ordinary character.
  await seed(storage, { 'p\ud83d\ude00': loggedInRecord() })
  assert.ok(await lib.getSessionFromStorage('p\ud83d\ude00', { storage, refreshSession: false }))
})

test('session lists keep IDs with unpaired surrogates exactly: listed, kept on logout, cleared by their own key', async () => {
  const storage = asyncMapStorage([
    [LIST_KEY, JSON.stringify(['ok', 'b\ud800', 'b\ufffd'])],
    [rec('ok'), JSON.stringify(loggedInRecord())],
    [rec('b\ud800'), JSON.stringify(loggedInRecord())],
    [rec('b\ufffd'), JSON.stringify(loggedInRecord())],
  ])
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['ok', 'b\ud800', 'b\ufffd'])
  await new Session({ storage }, 'b\ufffd').logout()
  await new Session({ storage }, 'ok').logout()
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), ['b\ud800'])
  assert.ok(storage.map.has(rec('b\ud800')))

  // The same list stored with raw (unescaped) surrogates reads the same.
  storage.map.set(LIST_KEY, '["c","b\ud800"]')
  storage.map.set(rec('c'), JSON.stringify(loggedInRecord()))
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['c', 'b\ud800'])
  await lib.clearSessionFromStorageAll(storage)
  assert.deepEqual([...storage.map.keys()], [LIST_KEY])
  assert.equal(storage.map.get(LIST_KEY), '[]')
})

test('the reference reads the lists we rewrite around such IDs', async () => {
  const reference = require('@inrupt/solid-client-authn-node')
  const storage = asyncMapStorage([[LIST_KEY, JSON.stringify(['x', 'y\udc00'])]])
  await new Session({ storage }, 'x').logout()
  assert.deepEqual(await reference.getSessionIdFromStorageAll(storage), ['y\udc00'])
})

test('InMemoryStorage never maps one key onto another', async () => {
  const mem = new InMemoryStorage()
  await mem.set('k\ufffd', 'replacement character')
  for (const bad of ['k\ud800', 'k\udc00']) {
    const e = await rejection(mem.set(bad, 'x'))
    assert.ok(e instanceof TypeError)
    assert.equal(await mem.get(bad), undefined)
    await mem.delete(bad)
  }
  const e = await rejection(mem.set('k', 'v\ud800'))
  assert.ok(e instanceof TypeError)
  assert.equal(e.code, 'ERR_INVALID_ARG_TYPE')
  assert.equal(e.message, 'An InMemoryStorage value holds an unpaired UTF-16 surrogate (at index 1), which this package does not support')
  // The reference stores what it is given; a non-string would come back as something else.
  for (const [value, kind] of [[1, 'a number'], [null, 'null'], [{}, 'an object'], [undefined, 'undefined']]) {
    const refused = await rejection(mem.set('k', value))
    assert.equal(refused.message, `An InMemoryStorage value must be a string, got ${kind}`)
    assert.equal(refused.code, 'ERR_INVALID_ARG_TYPE')
  }
  assert.equal(await mem.get('k\ufffd'), 'replacement character')
  assert.equal(await mem.get('k'), undefined)
})

test('a stored value with an unpaired surrogate is read as JSON reads it, or reported when it cannot be', async () => {
  // Raw inside a JSON string: the same JSON as the escape JSON.stringify writes.
  const storage = asyncMapStorage([[LIST_KEY, '["a\udc00"]']])
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['a\udc00'])
  // Right after a backslash it is not JSON, and escaping it would change the text's meaning.
  storage.map.set(LIST_KEY, '["a\\\ud800"]')
  const e = await rejection(lib.getSessionIdFromStorageAll(storage))
  assert.ok(e instanceof StorageCorruptedError, String(e))
  assert.equal(e.key, LIST_KEY)
  // After an escaped backslash it is fine again.
  storage.map.set(LIST_KEY, '["a\\\\\ud800"]')
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['a\\\ud800'])
  // A record whose field holds one is reported for what it is, not altered.
  storage.map.set(rec('r'), JSON.stringify(loggedInRecord({ webId: 'https://w/\udc00' })))
  const r = await rejection(lib.getSessionFromStorage('r', { storage, refreshSession: false }))
  assert.ok(r instanceof StorageCorruptedError)
  assert.match(r.message, /holds an unpaired UTF-16 surrogate .* which this package cannot represent/)
})

// 2. Locks are released whatever the storage does

test('a thenable whose then throws, or an Error with a non-string message, fails the call and releases the lock', async () => {
  const badAnswers = {
    'a thenable whose then throws': () => ({ then() { throw new Error('bad thenable') } }),
    'a then getter that throws': () => ({ get then() { throw new Error('bad getter') } }),
    'an Error whose message is a number': () => {
      const e = new Error('x')
      e.message = 42
      return Promise.reject(e)
    },
    'a promise whose then is replaced by a throwing one': () => {
      const p = Promise.resolve('["a"]')
      p.then = () => { throw new Error('patched') }
      return p
    },
  }
  for (const [name, answer] of Object.entries(badAnswers)) {
    const storage = hookedStorage([[LIST_KEY, '["a","b"]']], { [LIST_KEY]: answer })
    const first = await within(2_000, new Session({ storage }, 'a').logout())
    assert.ok(first.error instanceof StorageError, `${name}: ${first.error}`)
    assert.equal(first.error.code, 'ERR_STORAGE_FAILED')
    assert.equal(first.error.key, LIST_KEY)
    const second = await within(2_000, new Session({ storage }, 'b').logout())
    assert.deepEqual(second, { value: undefined }, `${name}: the next logout is not blocked`)
    assert.equal(storage.map.get(LIST_KEY), '["a"]')
  }
})

test('a storage whose method is a throwing accessor fails the call, not the process', async () => {
  const storage = asyncMapStorage([[LIST_KEY, '["a"]']])
  const set = storage.set
  let broken = false
  Object.defineProperty(storage, 'set', {
    get() {
      if (broken) throw new Error('accessor')
      return set
    },
  })
  const session = new Session({ storage }, 'a')
  broken = true
  const e = await rejection(session.logout())
  assert.ok(e instanceof StorageError, String(e))
  assert.equal(e.message, 'storage.set("solidClientAuthn:registeredSessions") failed: it threw an Error (kept as this error\'s cause)')
  assert.equal(e.cause.message, 'accessor')
  broken = false
  assert.deepEqual(await within(1_000, session.logout()), { value: undefined })
})

// 3. Odd thrown values

test('odd rejection values become a StorageError whose cause is the value, with no unhandled rejection', async () => {
  const unhandled = []
  const onUnhandled = (e) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  try {
    const { proxy: revoked, revoke } = Proxy.revocable({}, {})
    revoke()
    const odd = {
      'a proxy whose getPrototypeOf throws': new Proxy({}, { getPrototypeOf() { throw new Error('trap') } }),
      'a revoked proxy': revoked,
      'an object whose message getter throws': { get message() { throw new Error('getter') } },
      'a symbol': Symbol('s'),
      undefined: undefined,
      'an Error with no message': new RangeError(),
    }
    for (const [name, value] of Object.entries(odd)) {
      for (const how of ['reject', 'throw']) {
        const storage = {
          get: how === 'reject' ? () => Promise.reject(value) : () => { throw value },
          set: async () => {},
          delete: async () => {},
        }
        const e = await rejection(lib.getSessionIdFromStorageAll(storage))
        assert.ok(e instanceof StorageError, `${name} (${how}): ${e}`)
        assert.ok('cause' in e && e.cause === value, `${name} (${how}): cause`)
        assert.match(e.message, /^storage\.get\("solidClientAuthn:registeredSessions"\) failed: ./)
      }
    }
    // Answering a revoked proxy fails as `await` fails on it (looking for `then` throws).
    const e = await rejection(lib.getSessionIdFromStorageAll({ get: () => revoked, set() {}, delete() {} }))
    assert.ok(e instanceof StorageError)
    assert.match(e.message, /failed: its answer could not be read: looking for its then method threw a TypeError/)
    assert.match(e.cause.message, /revoked/)
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
  assert.deepEqual(unhandled, [])
})

// 4. Re-entrant storages

test('a storage that calls back into the package on the same storage completes (reference behaviour)', async () => {
  const storage = hookedStorage(
    [
      [LIST_KEY, '["a","b","c"]'],
      [rec('a'), '{}'],
      [rec('b'), '{}'],
      [rec('c'), '{}'],
    ],
    {
      async [LIST_KEY](key) {
        // A cache-invalidation hook: log another session out before answering.
        await new Session({ storage }, 'b').logout()
        return storage.map.get(key)
      },
    },
  )
  const outcome = await within(2_000, new Session({ storage }, 'a').logout())
  assert.deepEqual(outcome, { value: undefined })
  assert.equal(storage.map.get(LIST_KEY), '["c"]')
  assert.ok(!storage.map.has(rec('a')) && !storage.map.has(rec('b')))

  // Sync storages re-enter the same way, and so does clearing from inside a list read.
  const map = new Map([[LIST_KEY, '["x","y"]'], [rec('x'), '{}'], [rec('y'), '{}']])
  let hook = true
  const sync = {
    get(key) {
      if (key === LIST_KEY && hook) {
        hook = false
        lib.clearSessionFromStorageAll(sync)
      }
      return map.get(key)
    },
    set: (k, v) => map.set(k, v),
    delete: (k) => map.delete(k),
  }
  assert.deepEqual(await within(2_000, lib.getSessionIdFromStorageAll(sync)), { value: ['x', 'y'] })
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(map.get(LIST_KEY), '[]')
})

test('a re-entrant call made after an await times out, and the error says it may be a deadlock', async () => {
  // Nothing tells this nested call from an unrelated one, so it waits for the lock the outer
  // logout holds while that one waits for the storage: the outer call times out, which frees the
  // lock, and the nested one then completes.
  lib.setStorageTimeout(200)
  let nested
  const storage = hookedStorage([[LIST_KEY, '["a","b"]'], [rec('a'), '{}'], [rec('b'), '{}']], {
    async [LIST_KEY](key) {
      await null
      nested = new Session({ storage }, 'b').logout()
      await nested
      return storage.map.get(key)
    },
  })
  const outcome = await within(3_000, new Session({ storage }, 'a').logout())
  assert.ok(outcome.error instanceof StorageError, String(outcome.error))
  assert.equal(outcome.error.code, 'ERR_STORAGE_TIMEOUT')
  assert.match(outcome.error.message, /did not settle within 200 ms \(meanwhile another operation on this storage waited for a lock this one held/)
  assert.match(outcome.error.message, /calls back into this package after an await, this is a deadlock/)
  assert.deepEqual(await within(1_000, nested), { value: undefined })
  assert.equal(storage.map.get(LIST_KEY), '["a"]')
})

test('a lock held longer than the storage timeout makes its waiters give up with a typed error', async () => {
  lib.setStorageTimeout(200)
  const slow = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  const ids = ['a', 'b']
  const storage = asyncMapStorage([[LIST_KEY, JSON.stringify(ids)], ...ids.map((id) => [rec(id), '{}'])])
  const { get } = storage
  storage.get = async function (key) {
    await slow(150)
    return get.call(this, key)
  }
  // Clearing holds the list's lock over two rounds of 150 ms calls (list, then records); the
  // second clear waits for it from 10 ms on and gives up at 210 ms, before the first is done.
  const clearing = lib.clearSessionFromStorageAll(storage)
  await slow(10)
  const waiting = await within(3_000, lib.clearSessionFromStorageAll(storage))
  assert.ok(waiting.error instanceof StorageError, String(waiting.error))
  assert.equal(waiting.error.code, 'ERR_STORAGE_LOCK_TIMEOUT')
  assert.equal(waiting.error.key, LIST_KEY)
  assert.match(waiting.error.message, /^gave up waiting for the lock on "solidClientAuthn:registeredSessions" after 200 ms/)
  await clearing
  assert.equal(storage.map.get(LIST_KEY), '[]')
})

test('a script whose storage re-enters never exits with a Promise left unsettled', () => {
  for (const when of ['at once', 'after an await']) {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 're-entrant-storage.js'), when], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.settled, true, `${when}: ${r.stdout}`)
    if (when === 'at once') assert.deepEqual(out, { settled: true, outcome: 'ok', list: [] })
    else assert.equal(out.code, 'ERR_STORAGE_TIMEOUT')
  }
})

test('ordinary concurrency is still serialised: concurrent logouts on one storage object lose nothing', async () => {
  const ids = Array.from({ length: 100 }, (_, i) => `s${i}`)
  const storage = asyncMapStorage([[LIST_KEY, JSON.stringify(ids)]])
  await Promise.all(ids.slice(0, 50).map((id) => new Session({ storage }, id).logout()))
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), ids.slice(50))
})

// 5. Memory

test('per-operation native memory is released when the operation ends, even if the loop never turns', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'tight-loop-memory.js')], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(r.status, 0, r.stderr)
  const { growthMb, operations, running } = JSON.parse(r.stdout)
  assert.equal(running, 0)
  // Before the fix this grew ~0.8 KB per operation (~48 MB here).
  assert.ok(growthMb < 16, `RSS grew ${growthMb} MB over ${operations} operations`)
})

// 6 and the decided differences

test('serialisation is per storage object: a fresh adapter per call over one backend can lose updates', async () => {
  // Documented (README, and divergence 35 in docs/divergences.md): reuse one storage object (the cross-process case comes with Redis).
  const backend = new Map([[LIST_KEY, JSON.stringify(['a', 'b', 'c', 'd'])]])
  const adapter = () => ({
    get: async (k) => backend.get(k),
    set: async (k, v) => {
      await null
      backend.set(k, v)
    },
    delete: async (k) => {
      backend.delete(k)
    },
  })
  await Promise.all(['a', 'b', 'c'].map((id) => new Session({ storage: adapter() }, id).logout()))
  assert.notDeepEqual(JSON.parse(backend.get(LIST_KEY)), ['d'], 'if this starts passing, update divergence 35 in docs/divergences.md and the README')
  const shared = adapter()
  backend.set(LIST_KEY, JSON.stringify(['a', 'b', 'c', 'd']))
  await Promise.all(['a', 'b', 'c'].map((id) => new Session({ storage: shared }, id).logout()))
  assert.deepEqual(JSON.parse(backend.get(LIST_KEY)), ['d'])
})

test('get may answer a String object or any thenable, nested ones included, as `await` would take them', async () => {
  const record = JSON.stringify(loggedInRecord())
  const answers = [
    (v) => new String(v),
    (v) => ({ then: (resolve) => resolve({ then: (inner) => inner(v) }) }),
    (v) => Promise.resolve({ then: (resolve) => resolve(new String(v)) }),
  ]
  for (const answer of answers) {
    const storage = { get: async (k) => (k === rec('s') ? answer(record) : answer('["s"]')), set() {}, delete() {} }
    assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['s'])
    const session = await lib.getSessionFromStorage('s', { storage, refreshSession: false })
    assert.equal(session.info.webId, loggedInRecord().webId)
  }
})

test('logout on a corrupted list still deletes the session record, then rejects naming the list', async () => {
  const storage = asyncMapStorage([[LIST_KEY, '{oops'], [rec('a'), JSON.stringify(loggedInRecord())]])
  const e = await rejection(new Session({ storage }, 'a').logout())
  assert.ok(e instanceof StorageCorruptedError)
  assert.equal(e.key, LIST_KEY)
  assert.ok(!storage.map.has(rec('a')), 'the credentials are gone: the session cannot be restored')
})

test('a record field of the wrong type is reported, naming the field', async () => {
  const storage = asyncMapStorage([[rec('a'), JSON.stringify({ ...loggedInRecord(), keepAlive: true })]])
  const e = await rejection(lib.getSessionFromStorage('a', { storage, refreshSession: false }))
  assert.ok(e instanceof StorageCorruptedError)
  assert.match(e.message, /field "keepAlive" is a boolean, expected a string/)
})

test('a storage whose get accessor throws is not a storage: TypeError, at construction for Session', async () => {
  const storage = {
    get get() {
      throw new Error('accessor')
    },
    set() {},
    delete() {},
  }
  assert.throws(() => new Session({ storage }), (e) => e instanceof TypeError && /IStorage/.test(e.message))
  assert.ok((await rejection(lib.getSessionIdFromStorageAll(storage))) instanceof TypeError)
  assert.ok((await rejection(lib.clearSessionFromStorageAll(storage))) instanceof TypeError)
})

test('a storm of hostile storage behaviours leaves nothing held and every call settled with a typed outcome', async () => {
  lib.setStorageTimeout(50)
  let seed = 42
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const ids = Array.from({ length: 20 }, (_, i) => `s${i}`)
  const map = new Map([[LIST_KEY, JSON.stringify(ids)], ...ids.map((id) => [rec(id), JSON.stringify(loggedInRecord())])])
  const { proxy: revoked, revoke } = Proxy.revocable({}, {})
  revoke()
  let calls = 0
  const behaviours = [
    (answer) => answer(),
    (answer) => Promise.resolve().then(answer),
    (answer) => new Promise((resolve) => setTimeout(() => resolve(answer()), random() * 20)),
    () => new Promise(() => {}),
    () => Promise.reject(revoked),
    () => {
      throw Symbol('sync')
    },
    () => ({ then() { throw new Error('then') } }),
    (answer) => ({ then: (resolve, reject) => (resolve(answer()), reject(new Error('late')), resolve('x')) }),
    (answer) => new String(answer() ?? ''),
    () => 12,
    (answer) => {
      // Re-enter, without waiting for it.
      lib.getSessionIdFromStorageAll(storage).catch(() => {})
      return answer()
    },
  ]
  const pick = () => behaviours[Math.floor(random() * behaviours.length)]
  const storage = {
    get(k) {
      calls++
      return pick()(() => map.get(k))
    },
    set(k, v) {
      calls++
      return pick()(() => void map.set(k, v))
    },
    delete(k) {
      calls++
      return pick()(() => void map.delete(k))
    },
  }
  const work = []
  for (let i = 0; i < 300; i++) {
    const id = ids[Math.floor(random() * ids.length)]
    const kind = Math.floor(random() * 4)
    work.push(
      kind === 0
        ? new Session({ storage }, id).logout()
        : kind === 1
          ? lib.getSessionFromStorage(id, { storage, refreshSession: false })
          : kind === 2
            ? lib.getSessionIdFromStorageAll(storage)
            : lib.clearSessionFromStorageAll(storage),
    )
  }
  const outcomes = await within(20_000, Promise.allSettled(work))
  assert.ok(!outcomes.pending, 'every call settled')
  for (const outcome of outcomes.value) {
    if (outcome.status === 'rejected') {
      const e = outcome.reason
      assert.ok(e instanceof StorageError || e instanceof StorageCorruptedError, String(e))
    }
  }
  // Most of the 300 operations made calls; a clear may give up waiting for a record's lock held
  // by an operation stuck on a call that never settles before it makes any.
  assert.ok(calls > 250, `${calls} calls`)
  // Let the re-entrant calls started along the way finish too.
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(binding.runningOperations(), 0)
  // The store still works: a well-behaved storage over the same map.
  behaviours.length = 1
  lib.setStorageTimeout(1_000)
  map.set(LIST_KEY, '["z"]')
  assert.deepEqual(await within(1_000, new Session({ storage }, 'z').logout()), { value: undefined })
  assert.equal(map.get(LIST_KEY), '[]')
})

test('a write that timed out keeps its key locked until it lands, so it cannot undo a later update', async () => {
  lib.setStorageTimeout(100)
  const storage = asyncMapStorage([[LIST_KEY, '["a","b","c"]']])
  const { set } = storage
  let slowSets = 1
  storage.set = function (key, value) {
    if (key === LIST_KEY && slowSets-- > 0) {
      // Lands after 170 ms: after the 100 ms timeout, within the second one (the grace period).
      return new Promise((resolve) => setTimeout(resolve, 170)).then(() => set.call(this, key, value))
    }
    return set.call(this, key, value)
  }
  const first = await rejection(new Session({ storage }, 'a').logout())
  assert.equal(first.code, 'ERR_STORAGE_TIMEOUT')
  // The next logout reads the list only once the late write has landed, so both removals stay.
  lib.setStorageTimeout(1_000)
  // Without the lock, it would write ["a","c"] at once and the late write ["b","c"] after.
  await new Session({ storage }, 'b').logout()
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), ['c'])
})

test('a write that never settles is given up for lost after a second timeout, and the key is free again', async () => {
  lib.setStorageTimeout(100)
  const storage = asyncMapStorage([[LIST_KEY, '["a","b"]']])
  const { set } = storage
  let hang = true
  storage.set = function (key, value) {
    if (hang) {
      hang = false
      return new Promise(() => {})
    }
    return set.call(this, key, value)
  }
  assert.equal((await rejection(new Session({ storage }, 'a').logout())).code, 'ERR_STORAGE_TIMEOUT')
  const started = Date.now()
  lib.setStorageTimeout(1_000)
  await new Session({ storage }, 'b').logout()
  // It waited for the grace period (100 ms) rather than its own lock-wait limit (1 s).
  assert.ok(Date.now() - started < 900, `waited ${Date.now() - started} ms`)
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), ['a'])
})

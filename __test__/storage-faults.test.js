'use strict'
// A storage fault at every storage call of the flows that take leases or write logged-in
// records, against the fake identity provider (support/fake-idp.js). Public API only.
//
// - Refresh leases (crates/core/src/storage/lease.rs): whatever call fails, the next refresh of the session in the
//   same process and storage does not wait on a lease this process left (the lease lasts 15 s),
//   and a flow that resolved left no lease behind.
// - Clear and login: clearSessionFromStorageAll while logins run leaves no logged-in record
//   outside the session list.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const lib = require('..')
const { startFakeIdp, sessionRecord } = require('./support/fake-idp.js')
const { LIST_KEY, RECORD_PREFIX } = require('./helpers.js')
const native = require('../binding.js')
const { watchForBlockedThread } = require('./support/hang-watch.js')

const { Session, getSessionFromStorage, refreshSession, clearSessionFromStorageAll } = lib

const LEASE_PREFIX = 'solidClientAuthn:refreshLease:'
const CLIENT_ID = 'fault-client'
const CLIENT_SECRET = 'SECRET-fault-client'
// Well under the lease's 15 s: a refresh that waited on a left lease takes that long.
const NO_WAIT_MS = 5_000
// Every step here is bounded (storage calls by the 10 s storage timeout, requests by the 3.5 s
// provider timeout, lease waits by 30 s): one still pending after this long hangs. The test then
// fails at once, naming the step, instead of running into the file's timeout.
const HANG_MS = 60_000
// Each test's own bound, for a hang outside the steps `settledWithin` watches.
const TEST_LIMIT = { timeout: 300_000 }

/**
 * `promise`, or a failure naming `what` once it has been pending for HANG_MS: with the native
 * operations still in the table and the last storage calls of `storage`, if given.
 */
function settledWithin(promise, what, storage) {
  let timer
  const hung = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const calls = storage === undefined ? '' : `; its storage's last calls: ${storage.log.slice(-12).join(', ')}`
      reject(new Error(`${what} hung: still pending after ${HANG_MS / 1000} s, with ${native.runningOperations()} native operations running${calls}`))
    }, HANG_MS)
  })
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer))
}

let idp // tokens live 300 s
let shortLived // tokens live 5 s, so that the background refresh comes soon
let stopWatch
test.before(async () => {
  // This file's JS thread once deadlocked in CI (in Node, exporting a key just generated: see
  // support/fake-idp.js, p256): the watch says where, should it block again.
  stopWatch = watchForBlockedThread()
  idp = await startFakeIdp()
  shortLived = await startFakeIdp({ expiresIn: 5 })
})
test.after(async () => {
  await Promise.all([idp?.close(), shortLived?.close(), stopWatch?.()])
})

/**
 * An IStorage over a Map that fails its `failAt`-th call (get, set, delete, setIfAbsent,
 * counted from `arm`) with a rejection. `atomic`: it has setIfAbsent, with expiry, as Redis.
 */
function faultyStorage(atomic) {
  const map = new Map()
  const expiry = new Map()
  let calls = 0
  let failAt = null
  // Lease keys just written, whose next read answers garbage (when `corruptReadBack`).
  const written = new Set()
  // The calls made, for a hang's report (method and key: no value).
  const log = []
  const step = (method, key) => {
    calls += 1
    if (log.push(`${calls}:${method} ${key}`) > 50) log.shift()
    if (calls === failAt) throw new Error(`injected fault at call ${calls}: ${method} ${key}`)
  }
  const storage = {
    map,
    log,
    arm(n) {
      calls = 0
      failAt = n
    },
    get calls() {
      return calls
    },
    leases: () => [...map.keys()].filter((k) => k.startsWith(LEASE_PREFIX)),
    corruptReadBack: false,
    async get(key) {
      step('get', key)
      if (written.delete(key)) return '{"owner":'
      if (expiry.has(key) && expiry.get(key) <= Date.now()) return undefined
      return map.get(key)
    },
    async set(key, value) {
      step('set', key)
      if (storage.corruptReadBack && key.startsWith(LEASE_PREFIX)) {
        storage.corruptReadBack = false
        written.add(key)
      }
      expiry.delete(key)
      map.set(key, value)
    },
    async delete(key) {
      step('delete', key)
      expiry.delete(key)
      map.delete(key)
    },
  }
  if (atomic) {
    storage.setIfAbsent = async (key, value, ttlMs) => {
      step('setIfAbsent', key)
      if (map.has(key) && !(expiry.has(key) && expiry.get(key) <= Date.now())) return false
      map.set(key, value)
      expiry.set(key, Date.now() + ttlMs)
      return true
    }
  }
  return storage
}

/** A storage holding one DPoP session of `provider` that must refresh to be restored. */
async function storedSession(id, atomic, provider = idp, keepAlive = 'false') {
  const { record } = sessionRecord(provider, { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, keepAlive })
  const storage = faultyStorage(atomic)
  storage.map.set(LIST_KEY, JSON.stringify([id]))
  storage.map.set(RECORD_PREFIX + id, JSON.stringify(record))
  return storage
}

/** How long the next refresh of session `id` takes; it must succeed and leave no lease. */
async function nextRefresh(storage, id) {
  const started = performance.now()
  await settledWithin(refreshSession(new Session({ storage, keepAlive: false }, id), { storage }), `the next refresh of ${id}`, storage)
  const took = performance.now() - started
  assert.deepEqual(storage.leases(), [], 'the next refresh gave its lease back')
  return took
}

const FLOWS = {
  'getSessionFromStorage with an expired token': (storage, id) => getSessionFromStorage(id, { storage }),
  refreshSession: (storage, id) => refreshSession(new Session({ storage, keepAlive: false }, id), { storage }),
  'login({ refreshToken })': (storage, id) =>
    new Session({ storage, keepAlive: false }, id).login({
      oidcIssuer: idp.issuer,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      refreshToken: `SECRET-RT-given-${crypto.randomBytes(6).toString('hex')}`,
    }),
}

for (const atomic of [false, true]) {
  const kind = atomic ? 'a storage with setIfAbsent' : 'a plain IStorage'
  for (const [name, flow] of Object.entries(FLOWS)) {
    test(`${name} on ${kind}: a fault at any storage call leaves no lease the next refresh waits on`, TEST_LIMIT, async () => {
      const clean = await storedSession('clean', atomic)
      clean.arm(null)
      await settledWithin(flow(clean, 'clean'), `${name} without a fault`, clean)
      const total = clean.calls
      assert.deepEqual(clean.leases(), [])
      for (let n = 1; n <= total + 1; n++) {
        const id = `fault-${n}`
        const storage = await storedSession(id, atomic)
        storage.arm(n)
        const outcome = await settledWithin(flow(storage, id), `${name} with a fault at call ${n} of ${total}`, storage).then(
          () => 'resolved',
          (e) => e,
        )
        if (outcome instanceof Error && / hung: /.test(outcome.message)) throw outcome
        storage.arm(null)
        const at = `fault at call ${n} of ${total} (${outcome === 'resolved' ? 'resolved' : outcome.message})`
        if (outcome === 'resolved') assert.deepEqual(storage.leases(), [], `${at}: no lease left`)
        const took = await nextRefresh(storage, id)
        assert.ok(took < NO_WAIT_MS, `${at}: the next refresh took ${Math.round(took)} ms`)
      }
    })
  }

  if (!atomic) {
    test('a lease read back as garbage: the refresh does not wait on its own lease', TEST_LIMIT, async () => {
      const storage = await storedSession('garbled', false)
      storage.corruptReadBack = true
      const started = performance.now()
      const session = await settledWithin(getSessionFromStorage('garbled', { storage }), 'the restore', storage)
      const took = performance.now() - started
      assert.equal(session.info.isLoggedIn, true)
      assert.equal(storage.corruptReadBack, false, 'the read-back was garbled')
      assert.ok(took < NO_WAIT_MS, `the refresh took ${Math.round(took)} ms`)
      assert.deepEqual(storage.leases(), [])
    })
  }

  test(`the background refresh on ${kind}: a fault at any storage call leaves no lease the next refresh waits on`, TEST_LIMIT, async () => {
    // Each case waits for the background refresh (a fifth of the 5 s lifetime before it ends),
    // so the cases run side by side, each on its own storage and session.
    const run = async (n) => {
      const id = `background-${n}`
      const storage = await storedSession(id, atomic, shortLived, 'true')
      const session = await settledWithin(getSessionFromStorage(id, { storage }), `the restore of ${id}`, storage)
      assert.equal(session.info.isLoggedIn, true)
      const settled = new Promise((resolve) => {
        session.events.once('sessionExtended', () => resolve('resolved'))
        session.events.once('error', (_code, e) => resolve(e))
      })
      storage.arm(n)
      const outcome = await settledWithin(settled, `the background refresh of ${id} (sessionExtended or error)`, storage)
      const calls = storage.calls
      storage.arm(null)
      session.events.on('error', () => {})
      await settledWithin(session.logout({ logoutType: 'app' }), `the logout of ${id}`, storage).catch((e) => {
        if (/ hung: /.test(e.message)) throw e
      })
      return { n, calls, outcome, storage, id }
    }
    const clean = await run(null)
    assert.equal(clean.outcome, 'resolved')
    const total = clean.calls
    assert.ok(total >= 3, `the background refresh made ${total} storage calls`)
    const cases = await Promise.all(Array.from({ length: total + 1 }, (_, i) => run(i + 1)))
    for (const { n, outcome, storage, id } of cases) {
      const at = `fault at call ${n} of ${total} (${outcome === 'resolved' ? 'resolved' : outcome.message})`
      if (outcome === 'resolved') assert.deepEqual(storage.leases(), [], `${at}: no lease left`)
      // The logout removed the record: seed it again, as it was before the logout.
      storage.map.set(LIST_KEY, JSON.stringify([id]))
      const fresh = await storedSession(id, atomic, shortLived)
      storage.map.set(RECORD_PREFIX + id, fresh.map.get(RECORD_PREFIX + id))
      const took = await nextRefresh(storage, id)
      assert.ok(took < NO_WAIT_MS, `${at}: the next refresh took ${Math.round(took)} ms`)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Clear and login

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A Map storage whose calls each take a random moment, as a database's would. */
function slowStorage(atomic) {
  const storage = faultyStorage(atomic)
  for (const method of ['get', 'set', 'delete', 'setIfAbsent']) {
    const inner = storage[method]
    if (inner === undefined) continue
    storage[method] = async (...args) => {
      await pause(Math.random() * 3)
      return inner(...args)
    }
  }
  return storage
}

/** The IDs of records holding a token or a key that the session list does not name. */
function unlistedLoggedIn(storage) {
  const listed = new Set(JSON.parse(storage.map.get(LIST_KEY) ?? '[]'))
  return [...storage.map.entries()]
    .filter(([key, value]) => key.startsWith(RECORD_PREFIX) && /"(accessToken|idToken|privateKey)"/.test(value))
    .map(([key]) => key.slice(RECORD_PREFIX.length))
    .filter((id) => !listed.has(id))
}

for (const atomic of [false, true]) {
  const kind = atomic ? 'a storage with setIfAbsent' : 'a plain IStorage'
  test(`clearSessionFromStorageAll while 100 logins run on ${kind}: every logged-in record left is listed`, TEST_LIMIT, async () => {
    for (const listedBeforeClear of [1, 30, 70]) {
      const storage = slowStorage(atomic)
      const logins = Array.from({ length: 100 }, (_, i) =>
        new Session({ storage, keepAlive: false }, `race-${listedBeforeClear}-${i}`).login({
          oidcIssuer: idp.issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
        }),
      )
      const all = Promise.allSettled(logins)
      let ended = false
      all.then(() => (ended = true))
      // Until enough logins are listed, or all have ended (failed logins list nothing).
      while (!ended && JSON.parse(storage.map.get(LIST_KEY) ?? '[]').length < listedBeforeClear) await pause(1)
      await settledWithin(clearSessionFromStorageAll(storage), 'the clear', storage)
      const outcomes = await settledWithin(all, 'the logins', storage)
      assert.deepEqual(
        outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason.message),
        [],
        'every login went through',
      )
      assert.deepEqual(unlistedLoggedIn(storage), [], `clear after ${listedBeforeClear} logins listed: no logged-in record outside the list`)
      // So a later clear finds them all.
      await settledWithin(clearSessionFromStorageAll(storage), 'the second clear', storage)
      assert.deepEqual(
        [...storage.map.keys()].filter((k) => k.startsWith(RECORD_PREFIX)),
        [],
        'nothing left after the next clear',
      )
    }
  })
}

'use strict'
// Redis shut down and killed in the middle of a run, for the tests of RedisStorage
// (redis-storage.test.js) and of the node-redis adapter (redis.test.js), which must behave the
// same: four readers list the sessions and restore one in turn, a writer logs new sessions in,
// and Redis goes down twice for 800 ms (SIGTERM, a clean shutdown; then SIGKILL, a crash).

const assert = require('node:assert/strict')
const { setTimeout: sleep } = require('node:timers/promises')
const lib = require('../..')
const { loggedInRecord, seed, RECORD_PREFIX } = require('../helpers.js')

const { StorageError } = lib
const ms = (x) => `${x.toFixed(1)} ms`
/** Sessions there before the run: 20 in the reference's layout and 3 real logins. */
const SEEDED = 23

/**
 * Runs the workload on `storage` over `redis` (a persistent server of support/redis.js), with
 * `logIn(storage, id)` logging a session in as `webId`: every call made (kind, start, end,
 * error), each outage (signal, kill, down, up, recovered), the sessions that must be there
 * (ID to WebID), the logins that failed, and `restore(id)`, which checks one.
 */
async function runThroughOutages({ storage, redis, logIn, webId }) {
  const expected = new Map()
  const seeded = {}
  for (let i = 0; i < 20; i++) seeded[`seed-${i}`] = loggedInRecord({ webId: `https://user${i}.example/profile#me` })
  await seed(storage, seeded)
  for (const [id, record] of Object.entries(seeded)) expected.set(id, record.webId)
  for (let i = 0; i < 3; i++) {
    await logIn(storage, `cc-${i}`)
    expected.set(`cc-${i}`, webId)
  }
  const restore = async (id) => {
    const session = await lib.getSessionFromStorage(id, { storage, refreshSession: id.startsWith('cc-') })
    assert.ok(session, `${id} is gone`)
    assert.equal(session.info.webId, expected.get(id))
    if (id.startsWith('cc-')) assert.equal(session.info.isLoggedIn, true, `${id} is not logged in`)
  }

  const calls = []
  const failedLogins = []
  let running = true
  const timed = async (kind, fn) => {
    const call = { kind, start: performance.now() }
    try {
      await fn()
    } catch (error) {
      call.error = error
    }
    call.end = performance.now()
    calls.push(call)
    return call
  }
  const readers = Array.from({ length: 4 }, async (_, w) => {
    for (let n = 0; running; n++) {
      const ids = [...expected.keys()]
      await timed('list', () => lib.getSessionIdFromStorageAll(storage))
      await timed('restore', () => restore(ids[(w * 7 + n) % ids.length]))
      await sleep(5)
    }
  })
  const writer = (async () => {
    for (let n = 0; running; n++) {
      const id = `cc-live-${n}`
      const call = await timed('login', () => logIn(storage, id))
      if (call.error) failedLogins.push(id)
      else expected.set(id, webId)
      await sleep(20)
    }
  })()

  const outages = []
  const outage = async (signal) => {
    const o = { signal, kill: performance.now() }
    await redis.restart({ signal, downMs: 800, onDown: () => (o.down = performance.now()) })
    o.up = performance.now()
    // The storage reconnects by itself: wait for a call that works.
    for (;;) {
      const call = await timed('probe', () => lib.getSessionIdFromStorageAll(storage))
      if (!call.error) {
        o.recovered = call.start
        break
      }
      assert.ok(performance.now() - o.up < 10_000, 'the storage did not come back within 10 s of Redis')
      await sleep(20)
    }
    outages.push(o)
  }
  try {
    await sleep(500)
    await outage('SIGTERM')
    await sleep(500)
    await outage('SIGKILL')
    await sleep(500)
  } finally {
    running = false
    await Promise.all([...readers, writer])
  }
  return { calls, outages, expected, failedLogins, restore }
}

/**
 * Checks a run: every failure is a StorageError about a failed storage call made in an outage
 * (from the kill to the first call that worked again), each failed promptly, logins went on,
 * every session is still listed and restores, and a failed login left a session or nothing.
 */
async function checkOutages(t, storage, { calls, outages, expected, failedLogins, restore }) {
  const failures = calls.filter((c) => c.error)
  const wrong = failures.filter((c) => !(c.error instanceof StorageError) || c.error.code !== 'ERR_STORAGE_FAILED')
  assert.deepEqual(wrong.map((c) => `${c.kind}: ${c.error?.name} ${c.error?.code}: ${c.error?.message}`), [])
  const during = (c, o) => c.end >= o.kill && c.start <= o.recovered
  assert.deepEqual(failures.filter((c) => !outages.some((o) => during(c, o))).map((c) => `${c.kind}: ${c.error.message}`), [], 'failures outside an outage')
  for (const o of outages) {
    const inOutage = failures.filter((c) => during(c, o))
    const inFlight = inOutage.filter((c) => c.start < o.kill)
    const whileDown = inOutage.filter((c) => c.start >= o.kill)
    assert.ok(whileDown.length > 0, `${o.signal}: no call was made while Redis was down`)
    // Promptly: each failed call took a few ms (from its start, or from the kill for a call
    // already in flight), nowhere near the 10 s storage timeout.
    const latencies = [...inFlight.map((c) => c.end - o.kill), ...whileDown.map((c) => c.end - c.start)].sort((x, y) => x - y)
    const max = latencies.at(-1)
    t.diagnostic(
      `${o.signal}: down ${ms(o.up - o.down)} (exit ${ms(o.down - o.kill)} after the kill), calls working again ${ms(o.recovered - o.up)} after it was back; ` +
        `${inFlight.length} calls in flight and ${whileDown.length} made while down failed: median ${ms(latencies[Math.floor(latencies.length / 2)])}, max ${ms(max)}; ` +
        `messages: ${[...new Set(inOutage.map((c) => c.error.message.replace(/\("[^"]*"\)/, '(…)')))].join(' | ')}`,
    )
    assert.ok(max < 1000, `${o.signal}: a failed call took ${ms(max)}`)
  }
  const ok = calls.filter((c) => !c.error)
  t.diagnostic(`${calls.length} calls (${ok.length} worked, ${failures.length} failed); ${expected.size} sessions, of which ${expected.size - SEEDED} logged in during the run; ${failedLogins.length} logins failed`)
  assert.ok(ok.some((c) => c.kind === 'login'), 'no login went through')

  const listed = await lib.getSessionIdFromStorageAll(storage)
  assert.deepEqual([...expected.keys()].filter((id) => !listed.includes(id)), [], 'sessions lost')
  for (const id of expected.keys()) await restore(id)
  // A login that failed may have stored part of its session (its write may land while its answer
  // is lost); whatever it left, a restore gives a session or nothing, never an odd error.
  for (const id of failedLogins.filter((id) => listed.includes(id))) {
    const session = await lib.getSessionFromStorage(id, { storage })
    const record = await storage.get(RECORD_PREFIX + id)
    const fields = record === undefined ? 'no record' : `a record with ${Object.keys(JSON.parse(record)).join(', ')}`
    t.diagnostic(`a failed login ${id} is listed (${fields}); it restores ${session === undefined ? 'as nothing' : `logged ${session.info.isLoggedIn ? 'in' : 'out'}`}`)
  }
}

module.exports = { runThroughOutages, checkOutages }

'use strict'
// Sessions in Redis through examples/redis-storage.js, on a real redis-server started by
// __test__/support/redis.js: the adapter as this package's IStorage (client-credentials logins
// against oidc-provider, and records in the reference's layout), setIfAbsent, Redis crashing and
// restarting in the middle of a run of restores, lists and logins, and a frozen Redis.
const test = require('node:test')
const assert = require('node:assert/strict')
const { setTimeout: sleep } = require('node:timers/promises')
const { createClient } = require('redis')
const lib = require('..')
const binding = require('../binding.js')
const { startRedis } = require('./support/redis.js')
const { startOp } = require('./support/servers.js')
const { createRedisStorage, redisClientOptions } = require('../examples/redis-storage.js')
const { LIST_KEY, RECORD_PREFIX, loggedInRecord, seed, rejection } = require('./helpers.js')

const { StorageError } = lib

let op
let redis // no persistence; shared by the tests that do not restart it
const servers = []
const clients = []

test.before(async () => {
  // As in login-client-credentials.test.js: answers are checked here, not speed.
  lib.setIdentityProviderTimeout(15_000)
  ;[op, redis] = await Promise.all([startOp(), startRedis()])
  servers.push(redis)
})
test.after(async () => {
  for (const client of clients) {
    try {
      client.destroy()
    } catch {
      // Never connected, or closed already.
    }
  }
  await Promise.all([op?.stop(), ...servers.map((server) => server.stop())])
})

/** A connected client with the example's options; its 'error' events are kept, not thrown. */
async function connect(url) {
  const client = createClient(redisClientOptions(url))
  client.errors = []
  client.on('error', (error) => client.errors.push(error))
  clients.push(client)
  await client.connect()
  return client
}

async function ccLogin(storage, id) {
  const session = new lib.Session({ storage, keepAlive: false }, id)
  await session.login({ oidcIssuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret })
  return session
}

const ms = (x) => `${x.toFixed(1)} ms`

test('the adapter is an IStorage: sessions stored, listed, restored, logged out and cleared in Redis', async () => {
  const client = await connect(redis.url)
  const storage = createRedisStorage(client, { prefix: 'app1:' })
  const other = createRedisStorage(client, { prefix: 'app2:' })

  await seed(storage, { s1: loggedInRecord(), s2: loggedInRecord({ webId: 'https://bob.example/#me' }) })
  await ccLogin(storage, 'cc-a')
  const b = await ccLogin(storage, 'cc-b')
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['s1', 's2', 'cc-a', 'cc-b'])
  assert.deepEqual(await lib.getSessionIdFromStorageAll(other), [], 'another prefix is another store')

  // The reference's layout, under the prefix.
  assert.deepEqual(JSON.parse(await client.get(`app1:${LIST_KEY}`)), ['s1', 's2', 'cc-a', 'cc-b'])
  const record = JSON.parse(await client.get(`app1:${RECORD_PREFIX}cc-a`))
  assert.equal(record.issuer, op.issuer)
  assert.equal(record.webId, op.webId)
  assert.ok(record.accessToken && record.privateKey)
  assert.equal(await client.get(LIST_KEY), null, 'nothing is written outside the prefix')

  const bob = await lib.getSessionFromStorage('s2', { storage, refreshSession: false })
  assert.equal(bob.info.webId, 'https://bob.example/#me')
  // A client-credentials session restores with its stored access token: nothing is sent.
  const sent = binding.httpRequestsSent()
  const a = await lib.getSessionFromStorage('cc-a', { storage })
  assert.equal(binding.httpRequestsSent() - sent, 0)
  assert.equal(a.info.isLoggedIn, true)
  assert.equal(a.info.webId, op.webId)
  assert.equal((await a.fetch(op.privateResource)).status, 200)
  // Redis answers null for a missing key; the adapter says undefined, and so nobody is there.
  assert.equal(await storage.get('missing'), undefined)
  assert.equal(await lib.getSessionFromStorage('nobody', { storage }), undefined)

  await b.logout()
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['s1', 's2', 'cc-a'])
  assert.equal(await client.get(`app1:${RECORD_PREFIX}cc-b`), null)

  await lib.clearSessionFromStorageAll(storage)
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), [])
  const left = await client.keys('app1:*')
  assert.deepEqual(left.filter((key) => key.includes(RECORD_PREFIX)), [], `left: ${left.join(', ')}`)
})

test('setIfAbsent is SET NX PX: true once, false while the key exists, atomic across clients, and the key lapses', async () => {
  const client = await connect(redis.url)
  const storage = createRedisStorage(client, { prefix: 'lease:' })

  assert.equal(await storage.setIfAbsent('k', 'one', 5000), true)
  assert.equal(await storage.setIfAbsent('k', 'two', 5000), false)
  assert.equal(await storage.get('k'), 'one', 'a refused setIfAbsent changes nothing')
  // PX took (no expiry would be -1); the lower bound leaves a stalled machine a few seconds.
  const ttl = await client.pTTL('lease:k')
  assert.ok(ttl > 1000 && ttl <= 5000, `PTTL ${ttl}`)

  // A key written by set (no expiry) is not replaced, and keeps having no expiry.
  await storage.set('plain', 'v')
  assert.equal(await storage.setIfAbsent('plain', 'w', 5000), false)
  assert.equal(await storage.get('plain'), 'v')
  assert.equal(await client.pTTL('lease:plain'), -1)

  // The lease lapses by itself (its holder may have died), and can then be taken again.
  assert.equal(await storage.setIfAbsent('short', 'a', 150), true)
  await sleep(400)
  assert.equal(await storage.get('short'), undefined)
  assert.equal(await storage.setIfAbsent('short', 'b', 150.5), true, 'a fractional TTL is rounded up, not refused by Redis')
  await storage.delete('short')
  assert.equal(await storage.setIfAbsent('short', 'c', 1000), true, 'delete releases it')

  // Many processes at once: here 5 connections, 10 attempts each, all sent together.
  const others = await Promise.all(Array.from({ length: 5 }, () => connect(redis.url)))
  const attempts = others.flatMap((c, i) =>
    Array.from({ length: 10 }, (_, j) => createRedisStorage(c, { prefix: 'lease:' }).setIfAbsent('race', `${i}-${j}`, 5000)),
  )
  const won = (await Promise.all(attempts)).filter((x) => x === true)
  assert.equal(won.length, 1)
})

test('Redis crashes and restarts in the middle of a run: calls fail at once with StorageError, then every session is there and restores', async (t) => {
  // Persistence (fsync on every write) so that a restart loses no acknowledged write.
  const durable = await startRedis({ persist: true })
  servers.push(durable)
  const client = await connect(durable.url)
  const storage = createRedisStorage(client, { prefix: 'run:' })

  // id -> the WebID its restore must give: records in the reference's layout, and real logins.
  const expected = new Map()
  const seeded = {}
  for (let i = 0; i < 20; i++) seeded[`seed-${i}`] = loggedInRecord({ webId: `https://user${i}.example/profile#me` })
  await seed(storage, seeded)
  for (const [id, record] of Object.entries(seeded)) expected.set(id, record.webId)
  for (let i = 0; i < 3; i++) {
    await ccLogin(storage, `cc-${i}`)
    expected.set(`cc-${i}`, op.webId)
  }
  const restore = async (id) => {
    const session = await lib.getSessionFromStorage(id, { storage, refreshSession: id.startsWith('cc-') })
    assert.ok(session, `${id} is gone`)
    assert.equal(session.info.webId, expected.get(id))
    if (id.startsWith('cc-')) assert.equal(session.info.isLoggedIn, true, `${id} is not logged in`)
  }

  // The run: 4 readers (list, then restore one session, in turn) and 1 writer (new logins).
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
      const call = await timed('login', () => ccLogin(storage, id))
      if (call.error) failedLogins.push(id)
      else expected.set(id, op.webId)
      await sleep(20)
    }
  })()

  const outages = []
  const outage = async (signal) => {
    const o = { signal, kill: performance.now() }
    await durable.restart({ signal, downMs: 800, onDown: () => (o.down = performance.now()) })
    o.up = performance.now()
    // The client reconnects by itself (its backoff is at most 2 s): wait for a call that works.
    for (;;) {
      const call = await timed('probe', () => lib.getSessionIdFromStorageAll(storage))
      if (!call.error) {
        o.recovered = call.start
        break
      }
      assert.ok(performance.now() - o.up < 10_000, 'the client did not come back within 10 s of Redis')
      await sleep(20)
    }
    outages.push(o)
  }

  try {
    await sleep(500)
    await outage('SIGTERM') // a clean shutdown
    await sleep(500)
    await outage('SIGKILL') // a crash
    await sleep(500)
  } finally {
    running = false
    await Promise.all([...readers, writer])
  }

  // Every failure is the package's StorageError about a failed storage call, and happened in an
  // outage: from the kill to the first call that worked again.
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
    // Promptly: each failed call took a few ms (measured from its start, or from the kill for a
    // call already in flight), nowhere near the 10 s storage timeout.
    const latencies = [...inFlight.map((c) => c.end - o.kill), ...whileDown.map((c) => c.end - c.start)].sort((x, y) => x - y)
    const max = latencies.at(-1)
    const median = latencies[Math.floor(latencies.length / 2)]
    t.diagnostic(
      `${o.signal}: down ${ms(o.up - o.down)} (exit ${ms(o.down - o.kill)} after the kill), calls working again ${ms(o.recovered - o.up)} after it was back; ` +
        `${inFlight.length} calls in flight and ${whileDown.length} made while down failed: median ${ms(median)}, max ${ms(max)}; ` +
        `messages: ${[...new Set(inOutage.map((c) => c.error.message.replace(/\("[^"]*"\)/, '(…)')))].join(' | ')}`,
    )
    assert.ok(max < 1000, `${o.signal}: a failed call took ${ms(max)}`)
  }
  const ok = calls.filter((c) => !c.error)
  t.diagnostic(`${calls.length} calls (${ok.length} worked, ${failures.length} failed); ${expected.size} sessions, of which ${expected.size - 23} logged in during the run; ${failedLogins.length} logins failed`)
  assert.ok(ok.filter((c) => c.kind === 'login').length > 0)

  // After the restarts: every session is still listed and restores.
  const listed = await lib.getSessionIdFromStorageAll(storage)
  const missing = [...expected.keys()].filter((id) => !listed.includes(id))
  assert.deepEqual(missing, [], 'sessions lost')
  for (const id of expected.keys()) await restore(id)
  // A login that failed may have stored part of its session (its write may land while its answer
  // is lost); whatever it left, a restore gives a session or nothing, never an odd error.
  for (const id of failedLogins.filter((id) => listed.includes(id))) {
    const session = await lib.getSessionFromStorage(id, { storage })
    const record = await storage.get(RECORD_PREFIX + id)
    const fields = record === undefined ? 'no record' : `a record with ${Object.keys(JSON.parse(record)).join(', ')}`
    t.diagnostic(`a failed login ${id} is listed (${fields}); it restores ${session === undefined ? 'as nothing' : `logged ${session.info.isLoggedIn ? 'in' : 'out'}`}`)
  }
  assert.equal(client.isReady, true)
})

test('a frozen Redis (SIGSTOP) keeps calls waiting: they reject with ERR_STORAGE_TIMEOUT after the storage timeout, and work once it goes on', async (t) => {
  const client = await connect(redis.url)
  const storage = createRedisStorage(client, { prefix: 'frozen:' })
  await seed(storage, { f: loggedInRecord() })
  lib.setStorageTimeout(300)
  t.after(() => {
    lib.setStorageTimeout(10_000)
    redis.resume()
  })
  redis.pause()
  const started = performance.now()
  const errors = await Promise.all([
    rejection(lib.getSessionIdFromStorageAll(storage)),
    rejection(lib.getSessionFromStorage('f', { storage, refreshSession: false })),
  ])
  const took = performance.now() - started
  for (const error of errors) {
    assert.ok(error instanceof StorageError, String(error))
    assert.equal(error.code, 'ERR_STORAGE_TIMEOUT')
  }
  assert.ok(took >= 290 && took < 2000, `took ${ms(took)}`)
  t.diagnostic(`frozen: both calls rejected with ERR_STORAGE_TIMEOUT after ${ms(took)} (storage timeout 300 ms)`)
  redis.resume()
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['f'])
  assert.equal((await lib.getSessionFromStorage('f', { storage, refreshSession: false })).info.webId, loggedInRecord().webId)
})

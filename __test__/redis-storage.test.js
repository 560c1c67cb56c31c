'use strict'
// The package's RedisStorage (src/redis/) on a real redis-server started by
// __test__/support/redis.js: the multi-session functions, client-credentials logins against
// oidc-provider restored in another process, sessions shared both ways with the node-redis
// adapter (examples/redis-storage.js), refresh with rotation across processes, Redis killed and
// restarted mid-run, a frozen Redis, the process exiting, and what a restore costs (native calls,
// Redis commands).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')
const { createClient } = require('redis')
const lib = require('..')
const binding = require('../binding.js')
const { startRedis, freePort } = require('./support/redis.js')
const { startOp } = require('./support/servers.js')
const { countNativeCalls } = require('./support/native-calls.js')
const { rotationAcrossProcesses } = require('./support/rotation.js')
const { runThroughOutages, checkOutages } = require('./support/redis-outage.js')
const { checkMultiSessionFunctions } = require('./support/redis-contract.js')
const { createRedisStorage, redisClientOptions } = require('../examples/redis-storage.js')
const { RECORD_PREFIX, loggedInRecord, seed, rejection, privateCa, runChild } = require('./helpers.js')

const { RedisStorage, StorageError } = lib
const ROOT = path.join(__dirname, '..')

let op
let redis // no persistence; shared by the tests that do not restart it
let client // node-redis, to look at what RedisStorage wrote
const servers = []
const opened = []

test.before(async () => {
  lib.setIdentityProviderTimeout(15_000)
  ;[op, redis] = await Promise.all([startOp(), startRedis()])
  servers.push(redis)
  client = createClient(redisClientOptions(redis.url))
  client.on('error', () => {})
  await client.connect()
})
test.after(async () => {
  await Promise.all(opened.map((s) => s.close()))
  await client?.quit()
  await Promise.all([op?.stop(), ...servers.map((server) => server.stop())])
})

function open(options) {
  const storage = new RedisStorage(options)
  opened.push(storage)
  return storage
}

async function ccLogin(storage, id) {
  const session = new lib.Session({ storage, keepAlive: false }, id)
  await session.login({ oidcIssuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret })
  return session
}

/** `runChild` with a minute to run. */
const child = (source, env = {}, timeout = 60_000) => runChild(source, env, timeout)

/** Redis's count of calls per command since the last CONFIG RESETSTAT. */
async function commandStats() {
  const info = await client.info('commandstats')
  return Object.fromEntries([...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map(([, name, n]) => [name, Number(n)]))
}

const ms = (x) => `${x.toFixed(1)} ms`

test('RedisStorage is an IStorage and runs the multi-session functions: stored, listed, restored, logged out, cleared, under its prefix', async () => {
  const storage = open({ url: redis.url, keyPrefix: 'app1:' })
  const other = open({ url: new URL(redis.url), keyPrefix: 'app2:' })
  await checkMultiSessionFunctions({ storage, other, client, op, logIn: ccLogin })
})

test('its IStorage methods called directly: get, set, delete, and setIfAbsent as SET NX PX', async () => {
  const storage = open({ url: redis.url, keyPrefix: 'direct:' })
  assert.equal(await storage.get('missing'), undefined)
  await storage.set('k', 'v é 😀')
  assert.equal(await client.get('direct:k'), 'v é 😀')
  assert.equal(await storage.get('k'), 'v é 😀')
  await storage.delete('k')
  await storage.delete('k')
  assert.equal(await storage.get('k'), undefined)

  assert.equal(await storage.setIfAbsent('lease', 'one', 5000), true)
  assert.equal(await storage.setIfAbsent('lease', 'two', 5000), false)
  assert.equal(await storage.get('lease'), 'one')
  const ttl = await client.pTTL('direct:lease')
  assert.ok(ttl > 1000 && ttl <= 5000, `PTTL ${ttl}`)
  assert.equal(await storage.setIfAbsent('short', 'a', 100.5), true, 'a fractional TTL is rounded up')
  await sleep(300)
  assert.equal(await storage.get('short'), undefined, 'the lease lapsed')

  // Many stores at once, 50 attempts sent together: one wins.
  const stores = Array.from({ length: 5 }, () => open({ url: redis.url, keyPrefix: 'direct:' }))
  const won = (await Promise.all(stores.flatMap((s, i) => Array.from({ length: 10 }, (_, j) => s.setIfAbsent('race', `${i}-${j}`, 5000))))).filter(Boolean)
  assert.equal(won.length, 1)

  await client.hSet('direct:hash', 'f', 'v')
  const wrong = await rejection(storage.get('hash'))
  assert.ok(wrong instanceof StorageError, String(wrong))
  assert.equal(wrong.code, 'ERR_STORAGE_FAILED')
  assert.equal(wrong.message, 'storage.get("hash") failed: Redis answered the error WRONGTYPE')
  assert.equal((await rejection(storage.set('k', 42))).code, 'ERR_INVALID_ARG_TYPE')
})

test('options are checked, and a URL with a password is never repeated', () => {
  for (const [options, pattern] of [
    [undefined, /expects an object with a url/],
    [{}, /needs a url .*, a cluster .* or a sentinel/],
    [{ url: 5 }, /url must be a string/],
    [{ url: redis.url, keyPrefix: 5 }, /keyPrefix must be a string/],
    [{ url: redis.url, commandTimeoutMs: 0 }, /commandTimeoutMs must be a whole number/],
    [{ url: redis.url, connectTimeoutMs: 1.5 }, /connectTimeoutMs must be a whole number/],
  ]) {
    assert.throws(() => new RedisStorage(options), (e) => e instanceof TypeError && pattern.test(e.message), JSON.stringify(options))
  }
  for (const url of ['http://:hunter2@localhost/', 'redis://:hunter2@localhost:port/']) {
    assert.throws(
      () => new RedisStorage({ url }),
      (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /is not usable/.test(e.message) && !e.message.includes('hunter2'),
    )
  }
})

test('sessions are shared both ways with the node-redis adapter, and restored in another process', async () => {
  const adapter = createRedisStorage(client, { prefix: 'both:' })
  const native = open({ url: redis.url, keyPrefix: 'both:' })
  await ccLogin(adapter, 'by-adapter')
  await ccLogin(native, 'by-native')
  assert.deepEqual(await lib.getSessionIdFromStorageAll(native), ['by-adapter', 'by-native'])
  assert.deepEqual(await lib.getSessionIdFromStorageAll(adapter), ['by-adapter', 'by-native'])
  for (const [id, storage] of [
    ['by-adapter', native],
    ['by-native', adapter],
  ]) {
    const session = await lib.getSessionFromStorage(id, { storage })
    assert.equal(session.info.isLoggedIn, true, id)
    assert.equal((await session.fetch(op.privateResource)).status, 200, id)
  }

  // Another process restores both from its own RedisStorage, without a request to the provider.
  const { out } = await child(
    `const lib = require('.'); const binding = require('./binding.js');
    (async () => {
      const storage = new lib.RedisStorage({ url: process.env.URL, keyPrefix: 'both:' })
      const out = {}
      for (const id of ['by-adapter', 'by-native']) {
        const session = await lib.getSessionFromStorage(id, { storage })
        out[id] = { webId: session.info.webId, status: (await session.fetch(process.env.RESOURCE)).status }
      }
      out.sent = binding.httpRequestsSent()
      await storage.close()
      process.stdout.write(JSON.stringify(out))
    })()`,
    { URL: redis.url, RESOURCE: op.privateResource },
  )
  assert.deepEqual(out, { 'by-adapter': { webId: op.webId, status: 200 }, 'by-native': { webId: op.webId, status: 200 }, sent: 0 })

  // A logout through one is seen by the other; a clear through the other empties both.
  await (await lib.getSessionFromStorage('by-adapter', { storage: native })).logout()
  assert.deepEqual(await lib.getSessionIdFromStorageAll(adapter), ['by-native'])
  await lib.clearSessionFromStorageAll(adapter)
  assert.deepEqual(await lib.getSessionIdFromStorageAll(native), [])
})

test('NODE_DEBUG names each Redis round trip by its commands and keys, never a session ID or a value', async () => {
  const storage = open({ url: redis.url, keyPrefix: 'dbg:' })
  await seed(storage, { 'secret-session-id': loggedInRecord() })
  const { stderr } = await child(
    `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ url: process.env.URL, keyPrefix: 'dbg:' })
      await lib.getSessionFromStorage('secret-session-id', { storage, refreshSession: false })
      await lib.getSessionIdFromStorageAll(storage)
    })()`,
    { URL: redis.url, NODE_DEBUG: 'solid-client-authn-native' },
  )
  assert.match(stderr, /Redis: GET <a session record or login state> in \d+ ms/)
  assert.match(stderr, /Redis: GET "solidClientAuthn:registeredSessions" in \d+ ms/)
  assert.ok(!stderr.includes('secret-session-id') && !stderr.includes('SECRET'), stderr)
})

test('rediss://: TLS with a private CA trusted through NODE_EXTRA_CA_CERTS, refused without it', async (t) => {
  const { ca, cert, key } = privateCa(t, 'redis-tls-')
  const tlsPort = await freePort()
  const tls = await startRedis({
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', ca, '--tls-auth-clients', 'no'],
  })
  servers.push(tls)
  const source = `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ url: process.env.URL, commandTimeoutMs: 5000 })
      try {
        await storage.set('k', 'over TLS')
        process.stdout.write(JSON.stringify(await storage.get('k')))
      } catch (e) {
        process.stdout.write(JSON.stringify({ name: e.name, code: e.code, message: e.message }))
      }
    })()`
  const url = `rediss://localhost:${tlsPort}`
  const trusted = await child(source, { URL: url, NODE_EXTRA_CA_CERTS: ca })
  assert.equal(trusted.out, 'over TLS')
  const refused = await child(source, { URL: url, NODE_EXTRA_CA_CERTS: '' })
  assert.equal(refused.out.name, 'StorageError', JSON.stringify(refused.out))
  assert.equal(refused.out.code, 'ERR_STORAGE_FAILED')
  assert.equal(refused.out.message, 'storage.set("k") failed: Redis\'s TLS certificate was not accepted')
  t.diagnostic(`without the CA: ${refused.out.message}`)
})

test('a restore with a good stored token: 2 native calls, 1 GET, nothing else sent to Redis', async () => {
  const storage = open({ url: redis.url, keyPrefix: 'calls:' })
  await ccLogin(storage, 'counted')
  // The first restore makes the storage's handle; the second is the one a server pays per request.
  await lib.getSessionFromStorage('counted', { storage })
  await client.configResetStat()
  const counter = countNativeCalls(binding)
  let session
  try {
    session = await lib.getSessionFromStorage('counted', { storage })
  } finally {
    counter.stop()
  }
  const stats = await commandStats()
  assert.equal(session.info.isLoggedIn, true)
  assert.ok(counter.total <= 2, `${counter.total} native calls: ${JSON.stringify(counter.byName())}`)
  assert.deepEqual(Object.keys(counter.byName()).sort(), ['resumeOperation', 'restoreSession'].sort(), JSON.stringify(counter.byName()))
  // INFO itself is counted by the time it answers.
  delete stats.info
  delete stats.config
  assert.deepEqual(stats, { get: 1 }, JSON.stringify(stats))
})

test('an operation of many round trips on RedisStorage is still 2 native calls: a restore that logs in again, a logout, a clear', async () => {
  const storage = open({ url: redis.url, keyPrefix: 'chain:' })
  const session = await ccLogin(storage, 'chained')
  await ccLogin(storage, 'other')
  const count = async (action) => {
    const counter = countNativeCalls(binding)
    try {
      return { value: await action(), byName: counter.byName() }
    } finally {
      counter.stop()
    }
  }
  // Its token due: the restore reads the record, logs in again with the client's credentials
  // (discovery from the cache, a token request) and stores the record, without returning to JS
  // between its round trips.
  const key = `chain:${RECORD_PREFIX}chained`
  const record = JSON.parse(await client.get(key))
  await client.set(key, JSON.stringify({ ...record, accessTokenExpiresAt: '0' }))
  await client.configResetStat()
  const sent = binding.httpRequestsSent()
  const restored = await count(() => lib.getSessionFromStorage('chained', { storage }))
  assert.equal(restored.value.info.isLoggedIn, true)
  assert.ok(binding.httpRequestsSent() - sent >= 1, 'it logged in again')
  assert.notEqual(JSON.parse(await client.get(key)).accessTokenExpiresAt, '0', 'the new token is stored')
  assert.deepEqual(restored.byName, { restoreSession: 1, resumeOperation: 1 }, JSON.stringify(restored.byName))
  const stats = await commandStats()
  assert.ok(stats.set >= 1 && stats.get >= 1, JSON.stringify(stats))

  const loggedOut = await count(() => session.logout())
  assert.equal(loggedOut.byName.resumeOperation ?? 0, 1, JSON.stringify(loggedOut.byName))
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['other'])
  const cleared = await count(() => lib.clearSessionFromStorageAll(storage))
  assert.deepEqual(cleared.byName, { clearAllSessions: 1, resumeOperation: 1 }, JSON.stringify(cleared.byName))
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), [])
})

test('refresh with rotation across processes: two on RedisStorage and two on the node-redis adapter share sessions, with leases; no grant revoked', { timeout: 300_000 }, async () => {
  const storage = open({ url: redis.url, keyPrefix: 'cp-native:' })
  const workers = ['native', 'native', 'adapter', 'adapter'].map((kind) => ({ STORAGE: kind, REDIS_URL: redis.url }))
  const { reports, refreshRequests, ids } = await rotationAcrossProcesses({ storage, prefix: 'cp-native:', workers })
  const fetched = (from, to) => reports.slice(from, to).reduce((n, r) => n + r.fetched, 0)
  console.log(`# ${fetched(0, 2)} fetches on RedisStorage, ${fetched(2, 4)} on the adapter, ${refreshRequests} token requests for ${ids.length} sessions`)
})

test('logins in two processes at once, one on RedisStorage and one on the adapter, keep every ID in the session list', { timeout: 120_000 }, async () => {
  const source = `const lib = require('.');
    const { createClient } = require('redis');
    const { createRedisStorage } = require('./examples/redis-storage.js');
    (async () => {
      let client, storage
      if (process.env.KIND === 'native') storage = new lib.RedisStorage({ url: process.env.URL, keyPrefix: 'race:' })
      else {
        client = createClient({ url: process.env.URL }); await client.connect()
        storage = createRedisStorage(client, { prefix: 'race:' })
      }
      await Promise.all(Array.from({ length: 50 }, async (_, i) => {
        const session = new lib.Session({ storage, keepAlive: false }, process.env.KIND + '-' + i)
        await session.login({ oidcIssuer: process.env.ISSUER, clientId: process.env.CLIENT_ID, clientSecret: process.env.CLIENT_SECRET })
      }))
      await client?.quit(); await storage.close?.()
    })()`
  const env = { URL: redis.url, ISSUER: op.issuer, CLIENT_ID: op.clientId, CLIENT_SECRET: op.clientSecret }
  await Promise.all(['native', 'adapter'].map((KIND) => child(source, { ...env, KIND }, 100_000)))
  const listed = await lib.getSessionIdFromStorageAll(open({ url: redis.url, keyPrefix: 'race:' }))
  assert.equal(listed.length, 100, `${100 - listed.length} IDs lost from the session list`)
  assert.equal(new Set(listed).size, 100)
})

test('Redis killed and restarted mid-run: calls reject at once with StorageError, nothing is lost, the storage reconnects', async (t) => {
  const durable = await startRedis({ persist: true })
  servers.push(durable)
  const storage = open({ url: durable.url, keyPrefix: 'run:' })
  const run = await runThroughOutages({ storage, redis: durable, logIn: ccLogin, webId: op.webId })
  await checkOutages(t, storage, run)
})

test('a frozen Redis (SIGSTOP): calls reject with ERR_STORAGE_TIMEOUT after the storage timeout or commandTimeoutMs, and work once it goes on', async (t) => {
  const storage = open({ url: redis.url, keyPrefix: 'frozen:' })
  const quick = open({ url: redis.url, keyPrefix: 'frozen:', commandTimeoutMs: 200 })
  await seed(storage, { f: loggedInRecord() })
  assert.deepEqual(await lib.getSessionIdFromStorageAll(quick), ['f'])
  lib.setStorageTimeout(300)
  t.after(() => {
    lib.setStorageTimeout(10_000)
    redis.resume()
  })
  redis.pause()
  const started = performance.now()
  const [listed, restored, direct] = await Promise.all([
    rejection(lib.getSessionIdFromStorageAll(storage)),
    rejection(lib.getSessionFromStorage('f', { storage, refreshSession: false })),
    rejection(storage.get('x')),
  ])
  const took = performance.now() - started
  for (const error of [listed, restored, direct]) {
    assert.ok(error instanceof StorageError, String(error))
    assert.equal(error.code, 'ERR_STORAGE_TIMEOUT')
  }
  assert.match(listed.message, /did not settle within 300 ms/)
  assert.ok(took >= 290 && took < 2000, `took ${ms(took)}`)
  const quickStarted = performance.now()
  const quickError = await rejection(lib.getSessionIdFromStorageAll(quick))
  assert.equal(quickError.code, 'ERR_STORAGE_TIMEOUT')
  assert.match(quickError.message, /within 200 ms/)
  t.diagnostic(`frozen: rejected with ERR_STORAGE_TIMEOUT after ${ms(took)} (storage timeout 300 ms), ${ms(performance.now() - quickStarted)} with commandTimeoutMs 200`)
  redis.resume()
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['f'])
  assert.equal((await lib.getSessionFromStorage('f', { storage, refreshSession: false })).info.webId, loggedInRecord().webId)
})

test('worker threads on RedisStorage, terminated with calls in flight, leave the process well', async () => {
  const { Worker } = require('node:worker_threads')
  const source = `const lib = require(${JSON.stringify(ROOT)});
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const storage = new lib.RedisStorage({ url: workerData, keyPrefix: 'workers:' })
      for (let i = 0; i < 50; i++) await storage.set('k' + i, 'v')
      parentPort.postMessage(await lib.getSessionIdFromStorageAll(storage))
      for (;;) await Promise.all(Array.from({ length: 50 }, (_, i) => storage.get('k' + i)))
    })()`
  for (let round = 0; round < 5; round++) {
    const worker = new Worker(source, { eval: true, workerData: redis.url })
    const listed = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    assert.deepEqual(listed, [])
    await sleep(20)
    await worker.terminate()
  }
  const storage = open({ url: redis.url, keyPrefix: 'workers:' })
  assert.equal(await storage.get('k1'), 'v', 'the main thread goes on')
})

test('a write the timeout cut off keeps its key locked for another timeout, lest it land after a later update', async (t) => {
  const storage = open({ url: redis.url, keyPrefix: 'late:', commandTimeoutMs: 300 })
  await ccLogin(storage, 'lw')
  await ccLogin(storage, 'other')
  const record = JSON.parse(await storage.get(`${RECORD_PREFIX}lw`))
  t.after(() => redis.resume())
  redis.pause()
  const cut = await rejection(storage.set(`${RECORD_PREFIX}lw`, JSON.stringify({ ...record, lateMark: 'landed' })))
  assert.equal(cut.code, 'ERR_STORAGE_TIMEOUT')
  const timedOutAt = performance.now()
  redis.resume()
  // A restore takes its record's key lock: another session's is free, this one's waits for the
  // late write's lock to lapse.
  await lib.getSessionFromStorage('other', { storage })
  const free = performance.now() - timedOutAt
  const held = await lib.getSessionFromStorage('lw', { storage })
  const waited = performance.now() - timedOutAt
  assert.equal(held.info.isLoggedIn, true)
  assert.ok(free < 200, `another key waited ${ms(free)}`)
  assert.ok(waited >= 250, `the written key was free after ${ms(waited)}`)
  assert.equal(JSON.parse(await client.get(`late:${RECORD_PREFIX}lw`)).lateMark, 'landed', 'the late write landed')
  t.diagnostic(`late write: other keys free after ${ms(free)}, the written one after ${ms(waited)} (timeout 300 ms)`)
})

test('the process exits: after close(), with a forgotten open storage, and with a call in flight to a frozen Redis', async (t) => {
  const script = (end) => `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ url: process.env.URL, keyPrefix: 'exit:', commandTimeoutMs: 1000 })
      await storage.set('k', 'v')
      const ids = await lib.getSessionIdFromStorageAll(storage)
      ${end}
      process.stdout.write(JSON.stringify({ value: await storage.get('k').catch((e) => e.code), ids }))
    })()`
  const closed = await child(script('await storage.close()'), { URL: redis.url }, 20_000)
  assert.deepEqual(closed.out, { value: 'ERR_STORAGE_FAILED', ids: [] })
  const forgotten = await child(script(''), { URL: redis.url }, 20_000)
  assert.deepEqual(forgotten.out, { value: 'v', ids: [] })
  assert.ok(forgotten.elapsed < 5_000, `took ${forgotten.elapsed} ms`)

  // A call to a frozen Redis holds the process until its timeout, no longer.
  const frozen = await startRedis()
  servers.push(frozen)
  const warm = `const lib = require('.');
    const storage = new lib.RedisStorage({ url: process.env.URL, commandTimeoutMs: 1000 })
    storage.get('k').then(() => { process.kill(Number(process.env.REDIS_PID), 'SIGSTOP'); storage.get('k').catch((e) => process.stdout.write(JSON.stringify(e.code))) })`
  t.after(() => frozen.resume())
  const hung = await child(warm, { URL: frozen.url, REDIS_PID: String(frozen.pid) }, 20_000)
  frozen.resume()
  assert.equal(hung.out, 'ERR_STORAGE_TIMEOUT')
  assert.ok(hung.elapsed < 6_000, `took ${hung.elapsed} ms`)
  t.diagnostic(`exit: closed ${closed.elapsed} ms, forgotten ${forgotten.elapsed} ms, frozen with a call in flight ${hung.elapsed} ms (command timeout 1,000 ms)`)
})

'use strict'
// The package's RedisStorage on a Redis Cluster (src/redis/cluster.rs): three masters with a
// replica each, started by support/redis-cluster.js. The multi-session functions with records on
// every master (a batch's keys span slots, so it goes out as one pipeline per slot); sessions
// shared both ways with node-redis's cluster client under examples/redis-storage.js; leases
// (`setIfAbsent` as SET NX PX) from JS; rediss:// on a TLS cluster; a master killed mid-run,
// during which every call settles within the command timeout, logged in or with a StorageError,
// and after which every session restores; refresh with rotation across four processes on it; and
// the process exiting after close() or with the storage forgotten.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')
const lib = require('..')
const { startRedisCluster, slotOf, connectClusterClient } = require('./support/redis-cluster.js')
const { rotationAcrossProcesses } = require('./support/rotation.js')
const { throughFailover } = require('./support/failover.js')
const { startFakeIdp } = require('./support/fake-idp.js')
const { createRedisStorage } = require('../examples/redis-storage.js')
const { LIST_KEY, RECORD_PREFIX, rejection, runChild: child, eventually, seed, loggedInRecord, privateCa } = require('./helpers.js')

const { RedisStorage, StorageError, Session, getSessionFromStorage, getSessionIdFromStorageAll, clearSessionFromStorageAll } = lib

let cluster
let client // node-redis's cluster client, to look at what RedisStorage wrote
let idp
const opened = []

test.before(async () => {
  ;[cluster, idp] = await Promise.all([startRedisCluster(), startFakeIdp()])
  idp.answer('normal')
  client = await connectClusterClient(cluster)
})
test.after(async () => {
  await Promise.all(opened.map((s) => s.close()))
  await client?.close?.().catch(() => {})
  await Promise.all([cluster?.stop(), idp?.close()])
})

function open(options) {
  const storage = new RedisStorage(options)
  opened.push(storage)
  return storage
}

async function login(storage, id) {
  const session = new Session({ storage, keepAlive: false }, id)
  await session.login({ oidcIssuer: idp.issuer, clientId: 'cluster-client', clientSecret: 'cluster-secret' })
  return session
}

const tokenRequests = () => idp.requests.filter((r) => r.path === '/token').length

/** The ports of the masters holding `keys` now. */
const mastersOf = (keys) => new Set(keys.map((key) => client.getSlotMaster(slotOf(key)).port))

/** Every key under `prefix` on every master. */
async function keysUnder(prefix) {
  const lists = await Promise.all(client.masters.map(async (master) => (await client.nodeClient(master)).keys(`${prefix}*`)))
  return lists.flat().sort()
}

test('the multi-session functions on a cluster: records on every master, listed, restored, logged out, cleared', async () => {
  const storage = open({ cluster: cluster.urls, keyPrefix: 'multi:' })
  const ids = Array.from({ length: 24 }, (_, i) => `multi-${i}`)
  const asked = tokenRequests()
  for (const id of ids) await login(storage, id)
  assert.equal(tokenRequests() - asked, ids.length)

  const masters = await cluster.masterPorts()
  assert.equal(mastersOf(ids.map((id) => `multi:${RECORD_PREFIX}${id}`)).size, masters.length, 'the records are on every master')
  // The reference's layout, under the prefix, as node-redis reads it.
  assert.deepEqual(JSON.parse(await client.get(`multi:${LIST_KEY}`)), ids)
  assert.equal(JSON.parse(await client.get(`multi:${RECORD_PREFIX}multi-3`)).issuer, idp.issuer)

  assert.deepEqual(await getSessionIdFromStorageAll(storage), ids)
  const restored = await Promise.all(ids.map((id) => getSessionFromStorage(id, { storage })))
  assert.deepEqual(
    restored.map((s) => s?.info.isLoggedIn),
    ids.map(() => true),
  )
  assert.equal(tokenRequests() - asked, ids.length, 'restores use the stored access tokens')
  assert.equal(await getSessionFromStorage('nobody', { storage }), undefined)

  await restored[5].logout()
  assert.deepEqual(await getSessionIdFromStorageAll(storage), ids.filter((id) => id !== 'multi-5'))
  assert.equal(await client.get(`multi:${RECORD_PREFIX}multi-5`), null)

  // A clear deletes records on every master in one batch.
  await clearSessionFromStorageAll(storage)
  assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
  const left = await keysUnder('multi:')
  assert.deepEqual(left.filter((key) => key.includes(RECORD_PREFIX)), [], `left: ${left.join(', ')}`)
})

test('options: exactly one of url and cluster; node urls checked, a password never repeated', () => {
  for (const [options, pattern] of [
    [{}, /needs a url .*, a cluster .* or a sentinel/],
    [{ url: cluster.urls[0], cluster: cluster.urls }, /one of a url .*, a cluster .* or a sentinel .*, not several/],
    [{ cluster: [] }, /cluster must be a non-empty array/],
    [{ cluster: [cluster.urls[0], 5] }, /cluster must be a non-empty array/],
    [{ cluster: {} }, /cluster must be a non-empty array/],
    [{ cluster: cluster.urls, keyPrefix: 1 }, /keyPrefix must be a string/],
    [{ cluster: cluster.urls, commandTimeoutMs: -1 }, /commandTimeoutMs must be a whole number/],
  ]) {
    assert.throws(() => new RedisStorage(options), (e) => e instanceof TypeError && pattern.test(e.message), JSON.stringify(options))
  }
  for (const nodes of [['redis://:hunter2@localhost:port/'], ['unix:///tmp/x.sock'], ['redis://:hunter2@127.0.0.1:1', 'redis://:other@127.0.0.1:2'], ['redis://127.0.0.1:1', 'rediss://127.0.0.1:2']]) {
    assert.throws(
      () => new RedisStorage({ cluster: nodes }),
      (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /not usable/.test(e.message) && !e.message.includes('hunter2'),
      nodes.join(' '),
    )
  }
  // One node's URL (a string or a URL) is enough: the client learns the others from it.
  open({ cluster: new URL(cluster.urls[1]) })
  open({ cluster: [cluster.urls[2]] })
})

test('sessions are shared both ways with the node-redis cluster adapter', async () => {
  const adapter = createRedisStorage(client, { prefix: 'both:' })
  const native = open({ cluster: cluster.urls.slice(0, 1), keyPrefix: 'both:' })
  const byAdapter = Array.from({ length: 6 }, (_, i) => `by-adapter-${i}`)
  const byNative = Array.from({ length: 6 }, (_, i) => `by-native-${i}`)
  for (const id of byAdapter) await login(adapter, id)
  for (const id of byNative) await login(native, id)
  assert.equal(mastersOf([...byAdapter, ...byNative].map((id) => `both:${RECORD_PREFIX}${id}`)).size, 3)
  assert.deepEqual(await getSessionIdFromStorageAll(native), [...byAdapter, ...byNative])
  assert.deepEqual(await getSessionIdFromStorageAll(adapter), [...byAdapter, ...byNative])
  const asked = tokenRequests()
  for (const [ids, storage] of [
    [byAdapter, native],
    [byNative, adapter],
  ]) {
    for (const id of ids) assert.equal((await getSessionFromStorage(id, { storage }))?.info.isLoggedIn, true, id)
  }
  assert.equal(tokenRequests(), asked, 'each restored the other\'s stored access tokens')

  // A logout through one is seen by the other; a clear through the other empties both.
  await (await getSessionFromStorage('by-adapter-0', { storage: native })).logout()
  assert.deepEqual(await getSessionIdFromStorageAll(adapter), [...byAdapter.slice(1), ...byNative])
  await clearSessionFromStorageAll(adapter)
  assert.deepEqual(await getSessionIdFromStorageAll(native), [])
})

test('its IStorage methods called directly, and leases (setIfAbsent as SET NX PX) in every slot', async () => {
  const storage = open({ cluster: cluster.urls, keyPrefix: 'direct:' })
  assert.equal(await storage.get('missing'), undefined)
  await storage.set('k', 'v é 😀')
  assert.equal(await client.get('direct:k'), 'v é 😀')
  await storage.delete('k')
  assert.equal(await storage.get('k'), undefined)

  // Leases on keys of every master; many stores at once, 10 attempts each sent together: one wins per key.
  const leases = Array.from({ length: 12 }, (_, i) => `lease-${i}`)
  assert.equal(mastersOf(leases.map((k) => `direct:${k}`)).size, 3)
  const stores = Array.from({ length: 4 }, () => open({ cluster: cluster.urls, keyPrefix: 'direct:' }))
  for (const key of leases) {
    const attempts = stores.flatMap((s, i) => Array.from({ length: 10 }, (_, j) => s.setIfAbsent(key, `${i}-${j}`, 5000)))
    const won = (await Promise.all(attempts)).filter(Boolean)
    assert.equal(won.length, 1, key)
    const ttl = await client.pTTL(`direct:${key}`)
    assert.ok(ttl > 1000 && ttl <= 5000, `PTTL ${ttl}`)
  }
  assert.equal(await storage.setIfAbsent('short', 'a', 100), true)
  await sleep(300)
  assert.equal(await storage.setIfAbsent('short', 'b', 5000), true, 'the lapsed lease is taken again')

  await client.hSet('direct:hash', 'f', 'v')
  const wrong = await rejection(storage.get('hash'))
  assert.ok(wrong instanceof StorageError, String(wrong))
  assert.equal(wrong.message, 'storage.get("hash") failed: Redis answered the error WRONGTYPE')
})

test('the process exits: after close(), and with the storage forgotten', async () => {
  const script = (end) => `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ cluster: JSON.parse(process.env.URLS), keyPrefix: 'exit:', commandTimeoutMs: 2000 })
      await storage.set('k', 'v')
      const ids = await lib.getSessionIdFromStorageAll(storage)
      ${end}
      process.stdout.write(JSON.stringify({ value: await storage.get('k').catch((e) => e.code), ids }))
    })()`
  const env = { URLS: JSON.stringify(cluster.urls) }
  const closed = await child(script('await storage.close()'), env)
  assert.deepEqual(closed.out, { value: 'ERR_STORAGE_FAILED', ids: [] })
  const forgotten = await child(script(''), env)
  assert.deepEqual(forgotten.out, { value: 'v', ids: [] })
  assert.ok(forgotten.elapsed < 5_000, `took ${forgotten.elapsed} ms`)
})

test('NODE_DEBUG on a cluster names each round trip by its commands and keys by kind, never a session ID or a value', async () => {
  const storage = open({ cluster: cluster.urls, keyPrefix: 'dbg:' })
  const ids = ['secret-session-id-1', 'secret-session-id-2', 'secret-session-id-3']
  await seed(storage, Object.fromEntries(ids.map((id) => [id, loggedInRecord()])))
  const { stderr } = await child(
    `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ cluster: JSON.parse(process.env.URLS), keyPrefix: 'dbg:' })
      await lib.getSessionFromStorage('secret-session-id-1', { storage, refreshSession: false })
      await lib.getSessionIdFromStorageAll(storage)
      await lib.clearSessionFromStorageAll(storage)
      await storage.close()
    })()`,
    { URLS: JSON.stringify(cluster.urls), NODE_DEBUG: 'solid-client-authn-native' },
  )
  const lines = stderr.split('\n').filter((line) => line.includes('Redis: '))
  assert.ok(lines.some((line) => /Redis: GET <a session record or login state> in \d+ ms$/.test(line)), stderr)
  assert.ok(lines.some((line) => /Redis: GET "solidClientAuthn:registeredSessions" in \d+ ms$/.test(line)), stderr)
  assert.ok(lines.some((line) => /Redis: .*DEL <a session record or login state>/.test(line)), stderr)
  for (const secret of [...ids, 'SECRET', 'dbg:']) assert.ok(!stderr.includes(secret), `${secret} in:\n${stderr}`)
  assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
})

test('rediss:// on a TLS cluster: a private CA trusted through NODE_EXTRA_CA_CERTS, refused without it', async (t) => {
  // The nodes announce themselves by IP address: the certificate names it.
  const { ca, cert, key } = privateCa(t, 'redis-cluster-tls-')
  const tlsCluster = await startRedisCluster({ replicas: 0, tls: { cert, key, ca } })
  t.after(() => tlsCluster.stop())
  const source = `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ cluster: process.env.URL, keyPrefix: 'tls:', commandTimeoutMs: 5000 })
      try {
        const keys = Array.from({ length: 12 }, (_, i) => 'k' + i)
        await Promise.all(keys.map((k) => storage.set(k, 'over TLS ' + k)))
        process.stdout.write(JSON.stringify(await Promise.all(keys.map((k) => storage.get(k)))))
      } catch (e) {
        process.stdout.write(JSON.stringify({ name: e.name, code: e.code, message: e.message }))
      }
      await storage.close()
    })()`
  // One node's URL: the others are learnt from it, and reached over TLS too.
  const url = tlsCluster.tlsUrls[0]
  const trusted = await child(source, { URL: url, NODE_EXTRA_CA_CERTS: ca })
  assert.deepEqual(trusted.out, Array.from({ length: 12 }, (_, i) => `over TLS k${i}`))
  const refused = await child(source, { URL: url, NODE_EXTRA_CA_CERTS: '' })
  assert.equal(refused.out.name, 'StorageError', JSON.stringify(refused.out))
  assert.equal(refused.out.code, 'ERR_STORAGE_FAILED')
  // The crate's cluster client keeps the certificate's refusal to itself: the message says what may have happened.
  assert.match(refused.out.message, /^storage\.set\("k\d+"\) failed: no node of the Redis Cluster could be reached \(down, refusing, or its TLS certificate not accepted\)$/)
  assert.ok(refused.elapsed < 5_000, `took ${refused.elapsed} ms`)
  t.diagnostic(`without the CA, after ${refused.elapsed} ms: ${refused.out.message}`)
})

test('refresh with rotation across four processes on the cluster, with leases: one refresh per token lifetime, no grant revoked', { timeout: 300_000 }, async () => {
  const storage = open({ cluster: cluster.urls, keyPrefix: 'cp-cluster:' })
  const workers = Array.from({ length: 4 }, () => ({ STORAGE: 'native-cluster', REDIS_URL: cluster.urls.join(',') }))
  await rotationAcrossProcesses({ storage, prefix: 'cp-cluster:', workers, sessions: 12 })
})

test('a frozen master: calls on its slots reject with ERR_STORAGE_TIMEOUT after commandTimeoutMs, while the other masters answer', async (t) => {
  const storage = open({ cluster: cluster.urls, keyPrefix: 'frozen:', commandTimeoutMs: 400 })
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`)
  for (const key of keys) await storage.set(key, `v-${key}`)
  const [port] = await cluster.masterPorts()
  const frozenKeys = keys.filter((k) => client.getSlotMaster(slotOf(`frozen:${k}`)).port === port)
  const liveKeys = keys.filter((k) => !frozenKeys.includes(k))
  assert.ok(frozenKeys.length > 0 && liveKeys.length > 0)
  // Frozen for less than the cluster's node timeout (1 s), so that no failover starts.
  const node = cluster.nodes.find((n) => n.port === port)
  node.pause()
  t.after(() => node.resume())
  const started = Date.now()
  const [frozen, live] = await Promise.all([rejection(storage.get(frozenKeys[0])), storage.get(liveKeys[0])])
  const waited = Date.now() - started
  node.resume()
  assert.ok(frozen instanceof StorageError, String(frozen))
  assert.equal(frozen.code, 'ERR_STORAGE_TIMEOUT')
  assert.equal(live, `v-${liveKeys[0]}`)
  assert.ok(waited >= 350 && waited < 900, `waited ${waited} ms`)
  // Thawed: the same connection answers again.
  assert.deepEqual(await Promise.all(keys.map((k) => storage.get(k))), keys.map((k) => `v-${k}`))
})

// Last: it leaves the cluster with a master down (its replica promoted).
test('a master killed mid-run: calls settle within the command timeout, and afterwards every session restores and nothing is lost', async (t) => {
  const commandTimeoutMs = 5_000
  const storage = open({ cluster: cluster.urls, keyPrefix: 'failover:', commandTimeoutMs })
  const ids = Array.from({ length: 24 }, (_, i) => `failover-${i}`)
  for (const id of ids) await login(storage, id)
  const masters = await cluster.masterPorts()
  assert.equal(mastersOf(ids.map((id) => `failover:${RECORD_PREFIX}${id}`)).size, masters.length)
  // Replication is asynchronous: let the replicas have the writes before a master dies.
  await Promise.all(masters.map((port) => waitReplicated(port)))
  const asked = tokenRequests()

  // Restores, one after another, and logins of new sessions, for as long as the failover takes.
  const failingOver = cluster.killMaster(masters[0])
  await sleep(100) // the master is dead: a login from now on cannot be acknowledged by it and then lost
  const during = await throughFailover(t, { storage, ids, login, failingOver, commandTimeoutMs })

  // Healthy again: every session restores, and every login that resolved is kept.
  const all = [...ids, ...during.logins]
  const after = await eventually(() => Promise.all(all.map(async (id) => (await getSessionFromStorage(id, { storage }))?.info.isLoggedIn)), (e) => e instanceof StorageError)
  assert.deepEqual(after, all.map(() => true))
  const listed = await getSessionIdFromStorageAll(storage)
  for (const id of all) assert.ok(listed.includes(id), `${id} is listed`)
  assert.equal(tokenRequests() - asked, during.logins.length, 'no restore asked the provider')
})

/** Resolves once the master on `port` has its writes acknowledged by its replica. */
async function waitReplicated(port) {
  const master = client.masters.find((m) => m.port === port)
  const node = await client.nodeClient(master)
  await node.sendCommand(['WAIT', '1', '2000'])
}

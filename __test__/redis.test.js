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
const { startRedis } = require('./support/redis.js')
const { startOp } = require('./support/servers.js')
const { runThroughOutages, checkOutages } = require('./support/redis-outage.js')
const { checkMultiSessionFunctions } = require('./support/redis-contract.js')
const { createRedisStorage, redisClientOptions } = require('../examples/redis-storage.js')
const { loggedInRecord, seed, rejection } = require('./helpers.js')

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
  await checkMultiSessionFunctions({ storage, other, client, op, logIn: ccLogin })
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
  await checkOutages(t, storage, await runThroughOutages({ storage, redis: durable, logIn: ccLogin, webId: op.webId }))
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

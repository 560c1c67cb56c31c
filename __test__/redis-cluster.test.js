'use strict'
// Sessions on a Redis Cluster (issue 18): three masters with a replica each, started by
// support/redis-cluster.js, reached through node-redis's cluster client and the IStorage of
// examples/redis-storage.js. Logins spread their records over the slots of every master; one
// master is killed as a crash would, and while its replica takes over every restore either
// succeeds or rejects with a StorageError (never a crash or a hang); once the cluster is healthy
// again every session restores, logged in, and the session list is whole.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startRedisCluster, slotOf, connectClusterClient } = require('./support/redis-cluster.js')
const { startFakeIdp } = require('./support/fake-idp.js')
const { createRedisStorage } = require('../examples/redis-storage.js')

const { Session, getSessionFromStorage, getSessionIdFromStorageAll, StorageError } = lib

let cluster
let client
let idp
test.before(async () => {
  ;[cluster, idp] = await Promise.all([startRedisCluster(), startFakeIdp()])
  idp.answer('normal')
  client = await connectClusterClient(cluster)
})
test.after(async () => {
  await client?.close?.().catch(() => {})
  await Promise.all([cluster?.stop(), idp?.close()])
})

test('sessions on a Redis Cluster survive a master failing over', async (t) => {
  const storage = createRedisStorage(client, { prefix: 'cluster-test:' })
  const ids = Array.from({ length: 24 }, (_, i) => `cluster-session-${i}`)
  for (const id of ids) {
    const session = new Session({ storage, keepAlive: false }, id)
    await session.login({ oidcIssuer: idp.issuer, clientId: 'cluster-client', clientSecret: 'cluster-secret' })
  }
  // The records are spread over every master's slots.
  const masters = await cluster.masterPorts()
  const holding = new Set(ids.map((id) => client.getSlotMaster(slotOf(`cluster-test:solidClientAuthenticationUser:${id}`)).port))
  assert.equal(holding.size, masters.length, `records on ${[...holding]} of masters ${masters}`)
  assert.deepEqual((await getSessionIdFromStorageAll(storage)).sort(), [...ids].sort())
  // Replication is asynchronous: let the replicas have the writes before a master dies.
  await Promise.all(masters.map((port) => waitReplicated(port)))

  // Restores go on, one session after another, for as long as the failover takes.
  let failedOver = false
  const failingOver = cluster.killMaster().finally(() => (failedOver = true))
  const during = { loggedIn: 0, storageErrors: 0 }
  for (let i = 0; !failedOver; i++) {
    try {
      const session = await getSessionFromStorage(ids[i % ids.length], { storage })
      assert.equal(session?.info.isLoggedIn, true)
      during.loggedIn++
    } catch (error) {
      assert.ok(error instanceof StorageError, `a restore during the failover rejected with ${error}`)
      during.storageErrors++
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  await failingOver
  t.diagnostic(`during the failover: ${during.loggedIn} restores logged in, ${during.storageErrors} rejected with a StorageError`)
  assert.ok(during.storageErrors > 0, 'the killed master was asked for its sessions while it was down')

  // Healthy again: the client learns the new layout on its first redirected call.
  const after = await eventually(() => Promise.all(ids.map(async (id) => (await getSessionFromStorage(id, { storage }))?.info.isLoggedIn)))
  assert.deepEqual(after, ids.map(() => true))
  assert.deepEqual((await getSessionIdFromStorageAll(storage)).sort(), [...ids].sort())
  assert.equal(idp.requests.filter((r) => r.path === '/token').length, ids.length, 'no restore asked the provider')
})

/** Retries `fn` for up to 10 s while it rejects with a StorageError (the client finding the new master). */
async function eventually(fn) {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      return await fn()
    } catch (error) {
      if (!(error instanceof StorageError) || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}

/** Resolves once the master on `port` has its writes acknowledged by its replica. */
async function waitReplicated(port) {
  const master = client.masters.find((m) => m.port === port)
  const node = await client.nodeClient(master)
  await node.sendCommand(['WAIT', '1', '2000'])
}

'use strict'
// One of the processes of __test__/cross-process.test.js: for DURATION_MS it restores each of
// its sessions from Redis again and again, as a server restores one per request, and reads the
// private resource with it. Prints what happened as JSON. STORAGE=native runs it on the
// package's RedisStorage instead of the node-redis adapter (__test__/redis-storage.test.js), and
// STORAGE=native-cluster on a RedisStorage over a Redis Cluster (redis-storage-cluster.test.js),
// STORAGE=native-sentinel behind Redis Sentinel (redis-storage-sentinel.test.js).
const { createClient } = require('redis')
const { getSessionFromStorage, RedisStorage } = require('../..')
const { createRedisStorage, redisClientOptions } = require('../../examples/redis-storage.js')

const { REDIS_URL, PREFIX, IDS, RESOURCE, DURATION_MS, ATOMIC, STORAGE } = process.env

/**
 * STORAGE=native: a RedisStorage on REDIS_URL; native-cluster: on the cluster whose nodes REDIS_URL
 * lists (commas); native-sentinel: behind the sentinels SENTINEL gives (the option, as JSON).
 */
function nativeStorage() {
  if (STORAGE === 'native') return new RedisStorage({ url: REDIS_URL, keyPrefix: PREFIX })
  if (STORAGE === 'native-cluster') return new RedisStorage({ cluster: REDIS_URL.split(','), keyPrefix: PREFIX })
  if (STORAGE === 'native-sentinel') return new RedisStorage({ sentinel: JSON.parse(process.env.SENTINEL), keyPrefix: PREFIX })
}

async function main() {
  const native = nativeStorage()
  const client = native === undefined ? createClient(redisClientOptions(REDIS_URL)) : undefined
  client?.on('error', () => {})
  await client?.connect()
  const full = native ?? createRedisStorage(client, { prefix: PREFIX })
  // Without setIfAbsent the package falls back to leases written and read back.
  const storage = ATOMIC === '1' ? full : { get: full.get, set: full.set, delete: full.delete }
  const end = Date.now() + Number(DURATION_MS)
  const report = { restores: 0, fetched: 0, failures: [], refreshes: {} }
  const loop = async (id) => {
    report.refreshes[id] = 0
    while (Date.now() < end) {
      try {
        const session = await getSessionFromStorage(id, { storage, onNewRefreshToken: () => report.refreshes[id]++ })
        report.restores++
        if (!session?.info.isLoggedIn) throw new Error(`session ${id} restored logged out`)
        const response = await session.fetch(RESOURCE)
        if (response.status !== 200) throw new Error(`session ${id}: the resource answered ${response.status}: ${await response.text()}`)
        report.fetched++
      } catch (e) {
        report.failures.push(`${e.name}: ${e.message}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 400 + Math.random() * 400))
    }
  }
  await Promise.all(IDS.split(',').map(loop))
  await client?.quit()
  await native?.close()
  return report
}

main().then(
  (report) => process.stdout.write(JSON.stringify(report)),
  (e) => {
    process.stderr.write(`${e.stack}\n`)
    process.exitCode = 1
  },
)

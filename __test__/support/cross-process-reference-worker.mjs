// A process running the reference (@inrupt/solid-client-authn-node) beside ours on the same
// Redis, restoring the same sessions: __test__/cross-process.test.js checks that it does not
// make ours fail. Prints what happened to it as JSON (its own failures are allowed).
import { createRequire } from 'node:module'
import { getSessionFromStorage } from '@inrupt/solid-client-authn-node'

const require = createRequire(import.meta.url)
const { createClient } = require('redis')
const { createRedisStorage, redisClientOptions } = require('../../examples/redis-storage.js')

const { REDIS_URL, PREFIX, IDS, RESOURCE, DURATION_MS } = process.env
const client = createClient(redisClientOptions(REDIS_URL))
client.on('error', () => {})
await client.connect()
const full = createRedisStorage(client, { prefix: PREFIX })
const storage = { get: full.get, set: full.set, delete: full.delete }
const end = Date.now() + Number(DURATION_MS)
const report = { restores: 0, fetched: 0, failures: [] }
await Promise.all(
  IDS.split(',').map(async (id) => {
    while (Date.now() < end) {
      try {
        const session = await getSessionFromStorage(id, { storage })
        report.restores++
        const response = await session.fetch(RESOURCE)
        if (response.status === 200) report.fetched++
        else report.failures.push(`HTTP ${response.status}`)
      } catch (e) {
        report.failures.push(String(e?.message ?? e).slice(0, 200))
      }
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300))
    }
  }),
)
process.stdout.write(JSON.stringify(report), () => process.exit(0))

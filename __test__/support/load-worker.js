'use strict'
// One process of a multi-process run on a shared Redis (__test__/load.test.js and the
// cross-process and load workloads of bench/run.mjs), driven over IPC by support/load.js:
//
//   parent -> { type: 'run', config }   after this process said { type: 'ready' }
//   child  -> { type: 'report', report } and exits
//
// Each request restores a session from Redis with getSessionFromStorage(id, { storage }), as a
// server does per request, and reads a private resource with it. Two shapes:
//
//   mode 'load'      `concurrency` loops, each picking a random session per request, no pause:
//                    as many requests as the machine serves (throughput, latency, RSS per second)
//   mode 'sessions'  one loop per session, 50-250 ms between requests (as
//                    support/cross-process-worker.js): every process uses every session, so
//                    their refreshes meet (refreshes per session, failures)
//   mode 'login'     logs `ids` in with client credentials against `issuer` (ours only), four at
//                    a time, as a process of a server whose users log in at the same moment
//   mode 'floor'     as 'load', but no package: each request is the node-redis GET of a session
//                    record and a plain fetch of the resource with fixed headers (`floorHeaders`,
//                    a proof made once, which the provider refuses as a replay after the first
//                    use, having checked it as any other): what this machine does at the least
//
// The storage is the node-redis IStorage of examples/ (`storage: 'adapter'`, the default), or
// ours' RedisStorage (`storage: 'native'`) on the same Redis and prefix.
//
// The package is ours (`..`) or the reference (`@inrupt/solid-client-authn-node`), from the
// environment variable LOAD_PACKAGE, so that both run the same loop.
const { createClient } = require('redis')
const { createRedisStorage, redisClientOptions } = require('../../examples/redis-storage.js')

const PACKAGE = process.env.LOAD_PACKAGE ?? 'ours'
const REDIS_URL = process.env.LOAD_REDIS_URL

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function loadPackage() {
  if (PACKAGE === 'ours') return require('../..')
  if (PACKAGE === 'reference') return import('@inrupt/solid-client-authn-node')
  throw new Error(`LOAD_PACKAGE must be ours or reference, not ${PACKAGE}`)
}

async function main() {
  const pkg = await loadPackage()
  const client = createClient(redisClientOptions(REDIS_URL))
  client.on('error', () => {})
  await client.connect()
  process.send({ type: 'ready', pid: process.pid })
  const config = await new Promise((resolve) => process.once('message', (m) => resolve(m.config)))
  const report = await run(pkg, client, config)
  await client.quit()
  // Wait until the parent has the report before leaving.
  await new Promise((resolve) => process.send({ type: 'report', report }, resolve))
  process.disconnect()
}

async function run(pkg, client, config) {
  const { mode, prefix, ids, resource, startAt, seconds, concurrency = 64, atomic = true } = config
  const full = config.storage === 'native' ? new pkg.RedisStorage({ url: REDIS_URL, keyPrefix: prefix }) : createRedisStorage(client, { prefix })
  // Without setIfAbsent our package falls back to leases written and read back.
  const storage = atomic ? full : { get: full.get, set: full.set, delete: full.delete }
  if (mode === 'login') {
    // perPidIds: every process gets the same config, and makes the IDs its own.
    const mine = config.perPidIds ? ids.map((id) => `${id}-${process.pid}`) : ids
    await sleep(Math.max(0, startAt - Date.now()))
    let next = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < mine.length) {
          const session = new pkg.Session({ storage, keepAlive: false }, mine[next++])
          await session.login({ oidcIssuer: config.issuer, clientId: config.clientId, clientSecret: config.clientSecret })
        }
      }),
    )
    return { pid: process.pid, loggedIn: mine.length }
  }
  const report = {
    pid: process.pid,
    package: PACKAGE,
    requests: 0,
    ok: 0,
    errors: {},
    firstErrors: [],
    latencyUs: [],
    restoreUs: [],
    refreshes: {},
    rss: [],
    // This process's CPU time (user + system, µs) over the run: its JS thread and, on RedisStorage,
    // the Redis thread too.
    cpuUs: 0,
    startedAt: 0,
    endedAt: 0,
  }
  const fail = (e, id) => {
    const text = `${e?.name ?? 'Error'}${e?.code ? ` ${e.code}` : ''}: ${String(e?.message ?? e).slice(0, 300)}`
    // Errors are grouped by their text without the session ID, so the report stays short.
    const key = text.replaceAll(id, '<id>').replace(/-?\d+ ms/g, 'N ms')
    report.errors[key] = (report.errors[key] ?? 0) + 1
    if (report.firstErrors.length < 5) report.firstErrors.push(text)
  }

  /** The floor's request: the record's GET and a plain fetch with fixed headers, any status. */
  const floorRequest = async (id) => {
    const t0 = performance.now()
    try {
      const record = await client.get(`${prefix}solidClientAuthenticationUser:${id}`)
      if (record === null) throw new Error(`no record for ${id}`)
      const t1 = performance.now()
      await (await fetch(resource, { headers: config.floorHeaders })).text()
      report.ok++
      report.latencyUs.push(Math.round((performance.now() - t0) * 1000))
      report.restoreUs.push(Math.round((t1 - t0) * 1000))
    } catch (e) {
      fail(e, id)
    } finally {
      report.requests++
    }
  }

  /** One request: restore, fetch, read the body. Returns without throwing; failures are counted. */
  const request = async (id) => {
    const t0 = performance.now()
    let session
    try {
      session = await pkg.getSessionFromStorage(id, {
        storage,
        onNewRefreshToken: () => {
          report.refreshes[id] = (report.refreshes[id] ?? 0) + 1
        },
      })
      // The reference sets a refresh timer on every session it restores; a server that restores
      // one per request does not want them (its logout clears it the same way).
      if (session?.lastTimeoutHandle) clearTimeout(session.lastTimeoutHandle)
      const t1 = performance.now()
      if (!session?.info.isLoggedIn) throw new Error(`session ${id} restored ${session ? 'logged out' : 'as undefined'}`)
      // How long the access token had to live when the restore returned (info.expirationDate, ms).
      const leftAtRestore = session.info.expirationDate - Date.now()
      const response = await session.fetch(resource)
      const body = await response.text()
      if (response.status !== 200) {
        const left = Number.isFinite(leftAtRestore) ? ` (its access token had ${Math.round(leftAtRestore)} ms left when the restore returned, ${Math.round(session.info.expirationDate - Date.now())} ms now, ${Math.round(performance.now() - t0)} ms after the request began)` : ''
        throw new Error(`the resource answered ${response.status}: ${body.slice(0, 200)}${left}`)
      }
      const t2 = performance.now()
      report.ok++
      report.latencyUs.push(Math.round((t2 - t0) * 1000))
      report.restoreUs.push(Math.round((t1 - t0) * 1000))
    } catch (e) {
      fail(e, id)
    } finally {
      report.requests++
    }
  }

  await sleep(Math.max(0, startAt - Date.now()))
  report.startedAt = Date.now()
  const end = report.startedAt + seconds * 1000
  // RSS once a second from the start, the first sample at t = 0. With `gc` (the process runs with
  // --expose-gc) a full collection first, so that heapUsed is what is still held.
  const sample = () => {
    if (config.gc && typeof global.gc === 'function') global.gc()
    const m = process.memoryUsage()
    report.rss.push({ t: (Date.now() - report.startedAt) / 1000, n: report.requests, rss: m.rss, heapUsed: m.heapUsed, external: m.external })
  }
  sample()
  const sampler = setInterval(sample, 1000)
  const cpuAtStart = process.cpuUsage()

  if (mode === 'load' || mode === 'floor') {
    const one = mode === 'load' ? request : floorRequest
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < end) await one(ids[Math.floor(Math.random() * ids.length)])
      }),
    )
  } else if (mode === 'sessions') {
    await Promise.all(
      ids.map(async (id) => {
        report.refreshes[id] ??= 0
        while (Date.now() < end) {
          await request(id)
          await sleep(50 + Math.random() * 200)
        }
      }),
    )
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
  const cpu = process.cpuUsage(cpuAtStart)
  report.cpuUs = cpu.user + cpu.system
  clearInterval(sampler)
  sample()
  report.endedAt = Date.now()
  await full.close?.()
  return report
}

main().catch((e) => {
  process.stderr.write(`load worker ${process.pid} (${PACKAGE}): ${e.stack}\n`)
  process.exit(1)
})

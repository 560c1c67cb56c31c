'use strict'
// Many processes on one Redis, for __test__/load.test.js and bench/multi-process.mjs: logging
// many sessions in quickly, running support/load-worker.js in several processes at once, and
// summing up what they report (throughput, latency percentiles, errors, RSS per second).
const { fork } = require('node:child_process')
const path = require('node:path')

const WORKER = path.join(__dirname, 'load-worker.js')
const REDIRECT = 'http://localhost:9/callback'

/** Runs `fn(item)` over `items` with at most `concurrency` at once. */
async function pool(items, concurrency, fn) {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++])
    }),
  )
}

/**
 * Logs `ids` in against the oidc-provider `op` into `storage`, with the package `pkg` ('ours' or
 * 'reference'). IDs in `authcode` (a Set) log in with the authorization-code flow (op-login.mjs
 * drives the provider's pages; a refresh token, a dynamically registered client); the others
 * with client credentials (one token request each; restorable by our package only, divergence
 * 4). No background refresh: the sessions are refreshed by restores alone.
 */
async function logInSessions({ pkg = 'ours', storage, op, ids, authcode = new Set(ids), concurrency = 8, clientName = 'load test' }) {
  const { opLogin } = await import('./op-login.mjs')
  const lib = pkg === 'ours' ? require('../..') : await import('@inrupt/solid-client-authn-node')
  if (pkg !== 'ours' && ids.some((id) => !authcode.has(id))) throw new Error('the reference cannot restore client-credentials sessions')
  await pool(ids, concurrency, async (id) => {
    const session = new lib.Session({ storage, keepAlive: false }, id)
    if (authcode.has(id)) {
      let authorizationUrl
      await session.login({ oidcIssuer: op.issuer, redirectUrl: REDIRECT, clientName, handleRedirect: (url) => (authorizationUrl = url) })
      await session.handleIncomingRedirect(await opLogin(authorizationUrl, { redirectUrl: REDIRECT }))
    } else {
      await session.login({ oidcIssuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret })
    }
    if (session.lastTimeoutHandle) clearTimeout(session.lastTimeoutHandle) // the reference's timer
    if (!session.info.isLoggedIn) throw new Error(`${id} did not log in`)
  })
}

/**
 * Starts `processes` load workers for the package `pkg` on the Redis at `redisUrl`, waits until
 * every one is connected, starts them together on `config` (see load-worker.js) and resolves
 * with their reports. A worker that fails rejects, with its stderr.
 */
async function runProcesses({ processes, pkg = 'ours', redisUrl, config }) {
  const env = { ...process.env, LOAD_PACKAGE: pkg, LOAD_REDIS_URL: redisUrl }
  delete env.NODE_TEST_CONTEXT // set by node --test for its own children
  // config.gc: a full collection before every memory sample (see load-worker.js).
  const execArgv = config.gc ? ['--expose-gc'] : []
  const workers = Array.from({ length: processes }, () => {
    const child = fork(WORKER, [], { env, execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    const killer = setTimeout(() => child.kill('SIGKILL'), (config.seconds + 180) * 1000)
    let ready
    const readyP = new Promise((resolve) => (ready = resolve))
    const done = new Promise((resolve, reject) => {
      let report
      child.on('message', (m) => {
        if (m.type === 'ready') ready()
        else if (m.type === 'report') report = m.report
      })
      child.on('exit', (code, signal) => {
        clearTimeout(killer)
        if (report && code === 0) resolve(report)
        else reject(new Error(`a ${pkg} load worker exited (${signal ?? `code ${code}`}) without a report:\n${stderr.slice(-3000)}`))
      })
    })
    done.catch(() => ready()) // a worker that dies before it is ready must not hang the start
    return { child, readyP, done }
  })
  await Promise.all(workers.map((w) => w.readyP))
  // Together, a moment from now: every process is connected and has its package loaded.
  const startAt = Date.now() + 300
  for (const w of workers) if (w.child.connected) w.child.send({ type: 'run', config: { ...config, startAt } })
  return Promise.all(workers.map((w) => w.done))
}

const MB = 1024 * 1024

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length

/**
 * RSS of one process after its warm-up: the mean of the first quarter of the samples taken after
 * `warmupS` seconds against the mean of the last quarter (MB), and the largest sample.
 */
function rssGrowth(samples, warmupS) {
  const steady = samples.filter((s) => s.t >= warmupS)
  const q = Math.max(1, Math.ceil(steady.length / 4))
  const first = mean(steady.slice(0, q).map((s) => s.rss)) / MB
  const last = mean(steady.slice(-q).map((s) => s.rss)) / MB
  return { first, last, max: Math.max(...samples.map((s) => s.rss)) / MB, samples: steady.length }
}

/**
 * Bytes of heap kept per request after the warm-up: the slope of a least-squares line through
 * (requests so far, heapUsed) over the samples after `warmupS`. Meaningful when the samples were
 * taken after a full collection (config.gc).
 */
function heapPerRequest(samples, warmupS) {
  const xs = samples.filter((s) => s.t >= warmupS)
  if (xs.length < 3) return NaN
  const mx = mean(xs.map((s) => s.n))
  const my = mean(xs.map((s) => s.heapUsed))
  const sxy = xs.reduce((a, s) => a + (s.n - mx) * (s.heapUsed - my), 0)
  const sxx = xs.reduce((a, s) => a + (s.n - mx) ** 2, 0)
  return sxx === 0 ? NaN : sxy / sxx
}

/** Sums the workers' reports up. `warmupS`: the RSS samples before it are left out of the check. */
function summarise(reports, { warmupS }) {
  const latency = reports.flatMap((r) => r.latencyUs).sort((a, b) => a - b)
  const restore = reports.flatMap((r) => r.restoreUs).sort((a, b) => a - b)
  const errors = {}
  for (const r of reports) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v
  const wallS = (Math.max(...reports.map((r) => r.endedAt)) - Math.min(...reports.map((r) => r.startedAt))) / 1000
  const requests = reports.reduce((n, r) => n + r.requests, 0)
  const ok = reports.reduce((n, r) => n + r.ok, 0)
  const refreshes = {}
  for (const r of reports) for (const [id, n] of Object.entries(r.refreshes)) refreshes[id] = (refreshes[id] ?? 0) + n
  return {
    requests,
    ok,
    failed: requests - ok,
    errors,
    firstErrors: reports.flatMap((r) => r.firstErrors).slice(0, 5),
    wallS,
    throughput: ok / wallS,
    p50Ms: percentile(latency, 50) / 1000,
    p99Ms: percentile(latency, 99) / 1000,
    restoreP50Ms: percentile(restore, 50) / 1000,
    restoreP99Ms: percentile(restore, 99) / 1000,
    refreshes,
    processes: reports.map((r) => ({
      pid: r.pid,
      requests: r.requests,
      ok: r.ok,
      rssMB: r.rss.map((s) => Math.round((s.rss / MB) * 10) / 10),
      heapUsedMB: r.rss.map((s) => Math.round((s.heapUsed / MB) * 10) / 10),
      growth: rssGrowth(r.rss, warmupS),
      heapPerRequest: heapPerRequest(r.rss, warmupS),
    })),
  }
}

/** `INFO commandstats` as { command: calls }. */
async function redisCommandCalls(client) {
  const calls = {}
  for (const line of (await client.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim())
    if (m) calls[m[1]] = Number(m[2])
  }
  return calls
}

/** What changed between two snapshots of counters (op.stats() or redisCommandCalls), flattened. */
function delta(before, after) {
  const out = {}
  const walk = (a, b, prefix) => {
    for (const key of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])) {
      const x = a?.[key]
      const y = b?.[key]
      if ((x !== null && typeof x === 'object') || (y !== null && typeof y === 'object')) walk(x, y, `${prefix}${key}.`)
      else if ((y ?? 0) - (x ?? 0) !== 0) out[`${prefix}${key}`] = (y ?? 0) - (x ?? 0)
    }
  }
  walk(before, after, '')
  return out
}

module.exports = { logInSessions, runProcesses, summarise, rssGrowth, heapPerRequest, redisCommandCalls, delta, percentile, pool, REDIRECT }

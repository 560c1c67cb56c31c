// Workloads 10 and 11 of bench/run.mjs: several processes sharing one Redis, ours and the
// reference on the same run, each package with sessions it logged in itself. Each workload starts
// its own oidc-provider per package (startOp from __test__/support/servers.js) and one Redis
// (startRedis from __test__/support/redis.js) for the run; the processes are
// __test__/support/load-worker.js (forked by __test__/support/load.js), the loop of
// __test__/load.test.js and __test__/cross-process.test.js.
//
//  10. cross-process: 4 processes use the same 50 authorization-code sessions, each every
//      50-250 ms, for five lifetimes of 6-second access tokens, against a provider that rotates
//      refresh tokens and revokes the grant when a used one comes back. Failed requests, refused
//      token requests, token requests per session per token lifetime, sessions still logged in.
//  11. load: 1,000 authorization-code sessions, 4 processes x 64 requests in flight for 60 s,
//      each request a restore from Redis and a read of the provider's /private. Throughput,
//      p50/p99 latency, requests to the provider, Redis commands, RSS per process per second.
//      Ours runs on its sessions three times: with the node-redis adapter, with RedisStorage,
//      and as the floor (a GET and a plain fetch with fixed headers, no package).
//
// The reference has no cross-process coordination and refreshes on every restore; what that
// costs it is reported as it happens (failures, revoked grants), not left out.

import fs from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { createClient } = require('redis')
const { startOp } = require('../__test__/support/servers.js')
const { startRedis } = require('../__test__/support/redis.js')
const { logInSessions, runProcesses, summarise, redisCommandCalls, delta } = require('../__test__/support/load.js')
const { createRedisStorage, redisClientOptions } = require('../examples/redis-storage.js')

const PROCESSES = 4
// oidc-provider's default store forgets early logins' clients and grants past a few hundred logins.
const STORE = 200_000
const NAMES = ['reference', 'ours']

/** Restores every session once in this process; how many come back logged in. */
async function stillLoggedIn(pkg, storage, ids) {
  let n = 0
  for (const id of ids) {
    try {
      const s = await pkg.getSessionFromStorage(id, { storage })
      if (s?.lastTimeoutHandle) clearTimeout(s.lastTimeoutHandle)
      if (s?.info.isLoggedIn) n++
    } catch {}
  }
  return n
}

const topErrors = (errors, n = 3) =>
  Object.entries(errors)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${v} x ${k.slice(0, 160)}`)
    .join('; ') || 'none'

// ---------------------------------------------------------------------------------------------
// 10. Cross-process refreshes with rotating refresh tokens

async function crossProcess(ctx, redis, client) {
  const { QUICK, log, notes, addRow } = ctx
  const sessions = 50
  const atTtl = 6
  const lifetimes = QUICK ? 3 : 5
  const seconds = lifetimes * atTtl + 1
  const results = {}
  for (const name of NAMES) {
    const op = await startOp({ rotate: true, atTtl, store: STORE })
    try {
      const prefix = `bench-xp-${name}:`
      const storage = createRedisStorage(client, { prefix })
      const ids = Array.from({ length: sessions }, (_, i) => `xp-${i}`)
      await logInSessions({ pkg: name, storage, op, ids, clientName: `bench ${name}` })
      const before = await op.stats()
      log(`  ${name}: ${PROCESSES} processes x ${sessions} sessions for ${seconds} s...`)
      const reports = await runProcesses({
        processes: PROCESSES,
        pkg: name,
        redisUrl: redis.url,
        config: { mode: 'sessions', prefix, ids, resource: op.privateResource, seconds },
      })
      const idp = delta(before, await op.stats())
      const s = summarise(reports, { warmupS: 0 })
      const pkg = name === 'ours' ? ctx.ours : ctx.reference
      const alive = await stillLoggedIn(pkg, storage, ids)
      const refreshRequests = idp['tokenByGrant.refresh_token'] ?? 0
      const refused = Object.entries(idp)
        .filter(([k]) => k.startsWith('grantErrors.'))
        .reduce((n, [, v]) => n + v, 0)
      const tokenRequests = idp.token ?? 0
      results[name] = { ...s, idp, alive, refreshRequests, refused, tokenRequests, perSession: tokenRequests / sessions }
      log(
        `  ${name}: ${s.ok}/${s.requests} requests ok, ${refreshRequests} refresh requests, ${refused} refused, ${alive}/${sessions} still logged in; errors: ${topErrors(s.errors)}`,
      )
    } finally {
      await op.stop()
    }
  }
  const { reference: r, ours: o } = results
  const what = `${PROCESSES} processes x ${sessions} sessions, rotating refresh tokens, ${atTtl} s tokens, ${seconds} s`
  const row = (workload, unit, ref, our, kind, target) =>
    addRow({ group: 'cross-process', workload: `${what}: ${workload}`, storage: 'Redis', unit, reference: ref, ours: our, kind, target, detail: results })
  row('failed requests', '', r.failed, o.failed, 'max', 0)
  row('token requests refused by the provider', '', r.refused, o.refused, 'max', 0)
  // One refresh per token and session, whatever the number of processes: a token is refreshed
  // when a fifth of its lifetime is left, so at most one every 4/5 of a lifetime (the bound of
  // __test__/cross-process.test.js). Every token request counts, refused ones too.
  const bound = Math.floor(seconds / (0.8 * atTtl)) + 1
  row(`token requests per session (at most 1 per 4/5 of a token lifetime: ${bound})`, 'req', r.perSession, o.perSession, 'max', bound)
  row('sessions still logged in after the run', '', r.alive, o.alive, 'min', sessions)
  row('requests served per second (offered: each session every 50-250 ms per process)', '/s', r.throughput, o.throughput, 'rate', null)
  for (const name of NAMES) {
    const x = results[name]
    notes.push(
      `cross-process (${name}): ${x.ok}/${x.requests} requests ok; provider: ${JSON.stringify(x.idp)}; errors: ${topErrors(x.errors)}`,
    )
  }
}

// ---------------------------------------------------------------------------------------------
// 11. Load: 1,000 sessions, 4 processes x 64 in flight

async function load(ctx, redis, client, seconds) {
  const { log, notes, addRow } = ctx
  const sessions = 1000
  const concurrency = 64
  const warmupS = Math.max(3, Math.round(seconds / 5))
  const results = {}
  // Each package's own sessions and provider. Ours runs twice on its sessions, with the node-redis
  // adapter and with RedisStorage, and then the floor runs on them: a GET and a plain fetch.
  const runs = { reference: [['reference', 'adapter']], ours: [['ours', 'adapter'], ['RedisStorage', 'native'], ['floor', 'floor']] }
  for (const name of NAMES) {
    const op = await startOp({ store: STORE })
    try {
      const prefix = `bench-load-${name}:`
      const storage = createRedisStorage(client, { prefix })
      const ids = Array.from({ length: sessions }, (_, i) => `load-${i}`)
      const t0 = performance.now()
      // Authorization-code sessions for both packages: the reference cannot restore
      // client-credentials ones (divergence 4).
      await logInSessions({ pkg: name, storage, op, ids, concurrency: 8, clientName: `bench ${name}` })
      const loginS = (performance.now() - t0) / 1000
      const recordBytes = await client.strLen(`${prefix}solidClientAuthenticationUser:${ids[0]}`)
      log(`  ${name}: ${sessions} sessions logged in in ${loginS.toFixed(1)} s; ${PROCESSES} processes x ${concurrency} for ${seconds} s...`)
      for (const [run, kind] of runs[name]) {
        const floorHeaders = kind === 'floor' ? await fixedHeaders(storage, ids[0], op.privateResource) : undefined
        const before = await op.stats()
        const providerCpuBefore = cpuMsOf(op.pid)
        const redisBefore = await redisCommandCalls(client)
        const reports = await runProcesses({
          processes: PROCESSES,
          pkg: name,
          redisUrl: redis.url,
          config: { mode: kind === 'floor' ? 'floor' : 'load', storage: kind, floorHeaders, prefix, ids, resource: op.privateResource, seconds, concurrency },
        })
        const providerCpuMs = cpuMsOf(op.pid) - providerCpuBefore
        const idp = delta(before, await op.stats())
        const redisCalls = delta(redisBefore, await redisCommandCalls(client))
        delete redisCalls.info
        const s = summarise(reports, { warmupS })
        const idpRequests = (idp.token ?? 0) + (idp.discovery ?? 0) + (idp.jwks ?? 0) + (idp.registration ?? 0)
        // CPU per request over the whole run (warm-up included): the client processes', and the
        // provider's (which checks each request's token and proof on the same two cores).
        const served = reports.reduce((sum, r) => sum + r.requests, 0)
        const clientCpuUs = reports.reduce((sum, r) => sum + r.cpuUs, 0) / Math.max(1, served)
        const providerCpuUs = (providerCpuMs * 1000) / Math.max(1, served)
        results[run] = { ...s, idp, idpRequests, redisCalls, loginS, recordBytes, clientCpuUs, providerCpuUs }
        log(
          `  ${run}: ${s.ok}/${s.requests} ok, ${s.throughput.toFixed(0)}/s, p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms, CPU per request ${clientCpuUs.toFixed(0)} µs (provider ${providerCpuUs.toFixed(0)} µs), ${idpRequests} requests to the provider; errors: ${topErrors(s.errors)}`,
        )
      }
    } finally {
      await op.stop()
    }
  }
  const { reference: r, ours: o, RedisStorage: n, floor: f } = results
  const what = `${sessions.toLocaleString('en')} sessions, ${PROCESSES} processes x ${concurrency} in flight, ${seconds} s`
  const row = (workload, unit, ref, our, kind, target) =>
    addRow({ group: 'load', workload: `${what}: ${workload}`, storage: 'Redis', unit, reference: ref, ours: our, kind, target, detail: results })
  row('requests served per second (restore + fetch)', '/s', r.throughput, o.throughput, 'rate', 1)
  // Ours both: the node-redis adapter in the reference's column, RedisStorage in ours (issue 18).
  const oursRow = (workload, unit, adapter, native, kind, target) =>
    addRow({ group: 'load', workload: `${what}: ${workload}`, storage: 'Redis', unit, reference: adapter, ours: native, kind, target, detail: results })
  oursRow('RedisStorage against the node-redis adapter (ours both), requests per second', '/s', o.throughput, n.throughput, 'rate', 1.5)
  oursRow('RedisStorage against the floor (a GET and a plain fetch with fixed headers), requests per second', '/s', f.throughput, n.throughput, 'rate', 0.8)
  oursRow('RedisStorage against the node-redis adapter (ours both), restore alone p50', 'ms', o.restoreP50Ms, n.restoreP50Ms, 'time', null)
  oursRow('RedisStorage against the node-redis adapter (ours both), client CPU per request (4 processes, user + system)', 'µs', o.clientCpuUs, n.clientCpuUs, 'time', null)
  oursRow('RedisStorage: failed requests', '', 0, n.failed, 'max', 0)
  oursRow('RedisStorage: requests to the provider per request served', 'req', 0, n.idpRequests / Math.max(1, n.ok), 'max', 0)
  row('latency p50 (restore + fetch)', 'ms', r.p50Ms, o.p50Ms, 'time', null)
  row('latency p99 (restore + fetch)', 'ms', r.p99Ms, o.p99Ms, 'time', null)
  row('failed requests', '', r.failed, o.failed, 'max', 0)
  row('requests to the provider per request served', 'req', r.idpRequests / Math.max(1, r.ok), o.idpRequests / Math.max(1, o.ok), 'max', 0)
  // RSS: the largest growth, over the processes, from the mean of the first quarter of the samples
  // after the warm-up to the mean of the last quarter, against the bound of __test__/load.test.js
  // (1.2 x the first quarter + 16 MB; the target is that bound's growth for our smallest process).
  const growth = (x) => Math.max(...x.processes.map((p) => p.growth.last - p.growth.first))
  const allowed = Math.min(...o.processes.map((p) => 0.2 * p.growth.first + 16))
  row(`RSS growth after ${warmupS} s warm-up, worst process (last-quarter mean - first-quarter mean)`, 'MB', growth(r), growth(o), 'max', Math.round(allowed))
  for (const name of Object.keys(results)) {
    const x = results[name]
    notes.push(
      `load (${name}): ${x.ok}/${x.requests} ok in ${x.wallS.toFixed(1)} s; CPU per request: client processes ${x.clientCpuUs.toFixed(0)} µs, provider ${x.providerCpuUs.toFixed(0)} µs; restore alone p50 ${x.restoreP50Ms.toFixed(2)} ms, p99 ${x.restoreP99Ms.toFixed(1)} ms; login of ${sessions} sessions ${x.loginS.toFixed(1)} s, a record ${x.recordBytes} B; provider: ${JSON.stringify(x.idp)}; Redis commands: ${JSON.stringify(x.redisCalls)}; errors: ${topErrors(x.errors)}`,
    )
    notes.push(
      `load (${name}) RSS MB per process, once a second: ${x.processes.map((p) => `[${p.rssMB.map((v) => Math.round(v)).join(' ')}]`).join(' ')}; after warm-up first/last quarter: ${x.processes.map((p) => `${p.growth.first.toFixed(0)}/${p.growth.last.toFixed(0)}`).join(', ')}`,
    )
  }
}

/**
 * The headers a session of ours sends to `resource`, made once (the floor's): the session is
 * restored here and its fetch is caught by a stub before it leaves.
 */
async function fixedHeaders(storage, id, resource) {
  const ours = require('../index.js')
  const session = await ours.getSessionFromStorage(id, { storage })
  const real = globalThis.fetch
  let headers
  globalThis.fetch = async (url, init) => {
    headers = Object.fromEntries(new Headers(init?.headers))
    return new Response('')
  }
  try {
    await session.fetch(resource)
  } finally {
    globalThis.fetch = real
  }
  return headers
}

export async function multiProcessWorkloads(ctx, selected, { loadSeconds }) {
  const redis = await startRedis()
  const client = createClient(redisClientOptions(redis.url))
  client.on('error', () => {})
  await client.connect()
  try {
    if (selected.has('cross-process')) {
      ctx.log('cross-process refreshes on Redis (rotating refresh tokens)...')
      await crossProcess(ctx, redis, client)
    }
    if (selected.has('load')) {
      ctx.log(`load on Redis (${loadSeconds} s per package)...`)
      await load(ctx, redis, client, loadSeconds)
    }
  } finally {
    await client.quit()
    await redis.stop()
  }
}

/** The CPU time (user + system) process `pid` has used, in ms; NaN where /proc cannot tell. */
function cpuMsOf(pid) {
  try {
    // Fields 14 and 15 of /proc/<pid>/stat, after the command name in parentheses: clock ticks (100 a second on Linux).
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return NaN
  }
}

// Workloads 6-9 of bench/run.mjs: the ones that talk to a real identity provider, a Community Solid
// Server (CSS) started once for them by run.mjs (startCss from __test__/support/servers.js).
//
//   6. restore with refresh: getSessionFromStorage(id, { storage }) on a session the reference
//      stored through the authorization-code flow; latency and requests sent to CSS per restore
//   7. 20 concurrent restores of one session: successes and token requests
//   8. authenticated fetch overhead over plain fetch, concurrency 16, against a local server
//   9. DPoP proof cost: session.fetch in a tight loop over a stub global fetch
//
// How requests are counted: ours with httpRequestsSent() (every request our Rust HTTP engine
// starts). The reference's discovery, token and registration calls go through node:http
// (openid-client) and its JWKS calls through the global fetch (undici), so they are counted with
// diagnostics_channel ('http.client.request.start' and 'undici:request:create'), restricted to
// the CSS origin. Both counters run for every timed block, for both packages, so the table can
// say that each counter saw nothing of the other package.

import { fork } from 'node:child_process'
import dc from 'node:diagnostics_channel'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const HERE = path.dirname(fileURLToPath(import.meta.url))
const binding = require('../binding.js')
// asyncMapStorage with a `.map`, which the reference's auth-code login helper needs.
const { asyncMapStorage, RECORD_PREFIX } = require('../__test__/helpers.js')
const { countNativeCalls } = require('../__test__/support/native-calls.js')

// ---------------------------------------------------------------------------------------------
// Counting the reference's requests

/** The counter of the block being timed, or null. */
let counting = null
let countedOrigin = null

function kindOf(pathname) {
  if (pathname.endsWith('/.well-known/openid-configuration')) return 'discovery'
  if (pathname.endsWith('/token')) return 'token'
  if (pathname.endsWith('/jwks')) return 'jwks'
  if (pathname.endsWith('/reg')) return 'registration'
  return 'other'
}

function seen(origin, requestPath) {
  if (counting === null || origin !== countedOrigin) return
  const kind = kindOf(String(requestPath).split('?')[0])
  counting.js += 1
  counting.kinds[kind] = (counting.kinds[kind] ?? 0) + 1
}

dc.subscribe('http.client.request.start', ({ request }) => {
  seen(`${request.protocol}//${request.getHeader('host')}`, request.path)
})
dc.subscribe('undici:request:create', ({ request }) => {
  seen(String(request.origin), request.path)
})

const newCounts = () => ({ js: 0, kinds: {}, native: 0 })

/** Runs `fn` with `counts` collecting the requests both counters see. */
async function counted(counts, fn) {
  const native0 = binding.httpRequestsSent()
  counting = counts
  try {
    return await fn()
  } finally {
    counting = null
    counts.native += binding.httpRequestsSent() - native0
  }
}

const kindsText = (kinds, per = 1) =>
  Object.entries(kinds)
    .map(([k, v]) => `${fmtCount(v / per)} ${k}`)
    .join(', ') || 'none'

function fmtCount(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(2)
}

// ---------------------------------------------------------------------------------------------

/**
 * Runs the selected network workloads. `ctx` holds run.mjs's helpers and packages; `css` is the
 * running server.
 */
export async function networkWorkloads(ctx, css, selected) {
  const { reference, ours, log } = ctx
  countedOrigin = new URL(css.issuer).origin
  ctx.check(countedOrigin === `http://localhost:${css.port}`, 'CSS origin')

  if (selected.has('refresh') || selected.has('concurrent')) {
    // One authorization-code login by the reference; ours restores a copy of what it stored.
    log('  reference authorization-code login against CSS...')
    const { referenceAuthCodeSession } = await import('../__test__/support/reference-login.mjs')
    const sessionId = 'bench-authcode'
    const referenceStore = asyncMapStorage()
    await referenceAuthCodeSession({ css, storage: referenceStore, sessionId })
    const oursStore = asyncMapStorage(new Map(referenceStore.map))
    const env = { css, sessionId, referenceStore, oursStore }
    if (selected.has('refresh')) {
      log('restore with refresh against CSS...')
      await restoreWithRefresh(ctx, env)
    }
    if (selected.has('concurrent')) {
      log('20 concurrent restores of one session...')
      await concurrentRestores(ctx, env)
    }
  }
  if (selected.has('login')) {
    log('client-credentials logins against CSS, with the WebID check and without...')
    await loginCost(ctx, css)
  }
  if (selected.has('fetch') || selected.has('proof')) {
    log('  client-credentials logins against CSS (DPoP and Bearer, both packages)...')
    const sessions = await clientCredentialsSessions(ctx, css)
    try {
      if (selected.has('fetch')) {
        log('authenticated fetch overhead (local server, concurrency 16)...')
        await fetchOverhead(ctx, css, sessions)
      }
      if (selected.has('proof')) {
        log('DPoP proof cost (session.fetch over a stub fetch)...')
        await proofCost(ctx, css, sessions)
      }
    } finally {
      // The reference's sessions keep a timer each; logging out clears it. Their storages are
      // throwaway ones.
      for (const byType of Object.values(sessions)) for (const s of Object.values(byType)) await s.logout()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 6. Restore with refresh

function sessionChecker(ctx, css, who) {
  return (s) => ctx.check(s != null && s.info.isLoggedIn === true && s.info.webId === css.webId, `${who} restore logged in as ${css.webId}`)
}

/** Makes the stored access token of `sessionId` in `store` look expired to ours. */
function expireStoredToken(store, sessionId) {
  const key = RECORD_PREFIX + sessionId
  const record = JSON.parse(store.map.get(key))
  record.accessTokenExpiresAt = '0'
  store.map.set(key, JSON.stringify(record))
}

async function restoreWithRefresh(ctx, { css, sessionId, referenceStore, oursStore }) {
  const { reference, ours, median, settle, QUICK } = ctx
  const rounds = QUICK ? 3 : 15
  const refChecked = sessionChecker(ctx, css, 'reference')
  const oursChecked = sessionChecker(ctx, css, 'ours')
  const variants = {
    reference: {
      pkg: reference,
      storage: referenceStore,
      // The reference's Session keeps a timer (its token refresh), which would keep Node alive;
      // its logout clears it, but logging out also deletes the stored session, so clear just
      // the timer, as logout does.
      after(s) {
        refChecked(s)
        clearTimeout(s.lastTimeoutHandle)
      },
      calls: QUICK ? 4 : 6,
    },
    oursValid: {
      pkg: ours,
      storage: oursStore,
      after: oursChecked,
      calls: QUICK ? 20 : 60,
    },
    oursExpired: {
      pkg: ours,
      storage: oursStore,
      before: () => expireStoredToken(oursStore, sessionId),
      after(s) {
        oursChecked(s)
        const stored = JSON.parse(oursStore.map.get(RECORD_PREFIX + sessionId))
        ctx.check(Number(stored.accessTokenExpiresAt) > Date.now(), 'ours stored the refreshed access token')
      },
      calls: QUICK ? 4 : 6,
    },
  }
  /** Mean ms per restore over `calls` restores; setup and checks are not timed. */
  async function block(v, calls) {
    let ms = 0
    for (let i = 0; i < calls; i++) {
      v.before?.()
      const t0 = performance.now()
      const s = await v.pkg.getSessionFromStorage(sessionId, { storage: v.storage })
      ms += performance.now() - t0
      v.after(s)
    }
    return ms / calls
  }

  // Warm-up. Ours' first restore fetches discovery and the JWKS (3 requests, cached per process
  // from then on) and stores the access token; the reference caches nothing between restores.
  const first = newCounts()
  await counted(first, () => block(variants.oursValid, 1))
  ctx.check(first.js === 0, 'no JS request to CSS during our first restore')
  const warm = {}
  for (const [name, v] of Object.entries(variants)) {
    warm[name] = newCounts()
    await counted(warm[name], () => block(v, name === 'oursValid' ? 30 : 5))
  }
  const names = Object.keys(variants)
  const samples = Object.fromEntries(names.map((n) => [n, []]))
  const counts = Object.fromEntries(names.map((n) => [n, newCounts()]))
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, j) => names[(r + j) % names.length])
    for (const name of order) {
      await settle()
      samples[name].push(await counted(counts[name], () => block(variants[name], variants[name].calls)))
    }
  }
  // Native calls per restore (counted, not timed): one more restore of each of ours' cases.
  const nativeCalls = {}
  for (const name of ['oursValid', 'oursExpired']) {
    const counter = countNativeCalls(binding)
    try {
      await block(variants[name], 1)
    } finally {
      counter.stop()
    }
    nativeCalls[name] = { total: counter.total, byName: counter.byName() }
  }
  const calls = Object.fromEntries(names.map((n) => [n, rounds * variants[n].calls]))
  const per = (n, key) => counts[n][key] / calls[n]
  const ms = Object.fromEntries(names.map((n) => [n, median(samples[n])]))
  // Each counter must have seen only its own package.
  ctx.check(counts.reference.native === 0, 'no native request during the reference restores')
  ctx.check(counts.oursValid.js === 0 && counts.oursExpired.js === 0, 'no JS request to CSS during our restores')
  const detail = { rounds, calls, samples, counts, firstRestoreCounts: first, warmUpCounts: warm, nativeCalls }
  const storage = 'JS async Map'
  ctx.addRow({
    group: 'refresh',
    workload: 'getSessionFromStorage (refresh) vs CSS, stored access token valid',
    storage,
    unit: 'ms',
    reference: ms.reference,
    ours: ms.oursValid,
    kind: 'time',
    target: null,
    detail,
  })
  ctx.addRow({
    group: 'refresh',
    workload: 'getSessionFromStorage (refresh) vs CSS, stored access token expired',
    storage,
    unit: 'ms',
    reference: ms.reference,
    ours: ms.oursExpired,
    kind: 'time',
    target: null,
    detail,
  })
  ctx.addRow({
    group: 'refresh',
    workload: 'requests to CSS per restore, stored access token valid',
    storage,
    unit: 'req',
    reference: per('reference', 'js'),
    ours: per('oursValid', 'native'),
    kind: 'max',
    target: 0,
    detail,
  })
  ctx.addRow({
    group: 'refresh',
    workload: 'requests to CSS per restore, stored access token expired',
    storage,
    unit: 'req',
    reference: per('reference', 'js'),
    ours: per('oursExpired', 'native'),
    kind: 'max',
    target: 1,
    detail,
  })
  for (const [name, state] of [
    ['oursValid', 'valid'],
    ['oursExpired', 'expired'],
  ]) {
    ctx.addRow({
      group: 'refresh',
      workload: `native calls per restore (refresh) vs CSS, stored access token ${state}`,
      storage,
      unit: '',
      reference: null,
      ours: nativeCalls[name].total,
      kind: 'max',
      target: null,
      detail: nativeCalls[name],
    })
  }
  ctx.notes.push(
    `restore with refresh: the reference refreshes on every restore (it has no valid-token case; its one figure is on both rows) and sent per restore ${kindsText(counts.reference.kinds, calls.reference)}; ours' first restore of the session (no access token stored yet, nothing cached) sent ${first.native} requests (discovery, token, JWKS; discovery and keys are then cached per process). Calls timed: reference ${calls.reference}, ours valid ${calls.oursValid}, ours expired ${calls.oursExpired}`,
  )
}

// ---------------------------------------------------------------------------------------------
// 7. 20 concurrent restores of one session

async function concurrentRestores(ctx, { css, sessionId, referenceStore, oursStore }) {
  const { reference, ours, median, settle, QUICK } = ctx
  const n = 20
  const runs = QUICK ? 2 : 7
  const packages = { reference: [reference, referenceStore], ours: [ours, oursStore] }
  const results = { reference: [], ours: [] }
  for (let r = 0; r < runs; r++) {
    for (const name of r % 2 ? ['ours', 'reference'] : ['reference', 'ours']) {
      const [pkg, storage] = packages[name]
      if (name === 'ours') expireStoredToken(oursStore, sessionId)
      await settle()
      const counts = newCounts()
      const t0 = performance.now()
      const settled = await counted(counts, () =>
        Promise.allSettled(Array.from({ length: n }, () => pkg.getSessionFromStorage(sessionId, { storage }))),
      )
      const ms = performance.now() - t0
      let successes = 0
      const errors = []
      for (const x of settled) {
        if (x.status === 'fulfilled') {
          if (name === 'reference' && x.value) clearTimeout(x.value.lastTimeoutHandle)
          if (x.value?.info.isLoggedIn === true && x.value.info.webId === css.webId) successes += 1
          else errors.push('restored but not logged in')
        } else {
          errors.push(String(x.reason?.message ?? x.reason).slice(0, 200))
        }
      }
      // Ours caches discovery and the JWKS, so every request it sends here is a token request
      // (the refresh-restore workload shows the same 1 request per refresh); the reference's are
      // told apart by path.
      const tokens = name === 'ours' ? counts.native : counts.kinds.token ?? 0
      const total = name === 'ours' ? counts.native : counts.js
      results[name].push({ ms, successes, tokens, total, kinds: counts.kinds, counts, errors: [...new Set(errors)] })
    }
  }
  const worst = (name, key, pick) => pick(...results[name].map((x) => x[key]))
  const detail = { n, runs, results }
  ctx.addRow({
    group: 'concurrent',
    workload: `${n} concurrent restores of one session (token expired): logged in, worst run`,
    storage: 'JS async Map',
    unit: `/${n}`,
    reference: worst('reference', 'successes', Math.min),
    ours: worst('ours', 'successes', Math.min),
    kind: 'min',
    target: n,
    detail,
  })
  ctx.addRow({
    group: 'concurrent',
    workload: `${n} concurrent restores of one session: token requests, worst run`,
    storage: 'JS async Map',
    unit: 'req',
    reference: worst('reference', 'tokens', Math.max),
    ours: worst('ours', 'tokens', Math.max),
    kind: 'max',
    target: 1,
    detail,
  })
  ctx.addRow({
    group: 'concurrent',
    workload: `${n} concurrent restores of one session: wall time`,
    storage: 'JS async Map',
    unit: 'ms',
    reference: median(results.reference.map((x) => x.ms)),
    ours: median(results.ours.map((x) => x.ms)),
    kind: 'time',
    target: null,
    detail,
  })
  const refErrors = [...new Set(results.reference.flatMap((x) => x.errors))]
  ctx.notes.push(
    `${n} concurrent restores (${runs} runs each): the reference sent ${results.reference.map((x) => x.total).join('/')} requests per run (${kindsText(results.reference[0].kinds)} in the first)${refErrors.length ? `; its failures: ${refErrors.join(' | ')}` : ''}; ours sent ${results.ours.map((x) => x.total).join('/')}`,
  )
}

// ---------------------------------------------------------------------------------------------
// Sessions for workloads 8 and 9

async function clientCredentialsSessions(ctx, css) {
  const { reference, ours } = ctx
  const sessions = { reference: {}, ours: {} }
  for (const tokenType of ['DPoP', 'Bearer']) {
    for (const [name, pkg] of [
      ['reference', reference],
      ['ours', ours],
    ]) {
      const session = new pkg.Session({ storage: asyncMapStorage() })
      sessions[name][tokenType] = session
      await session.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret, tokenType })
      ctx.check(session.info.isLoggedIn && session.info.webId === css.webId, `${name} ${tokenType} client-credentials login`)
      // The token really works: read the private resource once.
      const response = await session.fetch(css.privateResource)
      const text = await response.text()
      ctx.check(response.status === 200 && text === css.privateText, `${name} ${tokenType} session reads the private resource (HTTP ${response.status})`)
    }
  }
  return sessions
}

// ---------------------------------------------------------------------------------------------
// 13. What the WebID check costs a login (issue 16)

/**
 * Client-credentials logins against CSS: the reference (no check), ours with the WebID check (the
 * default) and ours without. The first checked login of the process reads the profile (one
 * request); the pair is then kept for 10 minutes, so the timed logins after it send none.
 */
async function loginCost(ctx, css) {
  const { reference, ours, median, QUICK } = ctx
  const login = (pkg, options) => async () => {
    const session = new pkg.Session({ storage: asyncMapStorage(), keepAlive: false, ...options })
    await session.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret })
    ctx.check(session.info.isLoggedIn && session.info.webId === css.webId, 'client-credentials login')
    if (pkg === reference) clearTimeout(session.lastTimeoutHandle)
  }
  const variants = { reference: login(reference), oursChecked: login(ours), oursUnchecked: login(ours, { verifyWebIdIssuer: false }) }
  // The first logins fill each package's caches; ours' first checked login reads the profile.
  const first = newCounts()
  await counted(first, variants.oursChecked)
  await variants.oursUnchecked()
  await variants.reference()
  const later = newCounts()
  const rounds = QUICK ? 3 : 9
  const calls = QUICK ? 3 : 8
  const times = { reference: [], oursChecked: [], oursUnchecked: [] }
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of Object.entries(variants)) {
      const t0 = performance.now()
      if (name === 'oursChecked') await counted(later, async () => { for (let i = 0; i < calls; i++) await fn() })
      else for (let i = 0; i < calls; i++) await fn()
      times[name].push((performance.now() - t0) / calls)
    }
  }
  const ms = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]))
  for (const [variant, our] of [['WebID check on (the default)', ms.oursChecked], ['WebID check off', ms.oursUnchecked]]) {
    ctx.addRow({ group: 'login', workload: `client-credentials login vs CSS, ${variant}`, storage: 'JS async Map', unit: 'ms', reference: ms.reference, ours: our, kind: 'time', target: null, detail: { times } })
  }
  ctx.notes.push(
    `client-credentials login, WebID check: ours' first checked login sent ${fmtCount(first.native)} requests (discovery, key set, token, the WebID profile); each later one sent ${fmtCount(later.native / (rounds * calls))} (the token request; the profile's answer is kept 10 min); check on ${ms.oursChecked.toFixed(2)} ms, off ${ms.oursUnchecked.toFixed(2)} ms per login`,
  )
}

/** Starts bench/ok-server.mjs and resolves to { url, stop }. */
async function okServer() {
  const child = fork(path.join(HERE, 'ok-server.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port))
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`bench/ok-server.mjs exited (${code}) before listening`)))
  })
  return {
    url: `http://127.0.0.1:${port}/resource`,
    async stop() {
      process.removeListener('exit', kill)
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.disconnect()
      const timer = setTimeout(kill, 2000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** Per-request µs of `total` requests made by `concurrency` workers, each reading its response. */
async function hammer(fetchFn, url, total, concurrency) {
  let started = 0
  let bad = 0
  const worker = async () => {
    while (started < total) {
      started += 1
      const response = await fetchFn(url)
      if (response.status !== 200) bad += 1
      await response.arrayBuffer()
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const us = ((performance.now() - t0) * 1000) / total
  if (bad) throw new Error(`${bad} of ${total} requests did not answer 200`)
  return us
}

// ---------------------------------------------------------------------------------------------
// 8. Authenticated fetch overhead

/**
 * Header values of the size and shape the sessions send, computed once: a CSS access token from a
 * plain client-credentials grant, and a DPoP proof signed once by the reference's core package.
 * Plain fetch with these shows what the headers cost on the wire, apart from computing them.
 */
async function fixedAuthHeaders(css, url) {
  const discovery = await (await fetch(`${css.issuer}.well-known/openid-configuration`)).json()
  const basic = Buffer.from(`${encodeURIComponent(css.clientId)}:${encodeURIComponent(css.clientSecret)}`).toString('base64')
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'webid' }),
  })
  const body = await response.json()
  if (response.status !== 200 || typeof body.access_token !== 'string') throw new Error(`CSS token grant answered HTTP ${response.status}`)
  const core = await import('@inrupt/solid-client-authn-core')
  const proof = await core.createDpopHeader(url, 'GET', await core.generateDpopKeyPair())
  return {
    bearer: { authorization: `Bearer ${body.access_token}` },
    dpop: { authorization: `DPoP ${body.access_token}`, dpop: proof },
  }
}

async function fetchOverhead(ctx, css, sessions) {
  const { median, settle, QUICK } = ctx
  const concurrency = 16
  const perRound = QUICK ? 300 : 1000
  const rounds = QUICK ? 3 : 15
  const server = await okServer()
  try {
    const { url } = server
    const fixed = await fixedAuthHeaders(css, url)
    const variants = {
      plain: (u) => globalThis.fetch(u),
      plainFixedDPoPHeaders: (u) => globalThis.fetch(u, { headers: fixed.dpop }),
      plainFixedBearerHeader: (u) => globalThis.fetch(u, { headers: fixed.bearer }),
      referenceDPoP: sessions.reference.DPoP.fetch,
      oursDPoP: sessions.ours.DPoP.fetch,
      referenceBearer: sessions.reference.Bearer.fetch,
      oursBearer: sessions.ours.Bearer.fetch,
    }
    const names = Object.keys(variants)
    for (const name of names) await hammer(variants[name], url, QUICK ? 500 : 2000, concurrency)
    // Each authenticated variant is timed back to back with a plain-fetch block (which one goes
    // first alternates), and its overhead in that round is its per-request time minus that plain
    // block's: the pairs are close in time, so load from elsewhere mostly cancels out.
    const authenticated = names.filter((n) => n !== 'plain')
    const samples = Object.fromEntries(names.map((n) => [n, []]))
    const overheads = Object.fromEntries(authenticated.map((n) => [n, []]))
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < authenticated.length; j++) {
        const name = authenticated[(r + j) % authenticated.length]
        const pair = (r + j) % 2 ? [name, 'plain'] : ['plain', name]
        const got = {}
        for (const which of pair) {
          await settle()
          got[which] = await hammer(variants[which], url, perRound, concurrency)
          samples[which].push(got[which])
        }
        overheads[name].push(got[name] - got.plain)
      }
    }
    const overhead = (name) => median(overheads[name])
    const perRequest = Object.fromEntries(names.map((n) => [n, median(samples[n])]))
    const detail = { concurrency, perRound, rounds, samples, overheads, perRequest }
    for (const tokenType of ['DPoP', 'Bearer']) {
      ctx.addRow({
        group: 'fetch',
        workload: `session.fetch overhead over plain fetch, ${tokenType}, concurrency ${concurrency}`,
        storage: '-',
        unit: 'µs',
        reference: overhead(`reference${tokenType}`),
        ours: overhead(`ours${tokenType}`),
        kind: 'overhead',
        target: 2,
        detail,
      })
    }
    const quartiles = (xs) => {
      const q = [...xs].sort((a, b) => a - b)
      return [q[Math.floor((q.length - 1) / 4)], q[Math.ceil((3 * (q.length - 1)) / 4)]]
    }
    const spread = authenticated
      .map((n) => {
        const [lo, hi] = quartiles(overheads[n])
        return `${n} ${lo.toFixed(1)} to ${hi.toFixed(1)}`
      })
      .join(', ')
    const net = (tokenType, name) => overhead(name) - overhead(`plainFixed${tokenType}${tokenType === 'DPoP' ? 'Headers' : 'Header'}`)
    ctx.notes.push(
      `fetch overhead beyond the headers themselves (overhead over plain fetch minus that of plain fetch sending fixed headers of the same size, precomputed: ${overhead('plainFixedDPoPHeaders').toFixed(1)} µs for the DPoP pair, ${overhead('plainFixedBearerHeader').toFixed(1)} µs for a Bearer header): DPoP reference ${net('DPoP', 'referenceDPoP').toFixed(1)} µs, ours ${net('DPoP', 'oursDPoP').toFixed(1)} µs; Bearer reference ${net('Bearer', 'referenceBearer').toFixed(1)} µs, ours ${net('Bearer', 'oursBearer').toFixed(1)} µs`,
    )
    ctx.notes.push(
      `fetch at concurrency ${concurrency} against a local 200 "ok" server in a child process, µs per request (median of ${rounds} rounds of ${perRound} requests per block): ${names.map((n) => `${n} ${perRequest[n].toFixed(1)}`).join(', ')}; overhead over plain fetch, quartiles of the per-round differences (µs): ${spread}`,
    )
  } finally {
    await server.stop()
  }
}

// ---------------------------------------------------------------------------------------------
// 9. DPoP proof cost

/**
 * Round-robin rounds over any number of variants: each round times `calls[name]` sequential
 * awaited calls of each variant, in an order that rotates from round to round, with a
 * young-generation GC before each. Returns per-call µs samples per variant.
 */
async function roundRobin(ctx, fns, { rounds, calls }) {
  const names = Object.keys(fns)
  const samples = Object.fromEntries(names.map((n) => [n, []]))
  for (const name of names) await ctx.perCall(fns[name], calls[name]) // one untimed round
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(r + j) % names.length]
      await ctx.settle()
      samples[name].push(await ctx.perCall(fns[name], calls[name]))
    }
  }
  return samples
}

async function proofCost(ctx, css, sessions) {
  const { median, warm, callsFor, perCall, formatValue, formatRatio, QUICK } = ctx
  const url = 'https://pod.example/alice/resource'
  const original = globalThis.fetch
  let lastHeaders
  // The stub answers at once: what is timed is each package's session.fetch up to the global
  // fetch (the headers and, for DPoP, a fresh proof), plus this stub, which is also timed alone
  // in the same rounds.
  const stub = async (input, init) => {
    lastHeaders = init?.headers
    return new Response('ok')
  }
  const fns = {
    stub: () => globalThis.fetch(url),
    referenceDPoP: () => sessions.reference.DPoP.fetch(url),
    oursDPoP: () => sessions.ours.DPoP.fetch(url),
    referenceBearer: () => sessions.reference.Bearer.fetch(url),
    oursBearer: () => sessions.ours.Bearer.fetch(url),
  }
  const rounds = QUICK ? 5 : 21
  let samples
  const calls = {}
  globalThis.fetch = stub
  try {
    for (const [name, fn] of Object.entries(fns)) {
      if (name === 'stub') continue
      const tokenType = name.endsWith('DPoP') ? 'DPoP' : 'Bearer'
      const response = await fn()
      const headers = new Headers(lastHeaders)
      ctx.check(response.status === 200, `${name} stubbed fetch`)
      ctx.check(headers.get('authorization')?.startsWith(`${tokenType} `), `${name} authorization header`)
      ctx.check((headers.get('dpop') !== null) === (tokenType === 'DPoP'), `${name} DPoP header`)
    }
    for (const [name, fn] of Object.entries(fns)) {
      await warm(fn, { min: 500 })
      calls[name] = await callsFor(fn, 20)
    }
    samples = await roundRobin(ctx, fns, { rounds, calls })
  } finally {
    globalThis.fetch = original
  }
  const us = Object.fromEntries(Object.keys(fns).map((n) => [n, median(samples[n])]))
  // Net of the stub, per round.
  const net = (name) => median(samples[name].map((x, i) => x - samples.stub[i]))
  const paired = (tokenType) => median(samples[`reference${tokenType}`].map((x, i) => x / samples[`ours${tokenType}`][i]))
  for (const tokenType of ['DPoP', 'Bearer']) {
    ctx.addRow({
      group: 'proof',
      workload: `session.fetch over a stub fetch (${tokenType === 'DPoP' ? 'DPoP proof + headers' : 'Bearer headers'}), tight loop`,
      storage: '-',
      unit: 'µs',
      reference: us[`reference${tokenType}`],
      ours: us[`ours${tokenType}`],
      kind: 'time',
      target: tokenType === 'DPoP' ? 4 : null,
      detail: { rounds, calls, samples, pairedRatio: paired(tokenType), netOfStub: { reference: net(`reference${tokenType}`), ours: net(`ours${tokenType}`) } },
    })
  }

  // The bare proof, without session.fetch: the reference's createDpopHeader (exported by its core
  // package) with a fresh key, and our native credentials' headersFor. Our Session keeps its
  // credentials private, so they come from the login operation directly (internal API; skipped
  // if it changed).
  const bare = []
  try {
    const core = await import('@inrupt/solid-client-authn-core')
    const key = await core.generateDpopKeyPair()
    const fn = () => core.createDpopHeader(url, 'GET', key)
    await warm(fn, { min: 500 })
    bare.push(`reference createDpopHeader ${formatValue(await perCall(fn, QUICK ? 1000 : 3000), 'µs')}`)
  } catch (e) {
    bare.push(`reference createDpopHeader not measured (${e.message})`)
  }
  try {
    const { run } = require('../lib/driver.js')
    for (const dpop of [true, false]) {
      const credentials = await run(binding.logInWithClientCredentials, asyncMapStorage(), `bench-bare-${dpop}`, {
        issuer: css.issuer,
        clientId: css.clientId,
        clientSecret: css.clientSecret,
        dpop,
      })
      const fn = () => credentials.headersFor('GET', url)
      const n = dpop ? 2000 : 20_000
      for (let i = 0; i < n / 4; i++) fn()
      const t0 = performance.now()
      for (let i = 0; i < n; i++) fn()
      bare.push(`ours SessionCredentials.headersFor (${dpop ? 'DPoP' : 'Bearer'}) ${formatValue(((performance.now() - t0) * 1000) / n, 'µs')}`)
    }
  } catch (e) {
    bare.push(`ours headersFor not measured (${e.message})`)
  }
  ctx.notes.push(
    `proof cost (median of ${rounds} rounds): the stub fetch alone ${formatValue(us.stub, 'µs')} per call; net of it, DPoP reference ${formatValue(net('referenceDPoP'), 'µs')}, ours ${formatValue(net('oursDPoP'), 'µs')}; Bearer reference ${formatValue(net('referenceBearer'), 'µs')}, ours ${formatValue(net('oursBearer'), 'µs')}; median of per-round ratios (ref/ours) DPoP ${formatRatio(paired('DPoP'))}, Bearer ${formatRatio(paired('Bearer'))}`,
    `bare header work, no session.fetch: ${bare.join(', ')}`,
  )
}

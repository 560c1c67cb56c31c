// Benchmark: this package against @inrupt/solid-client-authn-node 5.0.0 (the reference), side by
// side in one run. `npm run bench` installs, makes a release build and runs this file; after a
// build, `node bench/run.mjs` runs it alone. See bench/README.md for what each workload measures.
//
// Options: --quick (fewer rounds, no 10,000-session clear; for trying changes)
//          --json <path> (where to write the results; default bench/results-latest.json)
//          --only <names> (comma-separated: import,memory,list,restore,calls,clear,refresh,
//                          concurrent,fetch,proof,login,cross-process,load; default all)
//          --load-seconds <s> (how long the load workload runs per package; default 60, 10 with --quick)
//
// Workloads 6-9 (refresh, concurrent, fetch, proof) run against a Community Solid Server that this
// file starts once, after the in-process workloads, and stops at the end, also on failure
// (bench/network.mjs). Workloads 10-11 (cross-process, load) run several processes on one Redis
// against oidc-provider, which they start themselves (bench/multi-process.mjs).

import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { setImmediate as tick } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'

import { LIST_KEY, RECORD_PREFIX, asyncMapStorage, makeSessions, seed, sessionRecordWithAccessToken, webIdOf } from './fixtures.mjs'

const started = performance.now()
const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..')
const args = process.argv.slice(2)
const QUICK = args.includes('--quick')
const jsonAt = args.indexOf('--json')
const RESULTS_PATH = jsonAt >= 0 ? path.resolve(args[jsonAt + 1]) : path.join(HERE, 'results-latest.json')
const ALL = ['import', 'memory', 'list', 'restore', 'calls', 'clear', 'refresh', 'concurrent', 'fetch', 'proof', 'login', 'cross-process', 'load']
const onlyAt = args.indexOf('--only')
const SELECTED = new Set(onlyAt >= 0 ? String(args[onlyAt + 1] ?? '').split(',') : ALL)
for (const name of SELECTED) if (!ALL.includes(name)) throw new Error(`--only: unknown workload ${name} (known: ${ALL.join(',')})`)
const NETWORK = ['refresh', 'concurrent', 'fetch', 'proof', 'login'].filter((n) => SELECTED.has(n))
const MULTI_PROCESS = ['cross-process', 'load'].filter((n) => SELECTED.has(n))
const loadSecondsAt = args.indexOf('--load-seconds')
const LOAD_SECONDS = loadSecondsAt >= 0 ? Number(args[loadSecondsAt + 1]) : QUICK ? 10 : 60
if (!(LOAD_SECONDS > 0)) throw new Error('--load-seconds: a number of seconds')

// ---------------------------------------------------------------------------------------------
// Which native binary is measured. Others rebuild the `.node` in the package root (often as a
// debug build) while a run is under way, and the child processes of the cold-import and memory
// workloads load it afresh. So the run takes a private copy of one binary at the start, and every
// process of the run (this one and its children) loads that copy through binding.js's
// NAPI_RS_NATIVE_LIBRARY_PATH. The binary is, in order: NAPI_RS_NATIVE_LIBRARY_PATH if set, else
// the newest release artifact cargo left under target/ (what `npm run build` copies to the root),
// else the newest `.node` in the package root. A debug build is refused (--allow-debug to measure
// it anyway).

const ALLOW_DEBUG = args.includes('--allow-debug')

function releaseArtifacts() {
  const names = ['libsolid_client_authn_native.so', 'libsolid_client_authn_native.dylib', 'solid_client_authn_native.dll']
  const dirs = [path.join(ROOT, 'target', 'release')]
  const targetDir = path.join(ROOT, 'target')
  if (existsSync(targetDir)) {
    for (const entry of readdirSync(targetDir, { withFileTypes: true })) {
      if (entry.isDirectory()) dirs.push(path.join(targetDir, entry.name, 'release'))
    }
  }
  return dirs.flatMap((d) => names.map((n) => path.join(d, n))).filter((f) => existsSync(f))
}

function newest(files) {
  return files.map((f) => [f, statSync(f).mtimeMs]).sort((a, b) => b[1] - a[1])[0]?.[0]
}

/** The section names of a 64-bit little-endian ELF file, or undefined for anything else. */
function elfSectionNames(b) {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return undefined
  const shoff = Number(b.readBigUInt64LE(0x28))
  const shentsize = b.readUInt16LE(0x3a)
  const shnum = b.readUInt16LE(0x3c)
  const shstrndx = b.readUInt16LE(0x3e)
  const section = (i) => shoff + i * shentsize
  const strings = Number(b.readBigUInt64LE(section(shstrndx) + 0x18))
  const names = []
  for (let i = 0; i < shnum; i++) {
    const at = strings + b.readUInt32LE(section(i))
    names.push(b.toString('latin1', at, b.indexOf(0, at)))
  }
  return names
}

function pickBinary() {
  if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) {
    return { path: process.env.NAPI_RS_NATIVE_LIBRARY_PATH, source: 'NAPI_RS_NATIVE_LIBRARY_PATH', copied: false }
  }
  const release = newest(releaseArtifacts())
  const root = newest(readdirSync(ROOT).filter((f) => /^solid-client-authn-native\..*\.node$/.test(f)).map((f) => path.join(ROOT, f)))
  const from = release ?? root
  if (from === undefined) throw new Error('no native binary found: run `npm run build` first')
  const copy = path.join(os.tmpdir(), `solid-client-authn-native-bench-${process.pid}.node`)
  copyFileSync(from, copy)
  process.on('exit', () => rmSync(copy, { force: true }))
  process.env.NAPI_RS_NATIVE_LIBRARY_PATH = copy
  return { path: copy, source: release ? 'release artifact under target/' : 'package root', from, copied: true }
}

const BINARY = pickBinary()
{
  const bytes = readFileSync(BINARY.path)
  const st = statSync(BINARY.from ?? BINARY.path)
  BINARY.bytes = bytes.length
  BINARY.builtAt = st.mtime.toISOString()
  // The dev profile keeps line tables (Cargo.toml); the release profile strips symbols and debug
  // info. Told apart by the ELF section names (not known for other formats).
  BINARY.debug = elfSectionNames(bytes)?.some((name) => name.startsWith('.debug_')) ?? null
  if (BINARY.debug && !ALLOW_DEBUG) {
    throw new Error(`${BINARY.from ?? BINARY.path} is a debug build (it has .debug_* sections): run \`npm run build\` first, or pass --allow-debug`)
  }
}

const REFERENCE_NAME = '@inrupt/solid-client-authn-node'
const reference = await import(REFERENCE_NAME)
const ours = createRequire(import.meta.url)('..')
// The reference's exports map hides its package.json; read it from disk.
const referenceVersion = JSON.parse(
  readFileSync(path.join(ROOT, 'node_modules', ...REFERENCE_NAME.split('/'), 'package.json'), 'utf8'),
).version
const PACKAGES = [
  ['reference', reference],
  ['ours', ours],
]

// A young-generation collection between timed runs, so that one package's short-lived garbage is
// not collected on the other's clock. Not a full gc(): a forced full collection also shrinks the
// young generation, and the next run then pays for extra scavenges. That slows whichever
// package allocates more per call (the reference), so it would flatter our ratios: with a full
// gc() before each round the reference's restore measured ~50 µs instead of ~23 µs in steady
// state. Exposed here rather than through a node flag, so that `node bench/run.mjs` works.
const gc =
  typeof globalThis.gc === 'function'
    ? globalThis.gc
    : (v8.setFlagsFromString('--expose-gc'), vm.runInNewContext('gc'))

async function settle() {
  gc({ type: 'minor' })
  await tick()
}

const log = (...parts) => process.stderr.write(`${parts.join(' ')}\n`)
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const STORAGES = {
  memory: { label: 'InMemoryStorage', make: (pkg) => new pkg.InMemoryStorage() },
  js: { label: 'JS async Map', make: () => asyncMapStorage() },
}

/** A fresh storage of `kind` for `pkg`, holding `data`. */
async function seeded(pkg, kind, data) {
  const storage = STORAGES[kind].make(pkg)
  await seed(storage, data)
  return storage
}

function check(condition, message) {
  if (!condition) throw new Error(`sanity check failed: ${message}`)
}

const rows = []
/** Figures without a target, printed under the table. */
const notes = []
function addRow({ group, workload, storage, unit, reference: ref, ours: our, kind, target, detail }) {
  // kind 'time': ratio = reference / ours (>1: we are faster), target on the ratio.
  // kind 'memory': ratio = ours / reference, target on the ratio.
  // kind 'overhead': ratio = reference / ours; passes when ours <= reference / target (ours may be
  //   about 0, or below 0 within the noise, when the ratio says little).
  // kind 'rate': a throughput; ratio = ours / reference (>1: we serve more), target on the ratio.
  // kind 'max' / 'min': counts; no ratio; ours must be <= / >= the target.
  // target null: a figure without a target (Result '-'); not counted in the targets.
  let ratio = kind === 'memory' || kind === 'rate' ? (ref > 0 ? our / ref : Infinity) : kind === 'max' || kind === 'min' ? null : our > 0 ? ref / our : Infinity
  // An overhead at or below zero is within the noise; a ratio of it says nothing.
  if (kind === 'overhead' && (ref <= 0 || our <= 0)) ratio = null
  let pass = null
  if (target !== null && target !== undefined) {
    if (kind === 'memory') pass = ratio <= target
    else if (kind === 'rate') pass = ratio >= target
    else if (kind === 'time') pass = ratio >= target
    else if (kind === 'overhead') pass = our <= ref / target
    else if (kind === 'max') pass = our <= target
    else if (kind === 'min') pass = our >= target
    else throw new Error(`unknown row kind ${kind}`)
  }
  rows.push({ group, workload, storage, unit, reference: ref, ours: our, ratio, kind, target: target ?? null, pass, detail })
}

// ---------------------------------------------------------------------------------------------
// Timing helpers

/** Per-call time (µs) of `calls` sequential awaited calls of `fn(i)`. */
async function perCall(fn, calls) {
  const t0 = performance.now()
  for (let i = 0; i < calls; i++) await fn(i)
  return ((performance.now() - t0) * 1000) / calls
}

/**
 * Interleaved rounds: each round times `calls` sequential calls for each package, alternating
 * which goes first, with a young-generation GC before each. Returns the median per-call µs per package and the
 * per-round samples.
 */
async function interleaved(fns, { rounds, calls }) {
  // Two names (reference, ours) alternate which goes first; more (a floor beside them) rotate.
  const names = Object.keys(fns)
  const samples = Object.fromEntries(names.map((name) => [name, []]))
  // One untimed round first: the first round after the other package's warm-up runs slow.
  for (const name of names) await perCall(fns[name], calls[name])
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length])
    for (const name of order) {
      await settle()
      samples[name].push(await perCall(fns[name], calls[name]))
    }
  }
  // The median of per-round ratios too: rounds run back to back, so it is the figure least
  // moved by load from other processes (kept in the JSON only).
  const paired = median(samples.reference.map((ref, i) => ref / samples.ours[i]))
  const medians = Object.fromEntries(names.map((name) => [name, median(samples[name])]))
  return { ...medians, paired, samples }
}

/** Calls `fn` for at least `ms` milliseconds and `min` calls, so that its code is optimized. */
async function warm(fn, { ms = 150, min = 200 } = {}) {
  const t0 = performance.now()
  for (let i = 0; i < min || performance.now() - t0 < ms; i++) await fn(i)
}

/** How many calls make a round of about `ms` milliseconds, from a short trial. */
async function callsFor(fn, ms, { min = 5, max = 100_000 } = {}) {
  let calls = 5
  let us = await perCall(fn, calls)
  while (us * calls < 2000 && calls < max) {
    calls *= 4
    us = await perCall(fn, calls)
  }
  return Math.max(min, Math.min(max, Math.round((ms * 1000) / us)))
}

// ---------------------------------------------------------------------------------------------
// 4. Cold import (first: the machine is quietest before the in-process work starts)

function coldImport() {
  const runs = QUICK ? 7 : 21
  const oursEsm = pathToFileURL(path.join(ROOT, 'index.mjs')).href
  // Each loading script also prints how long the load took inside the child (the figure without
  // process start-up and exit; JSON and log only, as a cross-check that is less noisy).
  const timed = (load) => `const t0 = performance.now(); ${load}; process.stdout.write(String(performance.now() - t0))`
  const variants = {
    bare: ['-e', ''],
    reference: ['--input-type=module', '-e', timed(`await import(${JSON.stringify(REFERENCE_NAME)})`)],
    oursRequire: ['-e', timed(`require(${JSON.stringify(ROOT)})`)],
    oursImport: ['--input-type=module', '-e', timed(`await import(${JSON.stringify(oursEsm)})`)],
  }
  const names = Object.keys(variants)
  const wall = Object.fromEntries(names.map((n) => [n, []]))
  const inside = Object.fromEntries(names.map((n) => [n, []]))
  const once = (name) => {
    const t0 = performance.now()
    const r = spawnSync(process.execPath, variants[name], { cwd: ROOT, encoding: 'utf8' })
    const ms = performance.now() - t0
    if (r.status !== 0) throw new Error(`cold import ${name} failed: ${r.stderr}`)
    return { ms, inside: r.stdout === '' ? 0 : Number(r.stdout) }
  }
  names.forEach(once) // fill the page cache
  for (let i = 0; i < runs; i++) {
    // Rotate the order, so no variant always runs right after the same other one.
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length]
      const r = once(name)
      wall[name].push(r.ms)
      inside[name].push(r.inside)
    }
  }
  const m = Object.fromEntries(names.map((n) => [n, median(wall[n])]))
  const mi = Object.fromEntries(names.map((n) => [n, median(inside[n])]))
  log(`  process wall-clock medians (ms): ${names.map((n) => `${n} ${m[n].toFixed(1)}`).join(', ')}`)
  log(`  load time measured inside the child (ms): ${names.slice(1).map((n) => `${n} ${mi[n].toFixed(1)}`).join(', ')}`)
  const detail = { runs, baseline: 'node -e ""', wallMedians: m, insideMedians: mi, wall, inside }
  notes.push(
    `cold import measured inside the child (median of ${runs}): reference ESM import ${mi.reference.toFixed(1)} ms, ours require ${mi.oursRequire.toFixed(1)} ms, ours ESM import ${mi.oursImport.toFixed(1)} ms`,
  )
  addRow({
    group: 'import',
    workload: 'cold import above bare `node -e ""` (ours require, ref ESM import)',
    storage: '-',
    unit: 'ms',
    reference: m.reference - m.bare,
    ours: m.oursRequire - m.bare,
    kind: 'time',
    target: 2,
    detail,
  })
  addRow({
    group: 'import',
    workload: 'cold import above bare `node -e ""` (both ESM import)',
    storage: '-',
    unit: 'ms',
    reference: m.reference - m.bare,
    ours: m.oursImport - m.bare,
    kind: 'time',
    target: 2,
    detail,
  })
}

// ---------------------------------------------------------------------------------------------
// 5. Memory per restored Session (child processes with --expose-gc)

function memory() {
  const n = 5000
  const runs = QUICK ? 1 : 3
  const results = { reference: [], ours: [] }
  for (let i = 0; i < runs; i++) {
    for (const name of i % 2 ? ['ours', 'reference'] : ['reference', 'ours']) {
      const r = spawnSync(process.execPath, ['--expose-gc', path.join(HERE, 'memory-child.mjs'), name, String(n)], {
        cwd: ROOT,
        encoding: 'utf8',
      })
      if (r.status !== 0) throw new Error(`memory child (${name}) failed: ${r.stderr}`)
      results[name].push(JSON.parse(r.stdout))
    }
  }
  const per = (name, key) => median(results[name].map((x) => x[key]))
  notes.push(
    `RSS growth per restored Session (median of ${runs}): reference ${per('reference', 'rssPerSession').toFixed(0)} B, ours ${per('ours', 'rssPerSession').toFixed(0)} B`,
  )
  addRow({
    group: 'memory',
    workload: `memory per restored Session (heap+external, N=${n})`,
    storage: 'InMemoryStorage',
    unit: 'B',
    reference: per('reference', 'perSession'),
    ours: per('ours', 'perSession'),
    kind: 'memory',
    target: 1,
    detail: { n, runs: results },
  })
}

// ---------------------------------------------------------------------------------------------
// 1. getSessionIdFromStorageAll

async function list(n, kind) {
  const data = makeSessions(n)
  const fns = {}
  for (const [name, pkg] of PACKAGES) {
    const storage = await seeded(pkg, kind, data)
    fns[name] = () => pkg.getSessionIdFromStorageAll(storage)
    const ids = await fns[name]()
    check(ids.length === n && ids[0] === data.ids[0] && ids[n - 1] === data.ids[n - 1], `${name} list of ${n}`)
  }
  const calls = {}
  for (const [name] of PACKAGES) {
    await warm(fns[name], { min: n >= 10_000 ? 50 : 200 })
    calls[name] = await callsFor(fns[name], 15)
  }
  const r = await interleaved(fns, { rounds: QUICK ? 5 : 21, calls })
  addRow({
    group: 'list',
    workload: `getSessionIdFromStorageAll, ${n.toLocaleString('en')} sessions`,
    storage: STORAGES[kind].label,
    unit: 'µs',
    reference: r.reference,
    ours: r.ours,
    kind: 'time',
    target: 1,
    detail: { n, calls, pairedRatio: r.paired, samples: r.samples },
  })
}

/**
 * Texts of a list of `n` IDs, each one login (an ID added at the end) or one logout (an ID taken
 * from anywhere in it) away from the one before, alternately; `count` of them, walked in a ring
 * (the step from the last back to the first is a bigger change, once per `count` calls).
 */
function loginLogoutTexts(n, count) {
  const ids = Array.from({ length: n }, () => randomUUID())
  const texts = []
  for (let i = 0; i < count; i++) {
    if (i % 2) ids.splice(Math.floor(Math.random() * ids.length), 1)
    else ids.push(randomUUID())
    texts.push(JSON.stringify(ids))
  }
  return texts
}

/**
 * The list workload above reads an unchanged list, which our side serves from the array it built
 * last time. Here the list changes before every call (a `set` of the list, timed, then the list
 * call): by one login or logout, as a server's list changes, and replaced wholesale by another
 * list of as many IDs. The floor is what no package can go under: the storage's own `set` and
 * `get` of the text and `JSON.parse` (the reference's storage, without the package).
 */
async function listChanging(n, kind) {
  const key = LIST_KEY
  const variants = {
    'one login or logout': { texts: loginLogoutTexts(n, 512), target: 1 },
    'replaced wholesale': { texts: [makeSessions(n).ids, makeSessions(n).ids].map((ids) => JSON.stringify(ids)), target: null },
  }
  for (const [variant, { texts, target }] of Object.entries(variants)) {
    const fns = {}
    const last = {}
    const floorStorage = STORAGES[kind].make(reference)
    let floorAt = 0
    fns.floor = async () => {
      await floorStorage.set(key, texts[floorAt++ % texts.length])
      return JSON.parse(await floorStorage.get(key))
    }
    for (const [name, pkg] of PACKAGES) {
      const storage = STORAGES[kind].make(pkg)
      // Each side walks the same texts in the same order, whatever the rounds' lengths.
      let at = 0
      fns[name] = async () => {
        last[name] = texts[at++ % texts.length]
        await storage.set(key, last[name])
        return pkg.getSessionIdFromStorageAll(storage)
      }
      const first = await fns[name]()
      check(first.length === JSON.parse(texts[0]).length && first[0] === JSON.parse(texts[0])[0], `${name} changing list of ${n}`)
    }
    const calls = {}
    for (const name of Object.keys(fns)) {
      await warm(fns[name])
      calls[name] = await callsFor(fns[name], 15)
    }
    // Ours checked against the texts after the warm-up (patches applied many times over).
    for (let i = 0; i < texts.length + 3; i++) check(JSON.stringify(await fns.ours()) === last.ours, `ours changing list (${variant})`)
    const r = await interleaved(fns, { rounds: QUICK ? 5 : 11, calls })
    addRow({
      group: 'list',
      workload: `list changed before every call (${variant}; set + getSessionIdFromStorageAll), ${n.toLocaleString('en')}`,
      storage: STORAGES[kind].label,
      unit: 'µs',
      reference: r.reference,
      ours: r.ours,
      kind: 'time',
      target,
      detail: { n, variant, calls, floor: r.floor, pairedRatio: r.paired, samples: r.samples },
    })
    notes.push(
      `list changed before every call (${variant}, ${n.toLocaleString('en')}, ${STORAGES[kind].label}): floor (the storage's set + get + JSON.parse) ${formatValue(r.floor, 'µs')}, reference ${formatValue(r.reference, 'µs')}, ours ${formatValue(r.ours, 'µs')}; median of per-round ratios (ref/ours) ${formatRatio(r.paired)}`,
    )
  }
}

// ---------------------------------------------------------------------------------------------
// 3. getSessionFromStorage (refreshSession: false)

async function restore(kind) {
  const n = 1000
  const data = makeSessions(n)
  const fns = {}
  // The floor: what no package can go under, a bare read of the session's record from the
  // reference's storage of this kind, and its JSON.parse.
  const floorStorage = await seeded(reference, kind, data)
  fns.floor = async (i) => JSON.parse(await floorStorage.get(`solidClientAuthenticationUser:${data.ids[i % n]}`))
  check((await fns.floor(0)) !== null, 'floor read')
  await warm(fns.floor, { min: 3 * n })
  for (const [name, pkg] of PACKAGES) {
    const storage = await seeded(pkg, kind, data)
    const options = { storage, refreshSession: false }
    fns[name] = (i) => pkg.getSessionFromStorage(data.ids[i % n], options)
    for (const i of [0, n - 1]) {
      const s = await fns[name](i)
      check(
        s instanceof pkg.Session && s.info.sessionId === data.ids[i] && s.info.webId === webIdOf(i) && s.info.isLoggedIn === false,
        `${name} restore`,
      )
    }
    await warm(fns[name], { min: 3 * n })
  }
  // One round restores every stored session once, in order.
  const r = await interleaved(fns, { rounds: QUICK ? 5 : 21, calls: { reference: n, ours: n, floor: n } })
  notes.push(
    `getSessionFromStorage (no refresh, ${STORAGES[kind].label}): floor (the storage's get of the record + JSON.parse) ${formatValue(r.floor, 'µs')}, reference ${formatValue(r.reference, 'µs')}, ours ${formatValue(r.ours, 'µs')}; median of per-round ratios (ref/ours) ${formatRatio(r.paired)}`,
  )
  addRow({
    group: 'restore',
    workload: `getSessionFromStorage (no refresh), ${n.toLocaleString('en')} stored`,
    storage: STORAGES[kind].label,
    unit: 'µs',
    reference: r.reference,
    ours: r.ours,
    kind: 'time',
    target: kind === 'memory' ? 5 : 1,
    detail: { n, pairedRatio: r.paired, samples: r.samples },
  })
}

// ---------------------------------------------------------------------------------------------
// 12. Native calls per restore: how many times one restore crosses from JS into the native
// binding (counted, not timed; the reference is JS only, so it has no figure).

async function nativeCalls() {
  const require = createRequire(import.meta.url)
  const { countNativeCalls } = require('../__test__/support/native-calls.js')
  // The binding object the package calls (one module, so the same one).
  const binding = require('../binding.js')
  const id = 'native-calls'
  for (const refresh of [true, false]) {
    for (const kind of ['js', 'memory']) {
      const storage = STORAGES[kind].make(ours)
      await storage.set(RECORD_PREFIX + id, sessionRecordWithAccessToken(0))
      const options = { storage, refreshSession: refresh }
      // The first restore from a storage makes its native handle; the rest are alike.
      await ours.getSessionFromStorage(id, options)
      const figures = []
      let byName
      for (let run = 0; run < 3; run++) {
        const counter = countNativeCalls(binding)
        let session
        try {
          session = await ours.getSessionFromStorage(id, options)
        } finally {
          counter.stop()
        }
        check(session.info.webId === webIdOf(0) && session.info.isLoggedIn === refresh, `ours restore (${kind}, refresh ${refresh})`)
        figures.push(counter.total)
        byName = counter.byName()
      }
      if (refresh) {
        // The restore a server makes per request (refreshSession is the default), timed: ours
        // only, as the reference refreshes over the network on every such restore.
        const rounds = []
        for (let round = 0; round < 5; round++) {
          const n = 2000
          const t0 = performance.now()
          for (let i = 0; i < n; i++) await ours.getSessionFromStorage(id, options)
          rounds.push(((performance.now() - t0) * 1000) / n)
        }
        rounds.sort((a, b) => a - b)
        notes.push(`getSessionFromStorage (refreshSession, the default; stored access token valid, ${STORAGES[kind].label}): ours ${formatValue(rounds[2], 'µs')} (median of 5 rounds of 2,000; no reference figure: it refreshes over the network)`)
      }
      addRow({
        group: 'calls',
        workload: refresh ? 'native calls per restore (refresh), stored access token valid' : 'native calls per restore (no refresh)',
        storage: STORAGES[kind].label,
        unit: '',
        reference: null,
        ours: Math.max(...figures),
        kind: 'max',
        target: refresh && kind === 'js' ? 3 : null,
        detail: { runs: figures, byName },
      })
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. clearSessionFromStorageAll

async function clearOnce(name, pkg, kind, data, verify) {
  const storage = await seeded(pkg, kind, data)
  await settle()
  const t0 = performance.now()
  await pkg.clearSessionFromStorageAll(storage)
  const ms = performance.now() - t0
  if (verify) {
    const left = await pkg.getSessionIdFromStorageAll(storage)
    check(Array.isArray(left) && left.length === 0, `${name} clear left the list empty`)
    check((await storage.get(RECORD_PREFIX + data.ids[0])) === undefined, `${name} clear deleted the records`)
    check((await storage.get(LIST_KEY)) === '[]', `${name} clear wrote "[]"`)
  }
  return ms
}

async function clear(n, kind, { referenceRuns, oursRuns }) {
  const data = makeSessions(n)
  // Warm-up on a small store, so that neither package's first timed run pays for compilation.
  const small = makeSessions(200)
  for (const [name, pkg] of PACKAGES) for (let i = 0; i < 3; i++) await clearOnce(name, pkg, kind, small, i === 0)
  const times = { reference: [], ours: [] }
  const runs = Math.max(referenceRuns, oursRuns)
  for (let i = 0; i < runs; i++) {
    for (const [name, pkg] of i % 2 ? [...PACKAGES].reverse() : PACKAGES) {
      if (times[name].length >= (name === 'reference' ? referenceRuns : oursRuns)) continue
      times[name].push(await clearOnce(name, pkg, kind, data, i === 0))
    }
  }
  log(`  clear ${n} ${kind}: reference runs ${times.reference.map((t) => t.toFixed(1)).join(', ')} ms; ours median ${median(times.ours).toFixed(2)} ms`)
  addRow({
    group: 'clear',
    workload: `clearSessionFromStorageAll, ${n.toLocaleString('en')} sessions`,
    storage: STORAGES[kind].label,
    unit: 'ms',
    reference: median(times.reference),
    ours: median(times.ours),
    kind: 'time',
    target: n >= 10_000 ? 20 : 1,
    detail: { n, times },
  })
}

// ---------------------------------------------------------------------------------------------
// Output

function formatValue(v, unit) {
  // No figure: the reference's, for what only this package has (native calls).
  if (v === null) return '-'
  if (unit === 'B') return `${Math.round(v).toLocaleString('en')} B`
  if (unit === 'req') return `${Number.isInteger(v) ? v : v.toFixed(2)} req`
  if (unit === '') return Number.isInteger(v) ? v.toLocaleString('en') : v.toFixed(2)
  if (unit === 'MB') return `${v.toFixed(1)} MB`
  if (unit === '/s') return `${v.toFixed(v < 100 ? 1 : 0)}/s`
  if (unit.startsWith('/')) return `${v}${unit}`
  const us = unit === 'ms' ? v * 1000 : v
  if (Math.abs(us) >= 1e6) return `${(us / 1e6).toFixed(2)} s`
  if (Math.abs(us) >= 1e3) return `${(us / 1e3).toFixed(2)} ms`
  return `${us.toFixed(us < 10 ? 2 : 1)} µs`
}

function formatRatio(r) {
  if (r === null) return '-'
  if (r === Infinity) return 'inf'
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`
}

function targetText(r) {
  if (r.target === null) return '-'
  if (r.kind === 'memory') return `ours/ref <= ${r.target}`
  if (r.kind === 'rate') return `ours/ref >= ${r.target}`
  if (r.kind === 'overhead') return `ours <= ref/${r.target}`
  if (r.kind === 'max') return `ours <= ${r.target}`
  if (r.kind === 'min') return `ours >= ${r.target}`
  return `ref/ours >= ${r.target}`
}

function table() {
  const header = ['Workload', 'Storage', 'Reference', 'Ours', 'Ratio', 'Target', 'Result']
  const body = rows.map((r) => [
    r.workload,
    r.storage,
    formatValue(r.reference, r.unit),
    formatValue(r.ours, r.unit),
    formatRatio(r.ratio),
    targetText(r),
    r.pass === null ? '-' : r.pass ? 'PASS' : 'MISS',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------------------

const loadBefore = os.loadavg()
log(`solid-client-authn-native bench: node ${process.version}, reference ${REFERENCE_NAME}@${referenceVersion}${QUICK ? ' (quick)' : ''}`)
log(`binary: ${BINARY.from ?? BINARY.path} (${BINARY.source}; ${(BINARY.bytes / 1e6).toFixed(1)} MB, built ${BINARY.builtAt}${BINARY.debug ? ', DEBUG BUILD' : ''})${BINARY.copied ? `, loaded from the copy ${BINARY.path}` : ''}`)
if (SELECTED.has('import')) {
  log('cold import (child processes)...')
  coldImport()
}
if (SELECTED.has('memory')) {
  log('memory per session (child processes)...')
  memory()
}
if (SELECTED.has('list')) {
  log('getSessionIdFromStorageAll...')
  for (const n of [1000, 10_000]) for (const kind of ['memory', 'js']) await list(n, kind)
  for (const kind of ['memory', 'js']) await listChanging(1000, kind)
}
if (SELECTED.has('restore')) {
  log('getSessionFromStorage...')
  for (const kind of ['memory', 'js']) await restore(kind)
}
if (SELECTED.has('calls')) {
  log('native calls per restore...')
  await nativeCalls()
}
if (SELECTED.has('clear')) {
  log('clearSessionFromStorageAll, 1,000...')
  for (const kind of ['memory', 'js']) await clear(1000, kind, { referenceRuns: QUICK ? 1 : 5, oursRuns: QUICK ? 5 : 15 })
  if (!QUICK) {
    log('clearSessionFromStorageAll, 10,000 (one run of the reference takes 9-18 s)...')
    for (const kind of ['memory', 'js']) await clear(10_000, kind, { referenceRuns: 1, oursRuns: 9 })
  }
}
if (NETWORK.length) {
  // One CSS for all the network workloads. servers.js also kills it if this process exits
  // without stopping it, and the server stops by itself if this process dies.
  log('starting Community Solid Server...')
  const css = await createRequire(import.meta.url)('../__test__/support/servers.js').startCss()
  log(`  CSS at ${css.issuer}`)
  try {
    const ctx = { reference, ours, QUICK, log, notes, addRow, check, median, settle, interleaved, warm, callsFor, perCall, formatValue, formatRatio }
    const { networkWorkloads } = await import('./network.mjs')
    await networkWorkloads(ctx, css, new Set(NETWORK))
  } finally {
    await css.stop()
  }
}

if (MULTI_PROCESS.length) {
  // Each workload starts its own oidc-provider per package, and one Redis for both.
  const ctx = { reference, ours, QUICK, log, notes, addRow }
  const { multiProcessWorkloads } = await import('./multi-process.mjs')
  await multiProcessWorkloads(ctx, new Set(MULTI_PROCESS), { loadSeconds: LOAD_SECONDS })
}

const paired = rows.filter((r) => r.detail?.pairedRatio !== undefined && r.detail?.n !== undefined)
if (paired.length) {
  notes.push(
    `median of per-round ratios (ref/ours, rounds run back to back): ${paired
      .map((r) => `${r.group}${r.detail.variant ? ` changed (${r.detail.variant})` : ''} ${r.detail.n.toLocaleString('en')} ${r.storage} ${formatRatio(r.detail.pairedRatio)}`)
      .join(', ')}`,
  )
}
const seconds = (performance.now() - started) / 1000
const loadAfter = os.loadavg()
const load = (l) => l.map((x) => x.toFixed(2)).join(' ')
const out = table()
const date = new Date().toISOString()
console.log(`\nsolid-client-authn-native vs ${REFERENCE_NAME}@${referenceVersion} — ${date}`)
console.log(`node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}`)
console.log(`load average (1/5/15 min) at start ${load(loadBefore)}, at end ${load(loadAfter)}`)
console.log(`binary: ${path.relative(ROOT, BINARY.from ?? BINARY.path)}, ${(BINARY.bytes / 1e6).toFixed(1)} MB, built ${BINARY.builtAt}${BINARY.debug ? ' (DEBUG BUILD)' : ''}\n`)
console.log(out)
if (notes.length) console.log(`\n${notes.map((n) => `- ${n}`).join('\n')}`)
const targeted = rows.filter((r) => r.pass !== null)
const missed = targeted.filter((r) => !r.pass)
console.log(`\n${targeted.length - missed.length}/${targeted.length} targets met${missed.length ? `; missed: ${missed.map((r) => (r.storage === '-' ? r.workload : `${r.workload} [${r.storage}]`)).join('; ')}` : ''}`)
console.log(`total bench time: ${seconds.toFixed(1)} s`)

writeFileSync(
  RESULTS_PATH,
  `${JSON.stringify(
    {
      date,
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      reference: `${REFERENCE_NAME}@${referenceVersion}`,
      quick: QUICK,
      only: [...SELECTED],
      binary: BINARY,
      seconds,
      loadavg: { start: loadBefore, end: loadAfter },
      rows,
      notes,
      table: out,
    },
    null,
    2,
  )}\n`,
)
log(`results written to ${path.relative(process.cwd(), RESULTS_PATH) || RESULTS_PATH}`)

// Sessions can keep timers that keep Node alive (the reference's do: its token-refresh timer;
// the workloads clear or log out every one they make). Say how many timers are still set, then
// exit rather than wait on them, so that a run always ends.
const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
if (timers) log(`${timers} timer(s) still set at the end (not waited for)`)
process.exit(0)

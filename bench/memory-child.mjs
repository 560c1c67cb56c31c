// Child process of bench/run.mjs (needs --expose-gc): restores N sessions from the package's own
// InMemoryStorage, keeps every Session referenced, and prints the memory they hold as JSON.
//
//   node --expose-gc bench/memory-child.mjs <reference|ours> <N>

import { createRequire } from 'node:module'
import { setImmediate as tick } from 'node:timers/promises'
import { makeSessions, seed } from './fixtures.mjs'

const [which, nArg] = process.argv.slice(2)
const n = Number(nArg)
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')
if (!(n > 0) || !['reference', 'ours'].includes(which)) throw new Error('usage: memory-child.mjs <reference|ours> <N>')

const pkg =
  which === 'reference'
    ? await import('@inrupt/solid-client-authn-node')
    : createRequire(import.meta.url)('..')

async function settle() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc()
    await tick()
  }
}

function usage() {
  const u = process.memoryUsage()
  return { heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers, rss: u.rss }
}

const storage = new pkg.InMemoryStorage()
const data = makeSessions(n)
await seed(storage, data)
// Only the store keeps the seeded strings from here on; the IDs stay referenced to the end, so
// nothing the baseline counts is freed during the measurement.
const ids = data.ids
data.entries = null
const options = { storage, refreshSession: false }

// Warm up the restore path (code, inline caches, lazily built internals) before the baseline.
for (let i = 0; i < 200; i++) await pkg.getSessionFromStorage(ids[i % n], options)

const kept = new Array(n).fill(null)
await settle()
const before = usage()
for (let i = 0; i < n; i++) kept[i] = await pkg.getSessionFromStorage(ids[i], options)
await settle()
const after = usage()

if (kept.some((s, i) => s == null || s.info.sessionId !== ids[i])) {
  throw new Error('a session failed to restore')
}
const delta = (k) => after[k] - before[k]
process.stdout.write(
  JSON.stringify({
    n,
    heapUsed: delta('heapUsed'),
    external: delta('external'),
    rss: delta('rss'),
    perSession: (delta('heapUsed') + delta('external')) / n,
    rssPerSession: delta('rss') / n,
    kept: kept.length,
  }),
)

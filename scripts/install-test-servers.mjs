#!/usr/bin/env node
// Install the test servers' pinned packages (npm ci) into test-servers/css and test-servers/op.
//
//   node scripts/install-test-servers.mjs [css] [op] [--quiet]
//
// Idempotent: each folder keeps a stamp (node_modules/.install-stamp) holding a hash of its
// package.json and package-lock.json; a folder whose stamp matches (and whose main package is
// present) is skipped. npm ci removes node_modules first, so a failed install leaves no stamp.
// Concurrent runs (several test files starting servers at once) wait on a lock in the OS temp dir.
// --quiet prints nothing when everything is already installed (used by __test__/support/servers.js).
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SERVERS = {
  css: { dir: path.join(ROOT, 'test-servers/css'), probe: '@solid/community-server' },
  op: { dir: path.join(ROOT, 'test-servers/op'), probe: 'oidc-provider' },
}
const STAMP = 'node_modules/.install-stamp'

const args = process.argv.slice(2)
const quiet = args.includes('--quiet')
const names = args.filter((a) => !a.startsWith('--'))
for (const n of names) {
  if (!SERVERS[n]) {
    console.error(`install-test-servers: unknown server "${n}" (known: ${Object.keys(SERVERS).join(', ')})`)
    process.exit(2)
  }
}
const log = (msg) => console.error(`install-test-servers: ${msg}`)

function wanted(dir) {
  const h = crypto.createHash('sha256')
  for (const f of ['package.json', 'package-lock.json']) h.update(fs.readFileSync(path.join(dir, f)))
  return h.digest('hex').slice(0, 16)
}

function upToDate({ dir, probe }) {
  try {
    return (
      fs.readFileSync(path.join(dir, STAMP), 'utf8').trim() === wanted(dir) &&
      fs.existsSync(path.join(dir, 'node_modules', probe, 'package.json'))
    )
  } catch {
    return false
  }
}

// The variables npm sets for the outer script (`npm test`) describe the root project; the nested
// npm ci must resolve its own folder, so drop them (registry, cache and proxy settings stay).
function childEnv() {
  const env = { ...process.env }
  for (const k of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|config_local_prefix$|config_prefix$|command$)/i.test(k)) delete env[k]
  }
  return env
}

function npmCi(dir) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  return new Promise((resolve, reject) => {
    const child = spawn(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: dir,
      env: childEnv(),
      stdio: ['ignore', process.stderr, process.stderr],
      shell: process.platform === 'win32',
    })
    child.on('error', reject)
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`npm ci in ${dir} failed (${signal ?? `exit code ${code}`})`)),
    )
  })
}

// A lock directory per checkout, so that concurrent runs do not npm ci into the same folder at once.
async function withLock(fn) {
  const id = crypto.createHash('sha256').update(ROOT).digest('hex').slice(0, 12)
  const lock = path.join(os.tmpdir(), `solid-test-servers-install-${id}.lock`)
  const deadline = Date.now() + 15 * 60 * 1000
  let announced = false
  for (;;) {
    try {
      fs.mkdirSync(lock)
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid))
      break
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
      let owner = NaN
      try {
        owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'))
      } catch {}
      let alive = false
      if (owner > 0) {
        try {
          process.kill(owner, 0)
          alive = true
        } catch (err) {
          alive = err.code === 'EPERM'
        }
      }
      // A lock without a live owner is stale (the owner crashed); one without a pid file yet is
      // only stale once it is older than a few seconds.
      let young = false
      try {
        young = Date.now() - fs.statSync(lock).mtimeMs < 5000
      } catch {}
      if (!alive && !(Number.isNaN(owner) && young)) {
        fs.rmSync(lock, { recursive: true, force: true })
        continue
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the install lock ${lock} (pid ${owner})`)
      if (!announced) log(`waiting for another install (pid ${owner}) to finish`)
      announced = true
      await new Promise((r) => setTimeout(r, 250))
    }
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

async function main() {
  const [major] = process.versions.node.split('.').map(Number)
  if (major < 20) throw new Error(`Node >= 20 is required, this is ${process.version}`)
  const selected = names.length ? names : Object.keys(SERVERS)
  if (selected.every((n) => upToDate(SERVERS[n]))) {
    if (!quiet) for (const n of selected) log(`test-servers/${n} is up to date (stamp matches), skipping`)
    return
  }
  await withLock(async () => {
    for (const n of selected) {
      const server = SERVERS[n]
      // Re-check under the lock: another run may have installed it while we waited.
      if (upToDate(server)) {
        if (!quiet) log(`test-servers/${n} is up to date (stamp matches), skipping`)
        continue
      }
      const stamp = wanted(server.dir)
      log(`installing test-servers/${n} (npm ci, pinned lock) ...`)
      const t0 = performance.now()
      await npmCi(server.dir)
      fs.writeFileSync(path.join(server.dir, STAMP), `${stamp}\n`)
      log(`installed test-servers/${n} in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    }
  })
}

main().catch((e) => {
  log(e.message)
  process.exit(1)
})

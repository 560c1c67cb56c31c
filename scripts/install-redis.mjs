#!/usr/bin/env node
// Install Redis for the tests when `redis-server` is not on PATH (Debian: the `redis-server`
// package, which brings redis-cli too).
//
//   node scripts/install-redis.mjs [--quiet]
//
// Idempotent: when redis-server is found it only says so (and with --quiet prints nothing).
// Otherwise it runs `apt-get install -y --no-install-recommends redis-server`, and only if that
// fails `apt-get update` and the install again. It needs root and apt-get; without them it exits 1
// saying how to install Redis by hand. The tests never use the system instance the package sets
// up: __test__/support/redis.js starts its own servers on free ports with their own settings. So
// that none is started for nothing, a policy-rc.d that forbids service starts is put in place for
// the install when the machine has none (containers usually have one already); it is removed after.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const quiet = process.argv.includes('--quiet')
const log = (msg) => console.error(`install-redis: ${msg}`)
const POLICY = '/usr/sbin/policy-rc.d'

/** The absolute path of an executable on PATH, or undefined. */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const file = path.join(dir, name)
    try {
      fs.accessSync(file, fs.constants.X_OK)
      if (fs.statSync(file).isFile()) return file
    } catch {}
  }
  return undefined
}

function version(binary) {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 })
  return out.status === 0 ? out.stdout.trim() : `(${binary} --version failed: ${(out.stderr || out.error?.message || '').trim()})`
}

function fail(message) {
  log(message)
  process.exit(1)
}

function run(command, args) {
  log(`running: ${command} ${args.join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', process.stderr, process.stderr],
      // No questions, and no wait for a terminal: this runs in CI.
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
    child.on('error', (error) => resolve({ ok: false, why: error.message }))
    child.on('exit', (code, signal) => resolve({ ok: code === 0, why: signal ?? `exit code ${code}` }))
  })
}

const found = onPath('redis-server')
if (found) {
  if (!quiet) log(`${found} is there (${version(found)}), nothing to do`)
  process.exit(0)
}

const byHand = 'Install Redis yourself (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) so that redis-server is on PATH.'
if (process.platform !== 'linux') fail(`redis-server is not on PATH, and this script installs it only on Debian-like Linux. ${byHand}`)
const aptGet = onPath('apt-get')
if (!aptGet) fail(`redis-server is not on PATH and there is no apt-get to install it with. ${byHand}`)
if (typeof process.getuid === 'function' && process.getuid() !== 0) {
  fail(`redis-server is not on PATH, and installing it with apt-get needs root (this is uid ${process.getuid()}). ${byHand}`)
}

// Wait for another apt or dpkg run (up to 5 minutes) rather than fail at once on its lock.
const install = ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', 'redis-server']
let policyAdded = false
const removePolicy = () => {
  if (policyAdded) fs.rmSync(POLICY, { force: true })
  policyAdded = false
}
process.on('exit', removePolicy)
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1))
try {
  if (!fs.existsSync(POLICY)) {
    // Exit code 101: "action forbidden"; invoke-rc.d and deb-systemd-invoke then start nothing.
    fs.writeFileSync(POLICY, '#!/bin/sh\n# Put here by install-redis.mjs for the install only.\nexit 101\n', { mode: 0o755 })
    policyAdded = true
    log(`put ${POLICY} in place for the install, so that the package starts no system Redis`)
  }
  log('redis-server is not on PATH: installing the Debian package redis-server')
  let result = await run(aptGet, install)
  if (!result.ok) {
    log(`the install failed (${result.why}); updating the package lists and trying again`)
    const update = await run(aptGet, ['-o', 'DPkg::Lock::Timeout=300', 'update'])
    if (!update.ok) log(`apt-get update failed too (${update.why})`)
    result = await run(aptGet, install)
  }
  if (!result.ok) fail(`apt-get install redis-server failed (${result.why}). ${byHand}`)
} finally {
  removePolicy()
}

const installed = onPath('redis-server') ?? ['/usr/bin/redis-server', '/usr/sbin/redis-server'].find((f) => fs.existsSync(f))
if (!installed) fail('apt-get install redis-server succeeded, but redis-server is still not on PATH.')
if (!onPath('redis-server')) fail(`redis-server was installed as ${installed}, which is not on PATH (${process.env.PATH}).`)
log(`installed ${installed} (${version(installed)})`)

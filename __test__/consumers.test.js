'use strict'
// Consumer tests: each folder under __test__/consumers/ is a small project that depends on this
// package through `file:../../..` (npm symlinks the package root into its node_modules) and tests
// it with a third-party runner: jest (require, and import under --experimental-vm-modules) and
// vitest (import and require, in forks and in worker threads).
//
// For each folder this installs its locked dependencies when node_modules is missing or was
// installed from a different package.json / package-lock.json, then runs its `npm test`.
// Needs only what a fresh clone has after `npm install && npm run build:debug` at the root, plus
// the npm registry for the consumers' own dev dependencies.

const { describe, test, before } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { createHash } = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const CONSUMERS = path.join(__dirname, 'consumers')
const PACKAGE_NAME = 'solid-client-authn-native'
const STAMP = '.consumer-install-stamp'

// Limits for the child processes, which are killed when they run over. Under `node --test
// --test-timeout=N` (the root test:js script passes 120 s) node also gives this whole file N ms,
// whatever the tests here ask for: a first install on a slow network may need a direct run,
// `node --test __test__/consumers.test.js`, which has no overall limit.
const INSTALL_TIMEOUT_MS = 10 * 60_000
const TEST_TIMEOUT_MS = 5 * 60_000

const consumers = fs
  .readdirSync(CONSUMERS, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(CONSUMERS, entry.name, 'package.json')))
  .map((entry) => entry.name)
  .sort()

/** What the installed node_modules must have been installed from. */
function installFingerprint(dir) {
  const hash = createHash('sha256')
  for (const file of ['package.json', 'package-lock.json']) {
    const full = path.join(dir, file)
    hash.update(`${file}\0`)
    hash.update(fs.existsSync(full) ? fs.readFileSync(full) : '<none>')
    hash.update('\0')
  }
  return hash.digest('hex')
}

/** Why node_modules must be (re)installed, or null when it is up to date. */
function staleness(dir) {
  const modules = path.join(dir, 'node_modules')
  if (!fs.existsSync(modules)) return 'node_modules is missing'
  let stamp
  try {
    stamp = fs.readFileSync(path.join(modules, STAMP), 'utf8').trim()
  } catch {
    return 'node_modules was not installed by this test'
  }
  if (stamp !== installFingerprint(dir)) return 'package.json or package-lock.json changed since the last install'
  try {
    if (fs.realpathSync(path.join(modules, PACKAGE_NAME)) !== fs.realpathSync(ROOT)) {
      return `node_modules/${PACKAGE_NAME} does not link to the package root`
    }
  } catch {
    return `node_modules/${PACKAGE_NAME} is missing`
  }
  return null
}

// Children still running when this process is told to stop (node --test's --test-timeout, Ctrl-C)
// are stopped with it, so that no npm ci is left writing a node_modules behind.
const running = new Set()
function stopChildren() {
  for (const child of running) child.kill('SIGTERM')
}
process.on('exit', stopChildren)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    stopChildren()
    process.kill(process.pid, signal)
  })
}

/** Runs a command to completion without blocking the event loop; never rejects. */
function run(command, args, cwd, timeoutMs) {
  return new Promise((resolve) => {
    const started = Date.now()
    const env = { ...process.env, NO_COLOR: '1' }
    delete env.FORCE_COLOR
    const child = spawn(command, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // npm is npm.cmd on Windows, which only a shell can start.
      shell: process.platform === 'win32',
    })
    running.add(child)
    const chunks = []
    child.stdout.on('data', (chunk) => chunks.push(chunk))
    child.stderr.on('data', (chunk) => chunks.push(chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    const finish = (code, signal, error) => {
      running.delete(child)
      clearTimeout(timer)
      resolve({
        command: `${command} ${args.join(' ')}`,
        cwd,
        code,
        signal,
        error,
        timedOut,
        ms: Date.now() - started,
        output: Buffer.concat(chunks).toString('utf8'),
      })
    }
    child.on('error', (error) => finish(null, null, error))
    child.on('close', (code, signal) => finish(code, signal, undefined))
  })
}

function describeRun(result) {
  const how = result.error
    ? `could not start: ${result.error.message}`
    : result.timedOut
      ? `timed out after ${result.ms} ms`
      : `exited with ${result.signal ? `signal ${result.signal}` : `code ${result.code}`} after ${result.ms} ms`
  return `\`${result.command}\` in ${result.cwd} ${how}\n----- output -----\n${result.output}\n------------------`
}

function assertSucceeded(result) {
  assert.ok(!result.error && !result.timedOut && result.code === 0, describeRun(result))
}

before(() => {
  // The consumers load the package root as it is: its loader and a built binary must be there.
  assert.ok(
    fs.existsSync(path.join(ROOT, 'binding.js')) &&
      fs.readdirSync(ROOT).some((name) => name.startsWith(`${PACKAGE_NAME}.`) && name.endsWith('.node')),
    `No native binary in ${ROOT}: run \`npm run build:debug\` there first`,
  )
})

describe('the package works when consumed from a test runner', { concurrency: true, timeout: Infinity }, () => {
  assert.ok(consumers.length >= 2, `expected consumer projects in ${CONSUMERS}, found ${consumers.join(', ') || 'none'}`)

  for (const name of consumers) {
    const dir = path.join(CONSUMERS, name)

    test(`consumer: ${name}`, { timeout: Infinity }, async (t) => {
      const reason = staleness(dir)
      if (reason !== null) {
        const locked = fs.existsSync(path.join(dir, 'package-lock.json'))
        const args = [locked ? 'ci' : 'install', '--no-audit', '--no-fund']
        t.diagnostic(`${name}: ${reason}; running npm ${args.join(' ')}`)
        const install = await run('npm', args, dir, INSTALL_TIMEOUT_MS)
        assertSucceeded(install)
        t.diagnostic(`${name}: installed in ${install.ms} ms`)
        fs.writeFileSync(path.join(dir, 'node_modules', STAMP), `${installFingerprint(dir)}\n`)
        const after = staleness(dir)
        assert.equal(after, null, `${name}: node_modules is still not usable after npm ${args[0]}: ${after}`)
      }

      const result = await run('npm', ['test'], dir, TEST_TIMEOUT_MS)
      assertSucceeded(result)
      t.diagnostic(`${name}: npm test passed in ${result.ms} ms`)
    })
  }
})

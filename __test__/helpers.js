'use strict'
// Storages and records shared by the tests.

const RECORD_PREFIX = 'solidClientAuthenticationUser:'
const LIST_KEY = 'solidClientAuthn:registeredSessions'

/** An IStorage over a Map whose methods are async, with a log of the calls made. */
function asyncMapStorage(entries = []) {
  const map = new Map(entries)
  const calls = []
  return {
    map,
    calls,
    async get(key) {
      calls.push(['get', key])
      return map.get(key)
    },
    async set(key, value) {
      calls.push(['set', key])
      map.set(key, value)
    },
    async delete(key) {
      calls.push(['delete', key])
      map.delete(key)
    },
  }
}

/**
 * An IStorage kept in a JSON file, read and written whole on every call: two processes can
 * share it one after the other (a session stored by one, restored by another).
 */
function fileStorage(path) {
  const fs = require('node:fs')
  const read = () => (fs.existsSync(path) ? JSON.parse(fs.readFileSync(path, 'utf8')) : {})
  const write = (entries) => fs.writeFileSync(path, JSON.stringify(entries))
  return {
    path,
    entries: read,
    async get(key) {
      return read()[key]
    },
    async set(key, value) {
      write({ ...read(), [key]: value })
    },
    async delete(key) {
      const entries = read()
      delete entries[key]
      write(entries)
    },
  }
}

/**
 * Runs `__test__/support/restore-child.js` in a new Node process: it restores `sessionId` from
 * the file storage at `path` and fetches `resource`. Resolves with what the child printed.
 */
async function restoreInChild(path, sessionId, resource) {
  const { execFile } = require('node:child_process')
  const script = require('node:path').join(__dirname, 'support', 'restore-child.js')
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, path, sessionId, resource], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`the child failed: ${error.message}\n${stderr}`))
      resolve(JSON.parse(stdout))
    })
  })
}

/**
 * A record like the one an authorization-code login leaves (reference layout, §6.6), marked as
 * this package marks a login whose WebID it verified (`webIdVerifiedIssuer`): the synthetic
 * WebID's profile cannot be fetched, and a restore checks an unmarked record first.
 */
function loggedInRecord(overrides = {}) {
  const record = {
    clientId: 'https://app.example/id',
    clientType: 'solid-oidc',
    clientName: 'https://app.example/id',
    issuer: 'https://idp.example/',
    redirectUrl: 'https://app.example/cb',
    dpop: 'true',
    keepAlive: 'true',
    refreshToken: 'SECRET-REFRESH-TOKEN',
    webId: 'https://alice.example/profile/card#me',
    isLoggedIn: 'true',
    publicKey: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', alg: 'ES256' }),
    privateKey: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', d: 'SECRET-PRIVATE-D' }),
    ...overrides,
  }
  // Marked for whatever issuer the record names, unless the caller says otherwise.
  if (!('webIdVerifiedIssuer' in overrides) && typeof record.issuer === 'string') record.webIdVerifiedIssuer = record.issuer
  return record
}

/** Writes sessions into any IStorage the way the reference lays them out. */
async function seed(storage, sessions) {
  await storage.set(LIST_KEY, JSON.stringify(Object.keys(sessions)))
  for (const [id, record] of Object.entries(sessions)) {
    await storage.set(RECORD_PREFIX + id, JSON.stringify(record))
  }
}

/** The error a promise rejects with; fails the test if it resolves. */
async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

/**
 * Runs `source` in a new Node process in the package's folder (so `require('.')` is the package);
 * resolves with its stdout parsed as JSON (undefined when empty), its stderr and how long it ran.
 */
function runChild(source, env = {}, timeout = 30_000) {
  const { execFile } = require('node:child_process')
  const root = require('node:path').join(__dirname, '..')
  return new Promise((resolve, reject) => {
    const started = Date.now()
    execFile(process.execPath, ['-e', source], { cwd: root, env: { ...process.env, ...env }, timeout }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`the child failed: ${error.message}\n${stderr}`))
      resolve({ out: stdout.trim() === '' ? undefined : JSON.parse(stdout), elapsed: Date.now() - started, stderr })
    })
  })
}

/** Calls `fn` again every 200 ms for up to `timeoutMs` while it rejects with an error `retried` accepts. */
async function eventually(fn, retried, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await fn()
    } catch (error) {
      if (!retried(error) || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}

/**
 * A private CA and a server certificate it signed, for localhost and 127.0.0.1 (servers announce
 * themselves by IP address), made with openssl in a folder removed after test `t`: the paths of
 * `ca` (what NODE_EXTRA_CA_CERTS names), and the server's `cert` and `key`.
 */
function privateCa(t, prefix) {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const { execFileSync } = require('node:child_process')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA')
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf')
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') }
}

module.exports = { RECORD_PREFIX, LIST_KEY, asyncMapStorage, fileStorage, restoreInChild, loggedInRecord, seed, rejection, runChild, eventually, privateCa }

'use strict'
// Real Solid servers on localhost for the tests: Community Solid Server 7.2 (startCss) and panva's
// oidc-provider configured for Solid (startOp). Node built-ins only; the servers themselves live in
// test-servers/css and test-servers/op (installed by scripts/install-test-servers.mjs, which this
// module runs when needed). See README.md beside this file.

const { spawn } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const CSS_DIR = path.join(ROOT, 'test-servers', 'css')
const OP_DIR = path.join(ROOT, 'test-servers', 'op')
const CSS_PKG = path.join(CSS_DIR, 'node_modules', '@solid', 'community-server')
const INSTALLER = path.join(ROOT, 'scripts', 'install-test-servers.mjs')
const IS_WINDOWS = process.platform === 'win32'

// ---------------------------------------------------------------------------------------------
// Children: every server runs in its own process group, is killed when this process exits, and
// stops by itself when this process dies (it watches its IPC channel).

const live = new Set()
let exitHookInstalled = false

function killTree(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return
  try {
    if (IS_WINDOWS) child.kill(signal)
    else process.kill(-child.pid, signal)
  } catch {
    try {
      child.kill(signal)
    } catch {}
  }
}

function installExitHook() {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const child of live) {
      killTree(child, 'SIGKILL')
      if (child.tmpDir && !child.keepLog) fs.rmSync(child.tmpDir, { recursive: true, force: true })
    }
  })
}

function launch(args, { cwd, logFile, env, keepLog }) {
  const fd = fs.openSync(logFile, 'a')
  let child
  try {
    const childEnv = { ...process.env, ...env }
    delete childEnv.NODE_TEST_CONTEXT // set by `node --test` for its own children
    child = spawn(process.execPath, args, {
      cwd,
      env: childEnv,
      stdio: ['ignore', fd, fd, 'ipc'],
      detached: !IS_WINDOWS, // own process group: stop() kills exactly this server and its children
      windowsHide: true,
    })
  } finally {
    fs.closeSync(fd)
  }
  installExitHook()
  child.tmpDir = cwd
  child.keepLog = keepLog
  live.add(child)
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    })
    child.once('error', (error) => {
      live.delete(child)
      resolve({ code: null, signal: null, error })
    })
  })
  // The server must not keep the test process alive; the exit hook and the IPC watchdog clean up.
  child.unref()
  child.channel?.unref()
  // Waiting for the exit must keep the event loop alive, though (else Node may quit mid-await).
  child.waitExit = () => {
    child.ref()
    return exited
  }
  return child
}

function stopper(child, tmpDir, keepLog) {
  let stopping
  return function stop() {
    stopping ??= (async () => {
      killTree(child, 'SIGTERM')
      const timer = setTimeout(() => killTree(child, 'SIGKILL'), 5000)
      await child.waitExit()
      clearTimeout(timer)
      if (!keepLog) fs.rmSync(tmpDir, { recursive: true, force: true })
    })()
    return stopping
  }
}

function logTail(logFile, lines = 40) {
  try {
    return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch (e) {
    return `(no log: ${e.message})`
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function ensureInstalled(name) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [INSTALLER, name, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const collect = (chunk) => {
      out += chunk
      process.stderr.write(chunk)
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`installing test-servers/${name} failed (exit code ${code}):\n${out.slice(-4000)}`)),
    )
  })
}

function listenOnce(port, host) {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ port, host, exclusive: true }, () => {
      const { port: got } = server.address()
      server.close(() => resolve(got))
    })
  })
}

/** A port free on 127.0.0.1 and, where IPv6 exists, on ::1 too (clients dial `localhost`). */
async function freePort() {
  for (let i = 0; i < 20; i += 1) {
    const port = await listenOnce(0, '127.0.0.1')
    try {
      await listenOnce(port, '::1')
      return port
    } catch (e) {
      if (e.code !== 'EADDRINUSE') return port // no IPv6 loopback here: nothing can shadow us
    }
  }
  throw new Error('no free port found on 127.0.0.1 and ::1')
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Polls url until it answers 200. Throws if the child dies or the time runs out. */
async function waitHttp(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the server process exited (${child.signalCode ?? `exit code ${child.exitCode}`}) before ${url} answered`)
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      last = `HTTP ${res.status}`
    } catch (e) {
      last = e.cause?.code ?? e.message
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} (last: ${last})`)
    await sleep(50)
  }
}

/**
 * Starts a server child on a free port (or on `fixedPort`, again after a failure there),
 * retrying on a new port when the one picked was taken in between (EADDRINUSE). Returns
 * { child, port } once readyUrl(port) answers 200.
 */
async function startOnFreePort({ what, args, cwd, logFile, env, readyUrl, timeoutMs, keepLog, fixedPort }) {
  for (let attempt = 1; ; attempt += 1) {
    const port = fixedPort ?? (await freePort())
    fs.appendFileSync(logFile, `--- starting ${what} on port ${port} (attempt ${attempt})\n`)
    const child = launch(args(port), { cwd, logFile, env, keepLog })
    try {
      await waitHttp(readyUrl(port), child, timeoutMs)
      return { child, port }
    } catch (e) {
      killTree(child, 'SIGKILL')
      await child.waitExit()
      const tail = logTail(logFile, 15)
      if (attempt < 3 && /EADDRINUSE/.test(tail)) continue
      // Any other failure is tried once more on a new port, saying why, so that a server that
      // hung or died once on a loaded machine does not fail a whole test file.
      if (attempt < 2) {
        process.stderr.write(`# ${what} did not start (${e.message}); trying again on a new port. Tail of ${logFile}:\n${tail.replace(/^/gm, '#   ')}\n`)
        continue
      }
      throw new Error(`${what} did not start: ${e.message}\n--- tail of ${logFile}:\n${logTail(logFile)}`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Community Solid Server

let compiling
/**
 * CSS's Components.js config compiled once into a plain CommonJS module (cached in
 * test-servers/css/.cache, keyed by CSS version, config and compiler): ~2 s starts instead of ~11 s.
 */
function compiledCssConfig(logFile) {
  const config = path.join(CSS_PKG, 'config', 'default.json') // memory storage
  const compiler = path.join(CSS_DIR, 'compile-css.cjs')
  const { version } = JSON.parse(fs.readFileSync(path.join(CSS_PKG, 'package.json'), 'utf8'))
  const key = crypto
    .createHash('sha256')
    .update(`${version}\0${config}\0`)
    .update(fs.readFileSync(compiler))
    .digest('hex')
    .slice(0, 16)
  const out = path.join(CSS_DIR, '.cache', `css-${version}-${key}.cjs`)
  if (fs.existsSync(out) && fs.statSync(out).size > 0) return Promise.resolve(out)
  compiling ??= new Promise((resolve, reject) => {
    fs.mkdirSync(path.dirname(out), { recursive: true })
    fs.appendFileSync(logFile, `--- compiling the CSS config once into ${out}\n`)
    const fd = fs.openSync(logFile, 'a')
    const child = spawn(process.execPath, [compiler, CSS_DIR, config, out], { stdio: ['ignore', fd, fd] })
    fs.closeSync(fd)
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0 && fs.existsSync(out)
        ? resolve(out)
        : reject(new Error(`compiling the CSS config failed (exit code ${code}):\n${logTail(logFile)}`)),
    )
  }).finally(() => {
    compiling = undefined
  })
  return compiling
}

async function jsonCall(url, { method = 'GET', body, token, what }) {
  const headers = { accept: 'application/json' }
  if (token) headers.authorization = `CSS-Account-Token ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`seeding CSS: ${what} (${method} ${url}) answered HTTP ${res.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text)
}

/**
 * Account, password login, pod (with WebID), client credentials, and one owner-only resource,
 * through CSS's v7 JSON account API and a client-credentials Bearer token.
 */
async function seedCss(base, { email, password, podName, privateText }) {
  const { controls: anon } = await jsonCall(`${base}.account/`, { what: 'account index' })
  const { authorization: token } = await jsonCall(anon.account.create, { method: 'POST', what: 'create account' })
  const { controls } = await jsonCall(anon.main.index, { token, what: 'account controls' })
  await jsonCall(controls.password.create, { method: 'POST', token, body: { email, password }, what: 'add password login' })
  const { pod, webId } = await jsonCall(controls.account.pod, {
    method: 'POST',
    token,
    body: { name: podName },
    what: 'create pod',
  })
  const cc = await jsonCall(controls.account.clientCredentials, {
    method: 'POST',
    token,
    body: { name: 'harness', webId },
    what: 'create client credentials',
  })

  // The account token only works on /.account/; writing into the pod needs a Solid-OIDC token.
  // A client-credentials grant without a DPoP proof gives a Bearer token, which CSS accepts.
  const { token_endpoint: tokenEndpoint } = await (await fetch(`${base}.well-known/openid-configuration`)).json()
  const basic = Buffer.from(`${encodeURIComponent(cc.id)}:${encodeURIComponent(cc.secret)}`).toString('base64')
  const tokenRes = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'webid' }),
  })
  const tokenBody = await tokenRes.text()
  if (tokenRes.status !== 200) throw new Error(`seeding CSS: client-credentials token answered HTTP ${tokenRes.status}: ${tokenBody.slice(0, 300)}`)
  const { access_token: accessToken } = JSON.parse(tokenBody)

  const privateResource = `${pod}private/secret.txt`
  const put = await fetch(privateResource, {
    method: 'PUT',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'text/plain' },
    body: privateText,
  })
  await put.arrayBuffer()
  if (put.status !== 201 && put.status !== 205) throw new Error(`seeding CSS: PUT ${privateResource} answered HTTP ${put.status}`)
  // Children of a pod are owner-only by default; make sure nothing changed that.
  const anonymous = await fetch(privateResource)
  await anonymous.arrayBuffer()
  if (anonymous.status !== 401) throw new Error(`seeding CSS: ${privateResource} is not private (anonymous GET gave HTTP ${anonymous.status})`)

  return { podRoot: pod, webId, clientId: cc.id, clientSecret: cc.secret, privateResource }
}

/**
 * Starts Community Solid Server 7.2 (memory storage) on a free port, bound to 127.0.0.1 and
 * advertised as http://localhost:PORT/, and seeds one account.
 *
 * @param {object} [options]
 * @param {string} [options.email='alice@example.com']
 * @param {string} [options.password='alice-password']
 * @param {string} [options.podName='alice']
 * @param {string} [options.privateText] content of the private resource
 * @param {string} [options.logLevel='warn'] CSS log level (error|warn|info|verbose|debug|silly)
 * @param {number} [options.timeoutMs=60000] how long to wait for the server to answer
 * @param {boolean} [options.keepLog=false] keep the temp dir with the log after stop()
 * @param {number} [options.port] the port, instead of a free one (to start it again where a
 *   stopped one was: with the memory backend, a provider that forgot every client)
 */
async function startCss(options = {}) {
  const {
    email = 'alice@example.com',
    password = 'alice-password',
    podName = 'alice',
    privateText = 'The owl flies at midnight.\n',
    logLevel = 'warn',
    timeoutMs = 60000,
    keepLog = false,
    port: fixedPort,
  } = options
  await ensureInstalled('css')
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'solid-test-css-'))
  const logFile = path.join(tmpDir, 'css.log')
  fs.writeFileSync(logFile, '')
  let child
  try {
    const compiled = await compiledCssConfig(logFile)
    const started = await startOnFreePort({
      what: 'Community Solid Server',
      // CSS has no host option and listens on all interfaces: loopback.cjs binds it to 127.0.0.1.
      // The base URL must use the host `localhost`: CSS verifies http WebIDs only on localhost.
      args: (port) => [
        '-r',
        path.join(CSS_DIR, 'loopback.cjs'),
        path.join(CSS_DIR, 'css-launch.cjs'),
        compiled,
        JSON.stringify({ port, baseUrl: `http://localhost:${port}/`, logLevel }),
      ],
      cwd: tmpDir,
      logFile,
      env: { HARNESS_BIND_HOST: '127.0.0.1' },
      readyUrl: (port) => `http://localhost:${port}/.well-known/openid-configuration`,
      timeoutMs,
      keepLog,
      fixedPort,
    })
    child = started.child
    const { port } = started
    const base = `http://localhost:${port}/`
    const seeded = await seedCss(base, { email, password, podName, privateText })
    return {
      base,
      issuer: base,
      port,
      email,
      password,
      privateText,
      ...seeded,
      logFile,
      stop: stopper(child, tmpDir, keepLog),
    }
  } catch (e) {
    if (child) {
      killTree(child, 'SIGKILL')
      await child.waitExit()
      if (!/tail of/.test(e.message)) e.message += `\n--- tail of ${logFile}:\n${logTail(logFile)}`
    }
    if (!keepLog) fs.rmSync(tmpDir, { recursive: true, force: true })
    throw e
  }
}

// ---------------------------------------------------------------------------------------------
// oidc-provider

/**
 * Starts panva's oidc-provider 9 configured for Solid (test-servers/op/op-idp.mjs) on a free port.
 *
 * @param {object} [options]
 * @param {boolean} [options.nonce] require DPoP nonces at the token endpoint (--nonce)
 * @param {boolean} [options.rsNonce] require a DPoP nonce at the /private resource (--rs-nonce)
 * @param {boolean} [options.rotate] rotate refresh tokens; reuse revokes the grant (--rotate)
 * @param {number} [options.atTtl] access-token lifetime (s), authorization code and refresh (--at-ttl)
 * @param {number} [options.ccTtl] access-token lifetime (s), client credentials (--cc-ttl)
 * @param {number} [options.store] room for this many entries in the provider's store (--store); by
 *   default oidc-provider keeps 1,000-2,000 and forgets early logins' clients and grants
 * @param {boolean} [options.plain] stock oidc-provider: no webid claim, opaque tokens (--plain)
 * @param {number} [options.timeoutMs=30000]
 * @param {boolean} [options.keepLog=false]
 */
async function startOp(options = {}) {
  const { nonce, rsNonce, rotate, atTtl, ccTtl, store, plain, timeoutMs = 30000, keepLog = false } = options
  const flags = []
  if (nonce) flags.push('--nonce')
  if (rsNonce) flags.push('--rs-nonce')
  if (rotate) flags.push('--rotate')
  if (plain) flags.push('--plain')
  if (atTtl !== undefined) flags.push('--at-ttl', String(atTtl))
  if (ccTtl !== undefined) flags.push('--cc-ttl', String(ccTtl))
  if (store !== undefined) flags.push('--store', String(store))
  await ensureInstalled('op')
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'solid-test-op-'))
  const logFile = path.join(tmpDir, 'op.log')
  fs.writeFileSync(logFile, '')
  try {
    const { child, port } = await startOnFreePort({
      what: 'oidc-provider',
      args: (p) => [path.join(OP_DIR, 'op-idp.mjs'), '--port', String(p), ...flags],
      cwd: tmpDir,
      logFile,
      env: {},
      // /__stats is not counted, unlike the discovery document.
      readyUrl: (p) => `http://localhost:${p}/__stats`,
      timeoutMs,
      keepLog,
    })
    const issuer = `http://localhost:${port}/`
    return {
      issuer,
      port,
      clientId: 'harness-cc',
      clientSecret: 'harness-cc-secret',
      webId: `${issuer}alice/profile/card#me`,
      privateResource: `${issuer}private`,
      pid: child.pid,
      async stats() {
        const res = await fetch(`${issuer}__stats`)
        if (res.status !== 200) throw new Error(`GET ${issuer}__stats answered HTTP ${res.status}`)
        return res.json()
      },
      logFile,
      stop: stopper(child, tmpDir, keepLog),
    }
  } catch (e) {
    if (!keepLog) fs.rmSync(tmpDir, { recursive: true, force: true })
    throw e
  }
}

module.exports = { startCss, startOp }

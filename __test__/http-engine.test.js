'use strict'
// The HTTP engine: requests an operation hands out are made in Rust (reqwest + rustls on napi's
// tokio runtime), their responses go back to the operation without passing through JS, and the
// JS driver only awaits a Promise per request. Shown through discovery, against local servers
// that misbehave on purpose, a private CA, and a real Community Solid Server.
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const https = require('node:https')
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const lib = require('..')
const binding = require('../binding.js')
const { handleFor } = require('../lib/storage.js')
const { runOn } = require('../lib/driver.js')
const { asyncMapStorage, rejection, privateCa } = require('./helpers.js')
const { startCss } = require('./support/servers.js')

const { IdentityProviderError, InMemoryStorage } = lib

function discover(storage, issuer) {
  return runOn(handleFor(storage), storage, binding.discoverIssuer, issuer)
}

function documentFor(issuer) {
  return {
    issuer,
    authorization_endpoint: `${issuer}auth`,
    token_endpoint: `${issuer}token`,
    jwks_uri: `${issuer}jwks`,
    claims_supported: ['sub', 'webid'],
    subject_types_supported: ['public'],
    scopes_supported: ['openid', 'webid', 'offline_access'],
  }
}

/** A local server whose answer each test sets; it notes every request. */
async function localServer(createServer = http.createServer, options) {
  const state = { requests: [], answer: undefined }
  const server = createServer(options, (req, res) => {
    state.requests.push(`${req.method} ${req.url}`)
    state.answer(req, res)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const scheme = createServer === https.createServer ? 'https' : 'http'
  state.issuer = `${scheme}://localhost:${server.address().port}/`
  state.close = () => {
    server.closeAllConnections()
    server.close()
  }
  return state
}

let idp
test.before(async () => {
  idp = await localServer()
})
test.after(() => idp.close())
test.afterEach(() => {
  lib.setIdentityProviderTimeout(3_500)
  assert.equal(binding.runningOperations(), 0)
})

test('discovery is fetched once per issuer and stored in the reference shape', async () => {
  idp.requests.length = 0
  idp.answer = (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(documentFor(idp.issuer)))
  for (const storage of [asyncMapStorage(), new InMemoryStorage()]) {
    const summary = await discover(storage, idp.issuer)
    assert.deepEqual(summary, {
      issuer: idp.issuer,
      tokenEndpoint: `${idp.issuer}token`,
      scopesSupported: ['openid', 'webid', 'offline_access'],
    })
    const record = await storage.get(`issuerConfig:${idp.issuer}`)
    if (storage instanceof InMemoryStorage) {
      assert.equal(record, undefined, 'the second discovery came from the cache and wrote nothing')
    } else {
      assert.deepEqual(Object.keys(JSON.parse(record)), [
        'issuer',
        'authorizationEndpoint',
        'subjectTypesSupported',
        'claimsSupported',
        'tokenEndpoint',
        'jwksUri',
        'tokenEndpointAuthMethodsSupported',
        'grantTypesSupported',
        'scopesSupported',
      ])
    }
  }
  assert.deepEqual(idp.requests, ['GET /.well-known/openid-configuration'])
})

test('an answer that is not a discovery document is an IdentityProviderError that quotes none of it', async () => {
  const answers = {
    'garbage with a secret': (req, res) => res.writeHead(200).end('SECRET-BODY <html>'),
    'a 500': (req, res) => res.writeHead(500).end('SECRET-BODY'),
    'a half-closed body': (req, res) => {
      res.writeHead(200, { 'content-length': '1000' })
      res.write('{"issuer":"SECRET-BODY')
      setTimeout(() => res.destroy(), 20)
    },
  }
  for (const [name, answer] of Object.entries(answers)) {
    idp.answer = answer
    const issuer = idp.issuer.replace(/\/$/, `/${encodeURIComponent(name)}/`)
    const storage = asyncMapStorage()
    const e = await rejection(discover(storage, issuer))
    assert.ok(e instanceof IdentityProviderError, `${name}: ${e}`)
    assert.ok(['ERR_IDP_RESPONSE', 'ERR_IDP_UNREACHABLE'].includes(e.code), `${name}: ${e.code}`)
    assert.ok(!e.message.includes('SECRET'), e.message)
    assert.deepEqual(storage.calls, [], `${name}: nothing is stored`)
  }
})

test('an unreachable provider and one that hangs reject with typed errors', async () => {
  const closed = http.createServer()
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = closed.address().port
  await new Promise((resolve) => closed.close(resolve))
  const unreachable = await rejection(discover(asyncMapStorage(), `http://127.0.0.1:${port}/`))
  assert.ok(unreachable instanceof IdentityProviderError)
  assert.equal(unreachable.code, 'ERR_IDP_UNREACHABLE')
  assert.match(unreachable.message, /could not be reached at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration: .*refused/i)

  lib.setIdentityProviderTimeout(200)
  idp.answer = () => {}
  const started = Date.now()
  const hung = await rejection(discover(asyncMapStorage(), idp.issuer.replace(/\/$/, '/hangs/')))
  assert.equal(hung.code, 'ERR_IDP_TIMEOUT')
  assert.match(hung.message, /did not answer .* within 200 ms/)
  assert.ok(Date.now() - started < 3_000)
  assert.throws(() => lib.setIdentityProviderTimeout(0), TypeError)
})

test('an https:// issuer whose server speaks plain HTTP is named as such, without TLS jargon', async () => {
  idp.answer = (req, res) => res.writeHead(200).end('{}')
  const e = await rejection(discover(asyncMapStorage(), idp.issuer.replace('http://', 'https://')))
  assert.equal(e.code, 'ERR_IDP_UNREACHABLE')
  assert.match(e.message, /did not answer in TLS \(is it an http:\/\/ server\? the URL says https:\/\/\)/)
  assert.doesNotMatch(e.message, /InvalidContentType|corrupt message/)
})

/** Runs a child process that discovers `issuer` and prints the outcome as JSON. */
function discoverInChild(issuer, env) {
  const script = `
    const binding = require(${JSON.stringify(path.join(__dirname, '..', 'binding.js'))})
    const { handleFor } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'storage.js'))})
    const { runOn } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'driver.js'))})
    const storage = { get: async () => undefined, set: async () => {}, delete: async () => {} }
    runOn(handleFor(storage), storage, binding.discoverIssuer, process.argv[1]).then(
      (s) => console.log(JSON.stringify({ ok: s.issuer })),
      (e) => console.log(JSON.stringify({ code: e.code, message: e.message })),
    )
  `
  return new Promise((resolve) =>
    execFile(process.execPath, ['-e', script, issuer], { env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ error, out: stdout.trim() ? JSON.parse(stdout) : undefined, stderr }),
    ),
  )
}

test('a pending request keeps the process alive until it settles, and nothing does afterwards', async () => {
  const issuer = idp.issuer.replace(/\/$/, '/slow/')
  idp.answer = (req, res) => setTimeout(() => res.writeHead(200).end(JSON.stringify(documentFor(issuer))), 300)
  const started = Date.now()
  const { error, out, stderr } = await discoverInChild(issuer)
  assert.equal(error, null, stderr)
  assert.deepEqual(out, { ok: issuer }, 'the child stayed alive for the answer')
  assert.ok(Date.now() - started < 5_000, 'and exited right after')
})

test('a connection idle for more than 4 s is not used again (as Node\'s fetch): one a middlebox dropped silently fails no request', async () => {
  // A server behind something that forgets connections idle for 4.5 s: a request sent on one
  // is never answered.
  const lastAnswered = new Map()
  const server = http.createServer((req, res) => {
    const last = lastAnswered.get(req.socket)
    if (last !== undefined && performance.now() - last > 4_500) return
    const issuer = `http://localhost:${server.address().port}${req.url.replace('.well-known/openid-configuration', '')}`
    res.on('finish', () => lastAnswered.set(req.socket, performance.now()))
    res.writeHead(200).end(JSON.stringify(documentFor(issuer)))
  })
  server.keepAliveTimeout = 60_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://localhost:${server.address().port}`
  lib.setIdentityProviderTimeout(1_500)
  try {
    await discover(new InMemoryStorage(), `${base}/first/`)
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    await discover(new InMemoryStorage(), `${base}/second/`)
    assert.equal(lastAnswered.size, 2, 'the second request went on a new connection')
  } finally {
    server.closeAllConnections()
    server.close()
  }
})

test('HTTP_PROXY is used only with NODE_USE_ENV_PROXY=1, as Node\'s fetch does', async () => {
  const issuer = idp.issuer.replace(/\/$/, '/proxied/')
  idp.answer = (req, res) => res.writeHead(200).end(JSON.stringify(documentFor(issuer)))
  // A forward proxy that answers for the provider: it sees requests in absolute form.
  const proxy = await localServer()
  proxy.answer = (req, res) => res.writeHead(200).end(JSON.stringify(documentFor(issuer)))
  const proxyUrl = `http://127.0.0.1:${new URL(proxy.issuer).port}`
  const env = { HTTP_PROXY: proxyUrl, http_proxy: proxyUrl, HTTPS_PROXY: proxyUrl, https_proxy: proxyUrl, NO_PROXY: '', no_proxy: '', ALL_PROXY: '', all_proxy: '' }
  try {
    const direct = await discoverInChild(issuer, { ...env, NODE_USE_ENV_PROXY: '' })
    assert.deepEqual(direct.out, { ok: issuer }, direct.stderr)
    assert.deepEqual(proxy.requests, [], 'the proxy saw nothing')
    const sent = idp.requests.length

    const proxied = await discoverInChild(issuer, { ...env, NODE_USE_ENV_PROXY: '1' })
    assert.deepEqual(proxied.out, { ok: issuer }, proxied.stderr)
    assert.deepEqual(proxy.requests, [`GET ${issuer}.well-known/openid-configuration`])
    assert.equal(idp.requests.length, sent, 'the provider was reached through the proxy only')
  } finally {
    proxy.close()
  }
})

test('TLS trusts the system roots plus NODE_EXTRA_CA_CERTS, as Node does', async (t) => {
  const ca = privateCa(t, 'authn-ca-')
  const tls = await localServer(https.createServer, { key: fs.readFileSync(ca.key), cert: fs.readFileSync(ca.cert) })
  tls.answer = (req, res) => res.writeHead(200).end(JSON.stringify(documentFor(tls.issuer)))
  try {
    const trusted = await discoverInChild(tls.issuer, { NODE_EXTRA_CA_CERTS: ca.ca })
    assert.deepEqual(trusted.out, { ok: tls.issuer }, trusted.stderr)
    const untrusted = await discoverInChild(tls.issuer, { NODE_EXTRA_CA_CERTS: '' })
    assert.equal(untrusted.out?.code, 'ERR_IDP_UNREACHABLE', JSON.stringify(untrusted))
    assert.match(untrusted.out.message, /certificate|issuer/i)
  } finally {
    tls.close()
  }
})

test('discovery against a real Community Solid Server', async () => {
  const css = await startCss()
  try {
    const storage = asyncMapStorage()
    const summary = await discover(storage, css.issuer)
    assert.equal(summary.issuer, css.issuer)
    assert.equal(summary.tokenEndpoint, `${css.issuer}.oidc/token`)
    assert.ok(summary.scopesSupported.includes('webid'))
    assert.ok(JSON.parse(await storage.get(`issuerConfig:${css.issuer}`)).jwksUri)
  } finally {
    await css.stop()
  }
})

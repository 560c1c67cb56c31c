'use strict'
// The network edge toward identity providers: what a provider's URL may hold, and which addresses
// may be contacted at all. In Solid a user names their own provider, so its URLs are input.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startFakeIdp } = require('./support/fake-idp.js')
const { asyncMapStorage } = require('./helpers.js')

const { Session, ConfigurationError, IdentityProviderError } = lib

const login = (issuer) => new Session({ storage: asyncMapStorage() }).login({ oidcIssuer: issuer, clientId: 'edge-client', clientSecret: 'edge-secret' })

test('an issuer with a user name or password is refused before any request, and is never sent', async () => {
  const idp = await startFakeIdp()
  try {
    const withCredentials = idp.issuer.replace('http://', 'http://alice:hunter2@')
    await assert.rejects(login(withCredentials), (error) => {
      assert.ok(error instanceof ConfigurationError, String(error))
      assert.doesNotMatch(`${error.message}\n${error.stack}`, /hunter2/)
      return true
    })
    assert.deepEqual(idp.requests, [])
  } finally {
    await idp.close()
  }
})

test("a discovery document naming an endpoint with a user name or password is refused, and the endpoint never contacted", async () => {
  for (const member of ['jwks_uri', 'token_endpoint']) {
    const idp = await startFakeIdp()
    try {
      idp.discovery[member] = idp.discovery[member].replace('http://', 'http://alice:hunter2@')
      await assert.rejects(login(idp.issuer), (error) => {
        assert.ok(error instanceof IdentityProviderError, String(error))
        assert.equal(error.code, 'ERR_IDP_RESPONSE')
        assert.match(error.message, new RegExp(`${member} carries a user name or password`))
        assert.doesNotMatch(error.message, /hunter2/)
        return true
      })
      assert.deepEqual(idp.requests.map((r) => r.path), ['/.well-known/openid-configuration'])
      assert.ok(idp.requests.every((r) => r.headers.authorization === undefined))
    } finally {
      await idp.close()
    }
  }
})

// setBlockPrivateNetworks (issue 13, finding 9).

test('by default a provider on a loopback address is contacted like any other', async () => {
  const idp = await startFakeIdp()
  try {
    const session = new Session({ storage: asyncMapStorage() })
    await session.login({ oidcIssuer: idp.issuer, clientId: 'edge-client', clientSecret: 'edge-secret' })
    assert.equal(session.info.isLoggedIn, true)
  } finally {
    await idp.close()
  }
})

test('with private networks blocked, a provider on 127.0.0.1, localhost or another loopback spelling is refused before any request', async () => {
  const idp = await startFakeIdp()
  const port = new URL(idp.issuer).port
  lib.setBlockPrivateNetworks(true)
  try {
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '[::ffff:127.0.0.1]', '0x7f.1', '127.1']) {
      await assert.rejects(login(`http://${host}:${port}/`), (error) => {
        assert.ok(error instanceof IdentityProviderError, `${host}: ${error}`)
        assert.equal(error.code, 'ERR_IDP_BLOCKED_ADDRESS', `${host}: ${error.message}`)
        assert.match(error.message, /loopback address/)
        assert.match(error.message, /private networks are blocked/)
        return true
      })
    }
    assert.deepEqual(idp.requests, [])
  } finally {
    lib.setBlockPrivateNetworks(false)
    await idp.close()
  }
})

test('with private networks blocked, a session logged in before is not refreshed against a private provider', async () => {
  const idp = await startFakeIdp()
  const storage = asyncMapStorage()
  try {
    const session = new Session({ storage, keepAlive: false })
    await session.login({ oidcIssuer: idp.issuer, clientId: 'edge-client', clientSecret: 'edge-secret' })
    const before = idp.requests.length
    lib.setBlockPrivateNetworks(true)
    // Discovery and keys are cached from the login; the token request is still refused.
    await assert.rejects(lib.refreshSession(session, { storage }), (error) => error.code === 'ERR_IDP_BLOCKED_ADDRESS')
    assert.equal(idp.requests.length, before)
  } finally {
    lib.setBlockPrivateNetworks(false)
    await idp.close()
  }
})

test('turned off again, private providers work again; the setting takes only booleans', async () => {
  const idp = await startFakeIdp()
  try {
    lib.setBlockPrivateNetworks(true)
    lib.setBlockPrivateNetworks(false)
    await login(`http://localhost:${new URL(idp.issuer).port}/`).catch((error) => assert.notEqual(error.code, 'ERR_IDP_BLOCKED_ADDRESS'))
    await login(idp.issuer)
    assert.ok(idp.requests.length > 0)
    for (const value of ['true', 1, undefined, null]) assert.throws(() => lib.setBlockPrivateNetworks(value), TypeError)
  } finally {
    lib.setBlockPrivateNetworks(false)
    await idp.close()
  }
})

test('with private networks blocked and NODE_USE_ENV_PROXY=1, a proxy on a private address carries requests, and a private provider is still refused', async () => {
  const http = require('node:http')
  const path = require('node:path')
  const { execFile } = require('node:child_process')
  const seen = []
  const proxy = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    res.writeHead(404).end()
  })
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  // Named `localhost`, so that the guard's resolver sees the proxy's name and must let it through.
  const proxyUrl = `http://localhost:${proxy.address().port}`
  const env = { ...process.env, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: proxyUrl, http_proxy: proxyUrl, HTTPS_PROXY: proxyUrl, https_proxy: proxyUrl, NO_PROXY: '', no_proxy: '', ALL_PROXY: '', all_proxy: '' }
  const script = `
    const lib = require(${JSON.stringify(path.join(__dirname, '..'))})
    lib.setBlockPrivateNetworks(true)
    const login = (issuer) => new lib.Session().login({ oidcIssuer: issuer, clientId: 'c', clientSecret: 's' }).then(() => 'ok', (e) => e.code)
    ;(async () => console.log(JSON.stringify([await login('http://provider.invalid/'), await login('http://localhost:1/'), await login('http://10.1.2.3/')])))()
  `
  try {
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { env, timeout: 20_000 }, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(JSON.parse(stdout)))),
    )
    assert.deepEqual(out, ['ERR_IDP_RESPONSE', 'ERR_IDP_BLOCKED_ADDRESS', 'ERR_IDP_BLOCKED_ADDRESS'])
    assert.deepEqual(seen, ['GET http://provider.invalid/.well-known/openid-configuration'])
  } finally {
    proxy.closeAllConnections()
    proxy.close()
  }
})

'use strict'
// Client-credentials login against real servers: Community Solid Server (DPoP and Bearer, private
// resources) and oidc-provider (DPoP nonces at the token endpoint and at the resource server).
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startCss, startOp } = require('./support/servers.js')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, rejection } = require('./helpers.js')

const { Session, OAuthError, IdentityProviderError } = lib

let css
let op
test.before(async () => {
  // These tests check what the servers answer, not how fast (idp-faults.test.js checks the
  // timeout): a loaded CI machine may stall for seconds, longer than the default 3.5 s.
  lib.setIdentityProviderTimeout(15_000)
  ;[css, op] = await Promise.all([startCss(), startOp({ nonce: true, rsNonce: true })])
})
test.after(async () => {
  await Promise.all([css?.stop(), op?.stop()])
})

async function read(response) {
  return { status: response.status, body: await response.text() }
}

for (const tokenType of ['DPoP', 'Bearer']) {
  test(`${tokenType}: log in, read a private resource, log out`, async () => {
    const storage = asyncMapStorage()
    const session = new Session({ storage }, `cc-${tokenType}`)
    const logins = []
    session.events.on('login', () => logins.push(session.info.webId))
    const options = { oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret }
    assert.equal(await session.login(tokenType === 'DPoP' ? options : { ...options, tokenType }), undefined)
    assert.equal(session.info.isLoggedIn, true)
    assert.equal(session.info.webId, css.webId)
    assert.ok(session.info.expirationDate > Date.now())
    assert.deepEqual(logins, [css.webId])

    assert.deepEqual(await read(await session.fetch(css.privateResource)), { status: 200, body: css.privateText })
    assert.equal((await fetch(css.privateResource)).status, 401)
    // URL and Request inputs, with the caller's headers kept.
    assert.equal((await session.fetch(new URL(css.privateResource))).status, 200)
    const request = new Request(css.privateResource, { headers: { accept: 'text/plain' } })
    assert.deepEqual(await read(await session.fetch(request)), { status: 200, body: css.privateText })

    // Stored as the reference stores a static client (§6.5), then what a restore needs.
    assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), [`cc-${tokenType}`])
    const stored = JSON.parse(storage.map.get(RECORD_PREFIX + `cc-${tokenType}`))
    assert.deepEqual(Object.entries(stored).slice(0, 4), [
      ['clientId', css.clientId],
      ['clientType', 'static'],
      ['clientSecret', css.clientSecret],
      ['clientName', css.clientId],
    ])
    assert.equal(stored.issuer, css.issuer)
    assert.equal(stored.dpop, tokenType === 'DPoP' ? 'true' : 'false')
    assert.equal(stored.accessTokenType, tokenType)
    assert.ok(JSON.parse(storage.map.get(`issuerConfig:${css.issuer}`)).tokenEndpoint)

    await session.logout()
    assert.equal(session.info.isLoggedIn, false)
    assert.equal((await session.fetch(css.privateResource)).status, 401)
  })
}

test('the fetch is the global fetch at call time: stubs see the request with its headers', async () => {
  const session = new Session({ storage: asyncMapStorage() })
  await session.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret })
  const original = globalThis.fetch
  const seen = []
  globalThis.fetch = async (input, init) => {
    seen.push([String(input), new Headers(init.headers)])
    return new Response('stubbed')
  }
  try {
    assert.equal(await (await session.fetch('https://pod.example/x', { method: 'put', headers: { 'content-type': 'text/turtle' } })).text(), 'stubbed')
  } finally {
    globalThis.fetch = original
  }
  const [url, headers] = seen[0]
  assert.equal(url, 'https://pod.example/x')
  assert.equal(headers.get('content-type'), 'text/turtle')
  assert.match(headers.get('authorization'), /^DPoP /)
  const [, claims] = headers.get('dpop').split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url')))
  assert.equal(claims.htm, 'PUT')
  assert.equal(claims.htu, 'https://pod.example/x')
  assert.ok(claims.ath, 'the proof is bound to the access token')
  await session.logout()
})

test('wrong client credentials and an unknown issuer reject with typed errors that hold no secret', async () => {
  const session = new Session({ storage: asyncMapStorage() })
  const wrong = await rejection(session.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: 'WRONG-SECRET' }))
  assert.ok(wrong instanceof OAuthError, String(wrong))
  assert.equal(wrong.code, 'ERR_OAUTH_INVALID_CLIENT')
  assert.equal(wrong.error, 'invalid_client')
  assert.ok(!wrong.message.includes('WRONG-SECRET'))
  assert.equal(session.info.isLoggedIn, false)
  const unreachable = await rejection(session.login({ oidcIssuer: 'http://127.0.0.1:9/', clientId: 'a', clientSecret: 'SECRET' }))
  assert.ok(unreachable instanceof IdentityProviderError)
  assert.equal(unreachable.code, 'ERR_IDP_UNREACHABLE')
  assert.ok(!unreachable.message.includes('SECRET'))
})

test('oidc-provider: DPoP nonces at the token endpoint and at the resource server', async () => {
  const before = await op.stats()
  const session = new Session({ storage: asyncMapStorage() })
  await session.login({ oidcIssuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret })
  assert.equal(session.info.webId, op.webId)
  const after = await op.stats()
  assert.equal(after.token - before.token, 2, 'one refusal asking for a nonce, one grant')
  assert.equal((after.grantErrors.use_dpop_nonce ?? 0) - (before.grantErrors.use_dpop_nonce ?? 0), 1)
  // The resource server asks for a nonce too: the request is sent again with it.
  const response = await session.fetch(op.privateResource)
  assert.equal(response.status, 200, await response.clone().text())
  // The nonce is remembered: the next request needs no retry.
  assert.equal((await session.fetch(op.privateResource)).status, 200)
  await session.logout()
})

test('a client-credentials session is restored in a new process from storage saved to a file', async () => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const { execFile } = require('node:child_process')
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'cc-saved')
  await session.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret })
  const stored = JSON.parse(storage.map.get(RECORD_PREFIX + 'cc-saved'))
  assert.equal(stored.issuer, css.issuer)
  assert.equal(stored.dpop, 'true')
  assert.equal(stored.webId, css.webId)
  assert.ok(stored.publicKey && stored.privateKey && stored.accessToken)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authn-saved-'))
  const file = path.join(dir, 'storage.json')
  const script = `
    const lib = require(${JSON.stringify(path.join(__dirname, '..'))})
    const binding = require(${JSON.stringify(path.join(__dirname, '..', 'binding.js'))})
    const fs = require('node:fs')
    const map = new Map(JSON.parse(fs.readFileSync(process.argv[1], 'utf8')))
    const storage = { get: async (k) => map.get(k), set: async (k, v) => { map.set(k, v) }, delete: async (k) => { map.delete(k) } }
    ;(async () => {
      const session = await lib.getSessionFromStorage('cc-saved', { storage })
      const response = await session.fetch(process.argv[2])
      console.log(JSON.stringify({ loggedIn: session.info.isLoggedIn, webId: session.info.webId, status: response.status, requests: binding.httpRequestsSent() }))
    })()
  `
  const restoreIn = () =>
    new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', script, file, css.privateResource], { timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(stderr || error.message)) : resolve(JSON.parse(stdout)),
      ),
    )
  try {
    fs.writeFileSync(file, JSON.stringify([...storage.map]))
    // The stored access token is still good: nothing is sent to the provider.
    assert.deepEqual(await restoreIn(), { loggedIn: true, webId: css.webId, status: 200, requests: 0 })
    // Expired: the client logs in again (discovery, token, keys).
    fs.writeFileSync(file, JSON.stringify([...storage.map].map(([k, v]) => [k, k === RECORD_PREFIX + 'cc-saved' ? JSON.stringify({ ...stored, accessTokenExpiresAt: '0' }) : v])))
    assert.deepEqual(await restoreIn(), { loggedIn: true, webId: css.webId, status: 200, requests: 3 })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }

  // The reference reads the record as a session without a refresh token: logged out, no error.
  const reference = await import('@inrupt/solid-client-authn-node')
  const theirs = await reference.getSessionFromStorage('cc-saved', { storage: asyncMapStorage(storage.map) })
  assert.equal(theirs.info.isLoggedIn, false)
  assert.equal(theirs.info.webId, css.webId)
  await session.logout()
})

test('newTokens carries the token set as the reference types it, only to those who listen', async () => {
  for (const tokenType of ['DPoP', 'Bearer']) {
    const session = new Session({ storage: asyncMapStorage() })
    const sets = []
    session.events.on('newTokens', (tokens) => sets.push(tokens))
    await session.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret, tokenType })
    assert.equal(sets.length, 1)
    const [tokens] = sets
    assert.equal(typeof tokens.accessToken, 'string')
    assert.equal(tokens.webId, css.webId)
    assert.equal(tokens.clientId, css.clientId)
    assert.equal(tokens.issuer, css.issuer)
    // Seconds, as SessionTokenSet and fromTokens have it (the reference gives milliseconds here).
    assert.ok(Math.abs(tokens.expiresAt - (Date.now() / 1000 + 600)) < 30, String(tokens.expiresAt))
    if (tokenType === 'DPoP') {
      assert.ok(tokens.dpopKey.privateKey instanceof CryptoKey)
      assert.equal(tokens.dpopKey.privateKey.extractable, true)
      assert.deepEqual(Object.keys(tokens.dpopKey.publicKey), ['kty', 'crv', 'x', 'y', 'alg'])
      // The key is the one the token is bound to: it signs proofs the server accepts.
      const jwk = await crypto.subtle.exportKey('jwk', tokens.dpopKey.privateKey)
      assert.equal(jwk.x, tokens.dpopKey.publicKey.x)
    } else {
      assert.equal(tokens.dpopKey, undefined)
    }
    await session.logout()
  }
})

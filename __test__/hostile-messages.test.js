'use strict'
// What a hostile provider, or a hostile caller of the app, can put into an error message: every
// text from outside (an issuer, an error description, an endpoint URL, a session id) is quoted at
// most a few hundred characters long, with its control characters escaped and the user name and
// password of a URL replaced; an endpoint no request can go to is the provider's fault, typed as
// such. Against the local fake identity provider (support/fake-idp.js), one per test so that no
// discovery document is taken from the cache. Public API only.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startFakeIdp } = require('./support/fake-idp.js')
const { RECORD_PREFIX, asyncMapStorage, rejection } = require('./helpers.js')

const { Session, getSessionFromStorage, IdentityProviderError, OAuthError, StorageError } = lib

const CLIENT_ID = 'hostile-messages-client'
const CLIENT_SECRET = 'SECRET-hm-s3cr3t'
const REDIRECT = 'http://localhost:9/callback'
// What a terminal would act on, and what would start a forged log line.
const ESCAPE = '\u001b[2J\u001b[31m'
const FORGED_LINE = '\r\n2026-12-06T00:00:00Z INFO admin logged in'

const idps = []
test.after(() => Promise.all(idps.map((idp) => idp.close())))
async function freshIdp() {
  const idp = await startFakeIdp()
  idps.push(idp)
  return idp
}

const clientCredentials = (issuer) =>
  new Session({ storage: asyncMapStorage() }).login({ oidcIssuer: issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })

/** A message fit for a log line: bounded, one line, nothing a terminal acts on. */
function assertTame(message, { maxLength = 1_500 } = {}) {
  assert.ok(message.length <= maxLength, `a message of ${message.length} characters`)
  assert.doesNotMatch(message, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, `control characters in ${JSON.stringify(message.slice(0, 300))}`)
}

test('an issuer mismatch quotes a megabytes-long issuer short and escaped', async () => {
  const idp = await freshIdp()
  idp.discovery.issuer = `${idp.issuer}${ESCAPE}${FORGED_LINE}${'x'.repeat(4_000_000)}`
  const error = await rejection(clientCredentials(idp.issuer))
  assert.ok(error instanceof IdentityProviderError, String(error))
  assert.equal(error.code, 'ERR_IDP_RESPONSE')
  assertTame(error.message)
  assert.match(error.message, /the discovery document is for the issuer .*\\u\{1b\}\[2J.*\\u\{d\}\\u\{a\}2026.*more characters\)/)
})

test("a redirect's error description of a megabyte is kept short, and escaped in the message", async () => {
  const idp = await freshIdp()
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'hm-redirect')
  let authorizationUrl
  await session.login({ oidcIssuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUrl: REDIRECT, handleRedirect: (url) => (authorizationUrl = url) })
  const back = new URL(await idp.authorize(authorizationUrl))
  back.searchParams.delete('code')
  back.searchParams.set('error', 'access_denied')
  back.searchParams.set('error_description', `${ESCAPE}${FORGED_LINE}${'y'.repeat(1_000_000)}`)
  const error = await rejection(session.handleIncomingRedirect(back.href))
  assert.ok(error instanceof OAuthError, String(error))
  assert.equal(error.error, 'access_denied')
  assertTame(error.message)
  assert.ok(error.errorDescription.length <= 300, `errorDescription of ${error.errorDescription.length} characters`)
  assert.ok(error.errorDescription.startsWith(ESCAPE), 'errorDescription keeps the provider’s words (as data)')
})

test('a token endpoint with a line break in it is refused at discovery, quoted escaped', async () => {
  const idp = await freshIdp()
  idp.discovery.token_endpoint = `${idp.issuer}token\r\nX-Injected: yes`
  const error = await rejection(clientCredentials(idp.issuer))
  assert.ok(error instanceof IdentityProviderError, String(error))
  assert.equal(error.code, 'ERR_IDP_RESPONSE')
  assertTame(error.message)
  assert.match(error.message, /token_endpoint holds control characters: .*token\\u\{d\}\\u\{a\}X-Injected: yes/)
  assert.equal(idp.requests.filter((r) => r.path === '/token').length, 0, 'no request went to it')
})

test('a token endpoint that is not an http(s) URL is an IdentityProviderError, not a TypeError', async () => {
  for (const endpoint of ['data:text/plain,hello', 'ftp://127.0.0.1/token', 'javascript:alert(1)', '/relative/token']) {
    const idp = await freshIdp()
    idp.discovery.token_endpoint = endpoint
    const error = await rejection(clientCredentials(idp.issuer))
    assert.ok(error instanceof IdentityProviderError, `${endpoint}: ${error}`)
    assert.equal(error.code, 'ERR_IDP_RESPONSE', endpoint)
    assert.match(error.message, /the discovery document's token_endpoint is not (an http or https URL|a URL)/, endpoint)
  }
})

test("an endpoint's user name and password are neither used nor quoted", async () => {
  const idp = await freshIdp()
  const withUserinfo = idp.issuer.replace('http://', 'http://alice:SECRET-pw@')
  idp.discovery.jwks_uri = `${withUserinfo}jwks`
  const error = await rejection(clientCredentials(idp.issuer))
  assert.ok(error instanceof IdentityProviderError, String(error))
  assert.match(error.message, /jwks_uri carries a user name or password: http:\/\/\[redacted\]@127\.0\.0\.1/)
  assert.doesNotMatch(error.message, /SECRET-pw|alice/)
  assert.equal(idp.requests.filter((r) => r.path === '/jwks' || r.path === '/token').length, 0)
})

test("a hostile session id (say, from a cookie) is quoted short and escaped in a storage error's message", async () => {
  const sessionId = `sid${ESCAPE}${FORGED_LINE}${'z'.repeat(1_000_000)}`
  const storage = {
    async get() {
      throw new Error('the storage is down')
    },
    async set() {},
    async delete() {},
  }
  const error = await rejection(getSessionFromStorage(sessionId, { storage }))
  assert.ok(error instanceof StorageError, String(error))
  assertTame(error.message)
  assert.equal(error.key, RECORD_PREFIX + sessionId, 'the key property is the key itself')
})

test('a redirect URL that is not one (it comes from the request) is quoted short and escaped', async () => {
  const session = new Session({ storage: asyncMapStorage() })
  const error = await rejection(session.handleIncomingRedirect(`not a URL${ESCAPE}${FORGED_LINE}${'u'.repeat(1_000_000)}`))
  assertTame(error.message)
  assert.match(error.message, /^\[not a URL\\u\{1b\}\[2J.*more characters\)\] is not a valid URL/)
})

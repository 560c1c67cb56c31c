'use strict'
// Forged and tampered authorization-code redirects against the local fake identity provider
// (support/fake-idp.js): ID tokens that must not be believed, and redirect URLs that must not
// finish a login. Each is refused with a typed error that quotes no secret, and storage is left as
// it was before handleIncomingRedirect; a good ID token logs the session in. Public API only.
const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const lib = require('..')
const { startFakeIdp, decodeJwt } = require('./support/fake-idp.js')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, rejection } = require('./helpers.js')

const { Session, IdentityProviderError, OAuthError, RedirectError } = lib

// A static client: no registration endpoint needed, and a secret that must never show up.
const CLIENT_ID = 'redirect-forgeries-client'
const CLIENT_SECRET = 'SECRET-rf-client-s3cr3t'
// Never fetched: the test hands the URL the provider redirects to straight to the session.
const REDIRECT = 'http://localhost:9/callback'
// A user of the provider other than its default one, whose profile names it (the login checks).
let WEBID

let idp
// Every code verifier a login handed over, for the leak checks.
const verifiers = []
test.before(async () => {
  idp = await startFakeIdp()
  WEBID = idp.webIdOf('rf-alice')
})
test.after(() => idp?.close())
test.afterEach(() => idp.answer('normal'))

const now = () => Math.floor(Date.now() / 1000)

/**
 * A login started on a fresh storage and approved at the provider: the session, its storage, and
 * the URL the provider sent the user back to (code, state and iss in it).
 */
async function approvedLogin(sessionId) {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, sessionId)
  session.events.on('authorizationRequest', (state) => verifiers.push(state.codeVerifier))
  let handed
  await session.login({ oidcIssuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUrl: REDIRECT, handleRedirect: (url) => (handed = url) })
  const { codeVerifier } = JSON.parse(storage.map.get(RECORD_PREFIX + sessionId))
  assert.ok(codeVerifier, 'the login stored its code verifier')
  // The verifier as stored counts too, should the event ever stop carrying it.
  verifiers.push(codeVerifier)
  const redirectUrl = await idp.authorize(handed)
  return { storage, session, redirectUrl }
}

/** The redirect URL with its query changed by `change(searchParams)`. */
function forge(redirectUrl, change) {
  const url = new URL(redirectUrl)
  change(url.searchParams)
  return url.href
}

/** Everything the provider or the client holds that no error may quote. */
function secrets() {
  const basic = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')
  const sent = idp.tokenRequests().flatMap((r) => [r.form.code, r.form.code_verifier])
  return [CLIENT_SECRET, basic, ...idp.issued, ...verifiers, ...sent].filter((s) => typeof s === 'string' && s.length > 0)
}

/**
 * Neither the error nor anything in its cause chain quotes a secret: not its message, not
 * String(error), not its stack, not a JSON of its own properties, not what util.inspect shows.
 */
function assertNoLeak(error) {
  const forbidden = secrets()
  const chain = []
  for (let e = error; e !== undefined && e !== null && chain.length < 10; e = e.cause) chain.push(e)
  for (const e of chain) {
    const own = Object.fromEntries(Object.getOwnPropertyNames(e).map((name) => [name, e[name]]))
    const texts = [String(e.message), String(e), String(e.stack), JSON.stringify(own), util.inspect(e, { depth: 10, showHidden: true })]
    for (const text of texts) {
      for (const secret of forbidden) assert.ok(!text.includes(secret), `the error quotes ${secret.slice(0, 14)}…: ${text.slice(0, 400)}`)
    }
  }
}

/**
 * `session.handleIncomingRedirect(url)` rejects with `expected` (class, code, a message pattern,
 * OAuth fields), the error quotes no secret, nothing was written to storage, and the session is
 * still logged out. Returns the error.
 */
async function assertRefused({ session, storage, url }, expected) {
  const before = new Map(storage.map)
  const callsBefore = storage.calls.length
  const error = await rejection(session.handleIncomingRedirect(url))
  assert.ok(error instanceof expected.class, `expected ${expected.class.name}, got ${util.inspect(error)}`)
  assert.equal(error.name, expected.class.name)
  assert.equal(error.code, expected.code, error.message)
  assert.match(error.message, expected.message)
  if (expected.oauth) {
    assert.equal(error.error, expected.oauth.error)
    assert.equal(error.errorDescription, expected.oauth.errorDescription)
  }
  assertNoLeak(error)
  assert.deepEqual(new Map(storage.map), before, 'storage is as it was')
  // Equal values written back would still race with another process writing the same record.
  const writes = storage.calls.slice(callsBefore).filter(([method]) => method !== 'get')
  assert.deepEqual(writes, [], 'nothing was written')
  assert.equal(session.info.isLoggedIn, false)
  assert.equal(session.info.webId, undefined)
  return error
}

// ---------------------------------------------------------------------------------------------
// The positive control

test('a good ID token logs the session in, with the WebID of its webid claim', async () => {
  // A sub that is not the WebID, so that the WebID can only have come from the webid claim.
  idp.answer('normal', { idToken: { sub: 'opaque-subject-42', webid: WEBID } })
  const { session, storage, redirectUrl } = await approvedLogin('rf-good')
  const state = new URL(redirectUrl).searchParams.get('state')
  const logins = []
  session.events.on('login', () => logins.push(session.info.webId))

  const info = await session.handleIncomingRedirect(redirectUrl)
  assert.equal(info.isLoggedIn, true)
  assert.equal(info.webId, WEBID)
  assert.equal(info.sessionId, 'rf-good')
  assert.equal(session.info.isLoggedIn, true)
  assert.equal(session.info.webId, WEBID)
  assert.deepEqual(logins, [WEBID])

  // The fake provider redeemed the code only because code, verifier, client and redirect URI
  // matched the authorization request; this is the request it accepted.
  const [request] = idp.tokenRequests().slice(-1)
  assert.equal(request.form.grant_type, 'authorization_code')
  assert.equal(request.form.code, new URL(redirectUrl).searchParams.get('code'))
  assert.equal(request.form.redirect_uri, REDIRECT)
  assert.equal(request.basic?.clientId, CLIENT_ID)
  assert.equal(decodeJwt(idp.lastTokenResponse.id_token).claims.webid, WEBID)

  const record = JSON.parse(storage.map.get(RECORD_PREFIX + 'rf-good'))
  assert.equal(record.isLoggedIn, 'true')
  assert.equal(record.webId, WEBID)
  assert.equal(record.codeVerifier, undefined, 'the verifier is used up')
  assert.equal(storage.map.get(RECORD_PREFIX + state), undefined, 'the state is used up')
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), ['rf-good'])
})

// ---------------------------------------------------------------------------------------------
// ID tokens that must not be believed. The code and the redirect are genuine; only the ID token
// in the token response is wrong, so the tokens beside it must not be stored either.

const invalidToken = (message) => ({ class: IdentityProviderError, code: 'ERR_INVALID_TOKEN', message })

/** Replaces the signed claims, keeping header and signature (what an attacker who can only edit would do). */
const withClaims = (jwt, change) => {
  const [header, claims, signature] = jwt.split('.')
  const edited = change(JSON.parse(Buffer.from(claims, 'base64url')))
  return [header, Buffer.from(JSON.stringify(edited)).toString('base64url'), signature].join('.')
}

const ID_TOKEN_FORGERIES = [
  {
    name: 'a signature with bits flipped',
    answer: () => ({
      tamperIdToken: (jwt) => {
        const [header, claims, signature] = jwt.split('.')
        const bytes = Buffer.from(signature, 'base64url')
        bytes[10] ^= 0xff
        return [header, claims, bytes.toString('base64url')].join('.')
      },
    }),
    expected: invalidToken(/signature does not verify/),
  },
  {
    name: 'claims edited after signing (another WebID)',
    answer: () => ({ tamperIdToken: (jwt) => withClaims(jwt, (c) => ({ ...c, webid: 'https://evil.example/me#i' })) }),
    expected: invalidToken(/signature does not verify/),
  },
  {
    name: 'alg "none" and no signature',
    answer: () => ({
      tamperIdToken: (jwt) => {
        const claims = jwt.split('.')[1]
        return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${claims}.`
      },
    }),
    expected: invalidToken(/algorithm "none" is not accepted/),
  },
  {
    name: 'a wrong iss',
    answer: () => ({ idToken: { iss: 'https://evil.example/' } }),
    expected: invalidToken(/"iss" claim value "https:\/\/evil\.example\/": expected "http:\/\/127\.0\.0\.1:\d+\/"/),
  },
  {
    name: 'an aud that is another client',
    // No azp, so that it is the audience check (not the azp one) that must catch it.
    answer: () => ({ idToken: { aud: 'someone-else', azp: undefined } }),
    expected: invalidToken(new RegExp(`"aud" claim value: it does not contain "${CLIENT_ID}"`)),
  },
  {
    name: 'an aud list without the client',
    answer: () => ({ idToken: { aud: ['someone-else', 'solid'], azp: undefined } }),
    expected: invalidToken(new RegExp(`"aud" claim value: it does not contain "${CLIENT_ID}"`)),
  },
  {
    name: 'an exp ten minutes ago (the clock skew allowed is a minute)',
    answer: () => ({ idToken: { exp: now() - 600, iat: now() - 900 } }),
    expected: invalidToken(/expired/),
  },
  {
    name: 'a key not in the JWKS, under the kid of the one that is',
    answer: () => ({ idTokenKey: idp.foreignKey() }),
    expected: invalidToken(/signature does not verify/),
  },
  {
    name: 'a key not in the JWKS, under an unknown kid',
    answer: () => ({ idTokenKey: idp.foreignKey(), idTokenKid: 'nobody-knows-this-kid' }),
    expected: invalidToken(/no key with kid "nobody-knows-this-kid"/),
  },
  {
    name: 'a key not in the JWKS, with no kid',
    answer: () => ({ idTokenKey: idp.foreignKey(), idTokenKid: null }),
    expected: invalidToken(/signature does not verify/),
  },
]

for (const [index, forgery] of ID_TOKEN_FORGERIES.entries()) {
  test(`ID token: ${forgery.name} is refused, typed, without a secret, storage unchanged`, async () => {
    const sessionId = `rf-idt-${index}`
    const { session, storage, redirectUrl } = await approvedLogin(sessionId)
    idp.answer('normal', forgery.answer())
    const responses = idp.tokenRequests().length
    await assertRefused({ session, storage, url: redirectUrl }, forgery.expected)
    // The provider did answer with tokens: it is the ID token that was refused, not the code.
    assert.equal(idp.tokenRequests().length, responses + 1)
    const { access_token: accessToken, refresh_token: refreshToken, id_token: idToken } = idp.lastTokenResponse
    assert.ok(accessToken && refreshToken && idToken)
    // The leak check looked for each secret this exchange involved.
    const known = secrets()
    const { code, code_verifier: verifier } = idp.tokenRequests().at(-1).form
    for (const secret of [accessToken, refreshToken, idToken, code, verifier, CLIENT_SECRET]) assert.ok(known.includes(secret))
    const record = JSON.parse(storage.map.get(RECORD_PREFIX + sessionId))
    assert.equal(record.isLoggedIn, undefined)
    assert.equal(record.refreshToken, undefined)
  })
}

// ---------------------------------------------------------------------------------------------
// Redirect URLs that must not finish a login. They are refused before the code is spent, so the
// genuine redirect still works afterwards.

test('a redirect whose iss is another issuer (RFC 9207) is refused, and the genuine one still works', async () => {
  const login = await approvedLogin('rf-iss')
  const sent = idp.tokenRequests().length
  const url = forge(login.redirectUrl, (p) => p.set('iss', 'https://evil.example/'))
  await assertRefused({ ...login, url }, { class: RedirectError, code: 'ERR_INVALID_REDIRECT', message: /iss parameter is https:\/\/evil\.example\/, not the issuer.*RFC 9207/ })
  assert.equal(idp.tokenRequests().length, sent, 'the code was not sent to the token endpoint')
  assert.equal((await login.session.handleIncomingRedirect(login.redirectUrl)).isLoggedIn, true)
})

test('a redirect with a state nobody issued is refused, and the genuine one still works', async () => {
  const login = await approvedLogin('rf-state')
  const sent = idp.tokenRequests().length
  const url = forge(login.redirectUrl, (p) => p.set('state', 'made-up-state'))
  // A fresh session, as an attacker's redirect would meet: no in-memory state to lean on.
  const fresh = new Session({ storage: login.storage })
  await assertRefused({ session: fresh, storage: login.storage, url }, { class: RedirectError, code: 'ERR_INVALID_REDIRECT', message: /no stored session is associated with its state/ })
  assert.equal(idp.tokenRequests().length, sent)
  assert.equal((await login.session.handleIncomingRedirect(login.redirectUrl)).isLoggedIn, true)
})

test('a redirect with error=access_denied is an OAuthError carrying error and description', async () => {
  const login = await approvedLogin('rf-denied')
  const sent = idp.tokenRequests().length
  const url = forge(login.redirectUrl, (p) => {
    p.delete('code')
    p.set('error', 'access_denied')
    p.set('error_description', 'the user said no')
  })
  await assertRefused(
    { ...login, url },
    { class: OAuthError, code: 'ERR_OAUTH', message: /access_denied.*the user said no/, oauth: { error: 'access_denied', errorDescription: 'the user said no' } },
  )
  assert.equal(idp.tokenRequests().length, sent)
})

test('a redirect with a code the provider never issued: its invalid_grant, storage unchanged', async () => {
  const login = await approvedLogin('rf-code')
  const url = forge(login.redirectUrl, (p) => p.set('code', 'SECRET-CODE-made-up'))
  await assertRefused(
    { ...login, url },
    { class: OAuthError, code: 'ERR_OAUTH_INVALID_GRANT', message: /invalid_grant/, oauth: { error: 'invalid_grant', errorDescription: 'unknown or used code' } },
  )
})

test('a replayed redirect, on a fresh Session over the same storage, is refused and changes nothing', async () => {
  idp.answer('normal', { idToken: { webid: WEBID } })
  const { session, storage, redirectUrl } = await approvedLogin('rf-replay')
  assert.equal((await session.handleIncomingRedirect(redirectUrl)).isLoggedIn, true)
  const sent = idp.tokenRequests().length
  const replayer = new Session({ storage })
  const replayerId = replayer.info.sessionId
  await assertRefused({ session: replayer, storage, url: redirectUrl }, { class: RedirectError, code: 'ERR_INVALID_REDIRECT', message: /no stored session is associated with its state/ })
  assert.equal(idp.tokenRequests().length, sent, 'the used code was not sent again')
  assert.equal(replayer.info.sessionId, replayerId, 'the replay did not take over the session ID')
  // The first session is untouched by it.
  assert.equal(session.info.isLoggedIn, true)
  assert.equal(session.info.webId, WEBID)
})

'use strict'
// The authorization-code flow against a real Community Solid Server, with CSS's login, pick-WebID
// and consent pages driven by HTTP requests as a browser would (support/authcode-login.mjs).
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startCss } = require('./support/servers.js')
const { registerCssClient } = require('./support/css-clients.js')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, rejection } = require('./helpers.js')

const { Session, getSessionFromStorage } = lib
const REDIRECT = 'http://localhost:9/callback'

let css
let authcodeLogin
test.before(async () => {
  css = await startCss()
  ;({ authcodeLogin } = await import('./support/authcode-login.mjs'))
})
test.after(() => css?.stop())

const record = (storage, id) => JSON.parse(storage.map.get(RECORD_PREFIX + id))

/** Logs `session` in through CSS's pages; returns the URL CSS redirected back to. */
async function logIn(session, extra = {}) {
  let handed
  const url = await session.login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, clientName: 'test app', handleRedirect: (u) => (handed = u), ...extra })
  assert.equal(url, handed, 'login resolves with the URL it hands over')
  const { redirectUrl } = await authcodeLogin({ authorizationUrl: url, email: css.email, password: css.password, webId: css.webId })
  return redirectUrl
}

test('a dynamically registered client logs a user in, and the session restores and fetches', async () => {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'ac-1')
  const requests = []
  session.events.on('authorizationRequest', (state) => requests.push(state))
  const redirectUrl = await logIn(session)
  assert.equal(requests.length, 1)
  assert.equal(requests[0].issuer, css.issuer)
  assert.equal(requests[0].codeVerifier.length, 43)

  const url = new URL(redirectUrl)
  const state = url.searchParams.get('state')
  const beforeFinish = record(storage, 'ac-1')
  assert.equal(beforeFinish.clientType, 'dynamic')
  assert.ok(beforeFinish.codeVerifier)
  assert.deepEqual(JSON.parse(beforeFinish.authorizationStates), [state])
  assert.deepEqual(JSON.parse(storage.map.get(RECORD_PREFIX + state)), { sessionId: 'ac-1' })

  const events = []
  for (const e of ['login', 'newRefreshToken', 'newTokens']) session.events.on(e, () => events.push(e))
  const info = await session.handleIncomingRedirect(redirectUrl)
  assert.deepEqual(info, { isLoggedIn: true, webId: css.webId, sessionId: 'ac-1', clientAppId: undefined })
  assert.deepEqual(events, ['newRefreshToken', 'newTokens', 'login'])
  assert.equal((await session.fetch(css.privateResource)).status, 200)

  const stored = record(storage, 'ac-1')
  assert.ok(stored.refreshToken && stored.publicKey && stored.privateKey)
  assert.equal(stored.codeVerifier, undefined, 'the verifier is used up')
  assert.equal(stored.authorizationStates, undefined)
  assert.equal(storage.map.get(RECORD_PREFIX + state), undefined, 'the state mapping is gone')
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), ['ac-1'])

  // The same redirect again changes nothing and says why.
  const replay = await rejection(new Session({ storage }).handleIncomingRedirect(redirectUrl))
  assert.equal(replay.code, 'ERR_INVALID_REDIRECT')
  assert.deepEqual(record(storage, 'ac-1'), stored)

  // Restored elsewhere through its refresh token; and the reference restores what we stored.
  const restored = await getSessionFromStorage('ac-1', { storage })
  assert.equal(restored.info.isLoggedIn, true)
  assert.equal((await restored.fetch(css.privateResource)).status, 200)
  const reference = await import('@inrupt/solid-client-authn-node')
  const theirs = await reference.getSessionFromStorage('ac-1', { storage: asyncMapStorage(storage.map) })
  assert.equal(theirs.info.isLoggedIn, true)
  assert.equal((await theirs.fetch(css.privateResource)).status, 200)
  await theirs.logout()
})

test('a login started by one Session is finished by a fresh Session on the same storage', async () => {
  const storage = asyncMapStorage()
  const redirectUrl = await logIn(new Session({ storage }, 'ac-2'))
  const other = new Session({ storage })
  const info = await other.handleIncomingRedirect(redirectUrl)
  assert.equal(info.sessionId, 'ac-2')
  assert.equal(other.info.sessionId, 'ac-2')
  assert.equal(other.info.webId, css.webId)
  assert.equal((await other.fetch(css.privateResource)).status, 200)
})

test('forged redirects are refused with typed errors and change nothing', async () => {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'ac-3')
  const redirectUrl = await logIn(session)
  const snapshot = new Map(storage.map)
  const forge = (change) => {
    const url = new URL(redirectUrl)
    change(url.searchParams)
    return url.href
  }
  const cases = {
    'an unknown state': forge((p) => p.set('state', 'made-up')),
    'another issuer': forge((p) => p.set('iss', 'https://evil.example/')),
    'an error': forge((p) => {
      p.delete('code')
      p.set('error', 'access_denied')
      p.set('error_description', 'the user said no')
    }),
  }
  for (const [name, url] of Object.entries(cases)) {
    const e = await rejection(new Session({ storage }).handleIncomingRedirect(url))
    assert.ok(['ERR_INVALID_REDIRECT', 'ERR_OAUTH'].includes(e.code), `${name}: ${e.code} ${e.message}`)
    assert.deepEqual(new Map(storage.map), snapshot, `${name}: storage is as it was`)
  }
  // A code that is not the one issued: the provider refuses it; still nothing changes.
  const wrongCode = await rejection(new Session({ storage }).handleIncomingRedirect(forge((p) => p.set('code', 'not-the-code'))))
  assert.equal(wrongCode.code, 'ERR_OAUTH_INVALID_GRANT', wrongCode.message)
  assert.deepEqual(new Map(storage.map), snapshot)
  // The real one still works afterwards.
  assert.equal((await session.handleIncomingRedirect(redirectUrl)).isLoggedIn, true)
})

test('a static client logs a user in', async () => {
  // A client CSS knows: register it the way an app would, once, and then use it as static.
  const { clientId, clientSecret } = await registerCssClient(css, { redirectUri: REDIRECT })
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'ac-4')
  const redirectUrl = await logIn(session, { clientId, clientSecret })
  assert.equal(record(storage, 'ac-4').clientType, 'static')
  assert.equal((await session.handleIncomingRedirect(redirectUrl)).isLoggedIn, true)
  assert.equal((await session.fetch(css.privateResource)).status, 200)
})

test('logout revokes the refresh token, and an IdP logout hands over the end-session URL', async () => {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'ac-5')
  await session.handleIncomingRedirect(await logIn(session))
  // What an attacker (or a stale copy) would hold: storage as it was, access token expired.
  const copy = asyncMapStorage(storage.map)
  copy.map.set(RECORD_PREFIX + 'ac-5', JSON.stringify({ ...record(storage, 'ac-5'), accessTokenExpiresAt: '0' }))

  let handed
  await session.logout({ logoutType: 'idp', postLogoutUrl: 'https://app.example/bye', state: 'st-1', handleRedirect: (u) => (handed = u) })
  const url = new URL(handed)
  const discovery = await (await fetch(`${css.issuer}.well-known/openid-configuration`)).json()
  assert.equal(`${url.origin}${url.pathname}`, discovery.end_session_endpoint)
  assert.ok(url.searchParams.get('id_token_hint'))
  assert.equal(url.searchParams.get('post_logout_redirect_uri'), 'https://app.example/bye')
  assert.equal(url.searchParams.get('state'), 'st-1')
  assert.equal(storage.map.get(RECORD_PREFIX + 'ac-5'), undefined)
  assert.equal(session.info.isLoggedIn, false)

  assert.ok(discovery.revocation_endpoint, 'CSS advertises revocation')
  const e = await rejection(getSessionFromStorage('ac-5', { storage: copy }))
  assert.equal(e.code, 'ERR_OAUTH_INVALID_GRANT', 'the revoked refresh token is refused')
})

test('Session.fromTokens, refreshTokens and logout(tokenSet) work on the set newTokens gave', async () => {
  // A public client, as a token set carries no secret (the reference's refreshTokens has the
  // same limit): registered once with CSS, then used as a static client without a secret.
  const { clientId } = await registerCssClient(css, { redirectUri: REDIRECT, confidential: false })
  const session = new Session({ storage: asyncMapStorage() }, 'ac-6')
  let tokens
  session.events.on('newTokens', (t) => (tokens = t))
  await session.handleIncomingRedirect(await logIn(session, { clientId }))
  assert.ok(tokens.refreshToken && tokens.dpopKey.privateKey instanceof CryptoKey)

  const fromTokens = await lib.Session.fromTokens(tokens, 'from-tokens')
  assert.equal(fromTokens.info.isLoggedIn, true)
  assert.equal(fromTokens.info.webId, css.webId)
  assert.equal(fromTokens.info.clientAppId, clientId)
  assert.equal((await fromTokens.fetch(css.privateResource)).status, 200, 'it authenticates with the access token')

  const refreshed = await lib.refreshTokens(tokens)
  assert.notEqual(refreshed.accessToken, tokens.accessToken)
  assert.equal(refreshed.dpopKey, tokens.dpopKey, 'the same key, which the new token is bound to')
  assert.equal(refreshed.refreshToken, tokens.refreshToken, 'CSS does not rotate; the set keeps the token')
  assert.equal((await (await lib.Session.fromTokens(refreshed)).fetch(css.privateResource)).status, 200)

  let handed
  await lib.logout(refreshed, (url) => (handed = url), 'https://app.example/bye')
  const url = new URL(handed)
  assert.equal(url.searchParams.get('id_token_hint'), refreshed.idToken)
  assert.equal(url.searchParams.get('post_logout_redirect_uri'), 'https://app.example/bye')

  // Expired or unverifiable token sets make logged-out sessions, as in the reference.
  assert.equal((await lib.Session.fromTokens({ ...tokens, expiresAt: 1 })).info.isLoggedIn, false)
  assert.equal((await lib.Session.fromTokens({ ...tokens, idToken: 'not.a.token' })).info.isLoggedIn, false)
  await assert.rejects(lib.logout({ ...tokens, idToken: undefined }, () => {}), /requires a valid ID token/)
})

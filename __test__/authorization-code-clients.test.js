'use strict'
// The authorization-code flow against a real Community Solid Server with each kind of client: a
// Solid-OIDC Client ID document served by a local server, logins finished in another process
// (Session.fromAuthorizationRequestState), a mandatory RFC 9207 `iss`, and dynamically
// registered clients shared by the sessions of a storage and registered again once refused.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const lib = require('..')
const { startCss } = require('./support/servers.js')
const { registerCssClient, serveClientIdDocument } = require('./support/css-clients.js')
const { RECORD_PREFIX, asyncMapStorage, fileStorage, restoreInChild, rejection } = require('./helpers.js')

const { Session, getSessionFromStorage } = lib
const REDIRECT = 'http://localhost:9/callback'
const KEPT_CLIENT_PREFIX = 'solidClientAuthn:dynamicClient:'

let css
let authcodeLogin
let documentServer
let clientIdDocument
let tmp
test.before(async () => {
  css = await startCss()
  ;({ authcodeLogin } = await import('./support/authcode-login.mjs'))
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'authcode-clients-'))
  documentServer = await serveClientIdDocument({
    name: 'Client ID document app',
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: ['https://app.example/bye'],
  })
  clientIdDocument = documentServer.url
})
test.after(async () => {
  await css?.stop()
  documentServer?.close()
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

const record = (storage, id) => JSON.parse(storage.map.get(RECORD_PREFIX + id))
const keptClients = (storage) => [...storage.map.keys()].filter((k) => k.startsWith(KEPT_CLIENT_PREFIX))

/** Drives CSS's pages for the login `session` starts; returns the URL CSS redirected back to. */
async function logIn(session, extra = {}) {
  const url = await session.login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, handleRedirect: () => {}, ...extra })
  const { redirectUrl } = await authcodeLogin({ authorizationUrl: url, email: css.email, password: css.password, webId: css.webId })
  return redirectUrl
}

/** A client CSS knows, registered as an app's developer would; used as a static client. */
const registerStaticClient = ({ confidential }) => registerCssClient(css, { redirectUri: REDIRECT, confidential })

test('a Solid-OIDC Client ID document logs a user in; the session restores in another process', async () => {
  const storage = fileStorage(path.join(tmp, 'client-id.json'))
  const session = new Session({ storage }, 'cid-1')
  let handed
  const redirectUrl = await logIn(session, { clientId: clientIdDocument, handleRedirect: (u) => (handed = u) })
  assert.equal(new URL(handed).searchParams.get('client_id'), clientIdDocument, 'the document URL is the client ID')
  const started = JSON.parse(storage.entries()[RECORD_PREFIX + 'cid-1'])
  assert.equal(started.clientType, 'solid-oidc')
  assert.equal(started.clientId, clientIdDocument)
  assert.equal(started.clientSecret, undefined)

  const info = await session.handleIncomingRedirect(redirectUrl, { requireIssuerParameter: true })
  assert.equal(info.isLoggedIn, true)
  assert.equal(info.webId, css.webId)
  assert.equal((await session.fetch(css.privateResource)).status, 200)
  const stored = JSON.parse(storage.entries()[RECORD_PREFIX + 'cid-1'])
  assert.ok(stored.refreshToken, 'a refresh token is stored')
  assert.equal(stored.clientId, clientIdDocument)

  const child = await restoreInChild(storage.path, 'cid-1', css.privateResource)
  assert.deepEqual(child, { found: true, isLoggedIn: true, webId: css.webId, status: 200, body: css.privateText })
})

test('dynamic and static clients: the session restores in another process', async (t) => {
  const kinds = {
    'a dynamically registered client': async () => ({}),
    'a confidential static client': () => registerStaticClient({ confidential: true }),
    'a public static client': async () => ({ clientId: (await registerStaticClient({ confidential: false })).clientId }),
  }
  let n = 0
  for (const [kind, client] of Object.entries(kinds)) {
    await t.test(kind, async () => {
      const id = `child-${++n}`
      const storage = fileStorage(path.join(tmp, `${id}.json`))
      const session = new Session({ storage }, id)
      const info = await session.handleIncomingRedirect(await logIn(session, await client()))
      assert.equal(info.isLoggedIn, true)
      assert.equal((await session.fetch(css.privateResource)).status, 200)
      assert.ok(JSON.parse(storage.entries()[RECORD_PREFIX + id]).refreshToken, 'a refresh token is stored')
      const child = await restoreInChild(storage.path, id, css.privateResource)
      assert.deepEqual(child, { found: true, isLoggedIn: true, webId: css.webId, status: 200, body: css.privateText })
    })
  }
})

test('requireIssuerParameter refuses a redirect without iss, changing nothing', async () => {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'iss-1')
  const redirectUrl = await logIn(session, { clientId: clientIdDocument })
  assert.ok(new URL(redirectUrl).searchParams.has('iss'), 'CSS sends iss (RFC 9207)')
  const withoutIss = new URL(redirectUrl)
  withoutIss.searchParams.delete('iss')
  const before = new Map(storage.map)
  const e = await rejection(session.handleIncomingRedirect(withoutIss.href, { requireIssuerParameter: true }))
  assert.ok(e instanceof lib.RedirectError, e.stack)
  assert.equal(e.code, 'ERR_INVALID_REDIRECT')
  assert.match(e.message, /no iss parameter/)
  assert.deepEqual(new Map(storage.map), before)
  // Without the option a redirect without iss is taken, as RFC 9207 lets a client do.
  assert.equal((await session.handleIncomingRedirect(withoutIss.href)).isLoggedIn, true)
})

test('Session.fromAuthorizationRequestState finishes a login another process started', async (t) => {
  const started = async (clientOptions) => {
    const storage = asyncMapStorage()
    const session = new Session({ storage }, 'started-here')
    let state
    session.events.on('authorizationRequest', (s) => (state = s))
    const redirectUrl = await logIn(session, clientOptions)
    // Only the state crosses to the other process, as JSON.
    return { storage, state: JSON.parse(JSON.stringify(state)), redirectUrl }
  }
  const finish = async ({ storage, state, redirectUrl }, extra = {}) => {
    const before = new Map(storage.map)
    const resumed = await Session.fromAuthorizationRequestState({ ...state, ...extra }, 'resumed')
    assert.equal(resumed.info.sessionId, 'resumed')
    let tokens
    resumed.events.on('newTokens', (set) => (tokens = set))
    const info = await resumed.handleIncomingRedirect(redirectUrl)
    assert.deepEqual(info, { isLoggedIn: true, webId: css.webId, sessionId: 'resumed', clientAppId: undefined })
    assert.equal((await resumed.fetch(css.privateResource)).status, 200)
    assert.equal(tokens.clientId, state.clientId)
    assert.ok(tokens.refreshToken && tokens.dpopKey, 'the app gets the tokens through newTokens')
    assert.deepEqual(new Map(storage.map), before, 'the storage the login started with is not touched')
    await resumed.logout()
  }

  await t.test('with a Client ID document', async () => {
    const login = await started({ clientId: clientIdDocument })
    assert.equal(login.state.clientId, clientIdDocument)
    assert.equal(login.state.dpopBound, true)
    await finish(login)
  })
  await t.test('with a public static client', async () => {
    const { clientId } = await registerStaticClient({ confidential: false })
    await finish(await started({ clientId }))
  })
  await t.test('with a confidential static client, whose secret the app adds', async () => {
    const { clientId, clientSecret } = await registerStaticClient({ confidential: true })
    const login = await started({ clientId, clientSecret })
    assert.equal(JSON.stringify(login.state).includes(clientSecret), false, 'the event carries no secret')
    await finish(login, { clientSecret })
  })
  await t.test('an incomplete state is refused', async () => {
    for (const field of ['state', 'codeVerifier', 'issuer', 'redirectUrl', 'clientId']) {
      const state = { state: 's', codeVerifier: 'v', issuer: css.issuer, redirectUrl: REDIRECT, clientId: 'c', dpopBound: true }
      delete state[field]
      const e = await rejection(Session.fromAuthorizationRequestState(state))
      assert.ok(e instanceof TypeError, `${field}: ${e}`)
      assert.match(e.message, new RegExp(field))
    }
  })
})

test('one dynamically registered client per issuer and storage, registered again once refused', async () => {
  const storage = asyncMapStorage()
  const first = new Session({ storage }, 'dyn-a')
  await first.handleIncomingRedirect(await logIn(first))
  const second = new Session({ storage }, 'dyn-b')
  const secondRedirect = await logIn(second)
  const clientId = record(storage, 'dyn-a').clientId
  assert.equal(record(storage, 'dyn-b').clientId, clientId, 'the second session reuses the client')
  assert.equal(keptClients(storage).length, 1)

  // Logins that start together on a storage without a kept client still register only one.
  const together = asyncMapStorage()
  const start = (id) => new Session({ storage: together }, id).login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, handleRedirect: () => {} })
  await Promise.all([start('t-1'), start('t-2'), start('t-3')])
  assert.equal(new Set(['t-1', 't-2', 't-3'].map((id) => record(together, id).clientId)).size, 1)

  // Another storage registers its own.
  const elsewhere = asyncMapStorage()
  await new Session({ storage: elsewhere }, 'dyn-c').login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, handleRedirect: () => {} })
  assert.notEqual(record(elsewhere, 'dyn-c').clientId, clientId)

  // The provider stops accepting the client (here: its credentials no longer match).
  const refused = record(storage, 'dyn-b')
  storage.map.set(RECORD_PREFIX + 'dyn-b', JSON.stringify({ ...refused, clientSecret: 'no-longer-valid' }))
  const e = await rejection(second.handleIncomingRedirect(secondRedirect))
  assert.equal(e.code, 'ERR_OAUTH_INVALID_CLIENT', e.message)
  assert.deepEqual(keptClients(storage), [], 'the refused client is forgotten')

  // A refresh refused the same way keeps the refresh token, and forgets the client too.
  const again = new Session({ storage }, 'dyn-d')
  const redirect = await logIn(again)
  const newClient = record(storage, 'dyn-d').clientId
  assert.notEqual(newClient, clientId, 'the next login registers a new client')
  await again.handleIncomingRedirect(redirect)
  const good = record(storage, 'dyn-d')
  storage.map.set(RECORD_PREFIX + 'dyn-d', JSON.stringify({ ...good, clientSecret: 'no-longer-valid' }))
  const refresh = await rejection(lib.refreshSession(again, { storage }))
  assert.equal(refresh.code, 'ERR_OAUTH_INVALID_CLIENT', refresh.message)
  assert.equal(record(storage, 'dyn-d').refreshToken, good.refreshToken, 'the refresh token is kept')
  assert.deepEqual(keptClients(storage), [])

  // The session that was never refused still works with its own client.
  const restored = await getSessionFromStorage('dyn-a', { storage })
  assert.equal((await restored.fetch(css.privateResource)).status, 200)
})

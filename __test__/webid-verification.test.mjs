// Verified identity (issue 16): a login ends logged in with a WebID only when that WebID's
// profile names the provider as its solid:oidcIssuer. Any provider can put any WebID in its
// tokens; oidc-provider here (whose login takes any WebID as the account) speaks for the CSS
// user's WebID, and is refused, while the reference beside it accepts the same login. Profiles
// that cannot be read fail the login closed, and so does Session.fromTokens. Also: login by WebID
// against CSS, getWebIdIssuers, and the option that turns the check off.
import test from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import * as ours from '../index.mjs'
import helpers from './helpers.js'
import servers from './support/servers.js'
import fakeIdp from './support/fake-idp.js'
import { authcodeLogin } from './support/authcode-login.mjs'
import { opLogin } from './support/op-login.mjs'

const reference = await import('@inrupt/solid-client-authn-node')
const { RECORD_PREFIX, asyncMapStorage, rejection } = helpers
const { Session, WebIdError, getSessionFromStorage, getWebIdIssuers } = ours

const REDIRECT = 'http://localhost:9/callback'

let css
let op
test.before(async () => {
  ;[css, op] = await Promise.all([servers.startCss(), servers.startOp()])
})
test.after(async () => {
  await Promise.all([css?.stop(), op?.stop()])
})

const recordOf = (storage, id) => JSON.parse(storage.map.get(RECORD_PREFIX + id) ?? 'null')

/** Starts an authorization-code login of `session`; the URL the user is sent to. */
async function startLogin(session, options) {
  let handed
  await session.login({ redirectUrl: REDIRECT, clientName: 'webid test', handleRedirect: (url) => (handed = url), ...options })
  return handed
}

test('the CSS user logs in verified, by authorization code and by client credentials; the record is marked', async () => {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'css-code')
  const url = await startLogin(session, { oidcIssuer: css.issuer })
  const { redirectUrl } = await authcodeLogin({ authorizationUrl: url, email: css.email, password: css.password, webId: css.webId })
  const info = await session.handleIncomingRedirect(redirectUrl)
  assert.equal(info.isLoggedIn, true)
  assert.equal(info.webId, css.webId)
  assert.equal(recordOf(storage, 'css-code').webIdVerifiedIssuer, css.issuer)

  const robot = new Session({ storage }, 'css-robot')
  await robot.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret })
  assert.equal(robot.info.webId, css.webId)
  assert.equal(recordOf(storage, 'css-robot').webIdVerifiedIssuer, css.issuer)
  assert.equal((await robot.fetch(css.privateResource)).status, 200)
})

test("a provider speaking for the CSS user's WebID is refused and nothing is stored as logged in; the reference accepts it", async () => {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'spoofed')
  const url = await startLogin(session, { oidcIssuer: op.issuer })
  const redirectUrl = await opLogin(url, { redirectUrl: REDIRECT, account: css.webId })
  const error = await rejection(session.handleIncomingRedirect(redirectUrl))
  assert.ok(error instanceof WebIdError, String(error))
  assert.equal(error.code, 'ERR_WEBID_ISSUER_MISMATCH')
  assert.equal(error.webId, css.webId)
  assert.equal(error.issuer, op.issuer)
  assert.deepEqual(error.issuers, [css.issuer])
  assert.ok(error.message.includes(css.webId) && error.message.includes(op.issuer), error.message)
  assert.equal(session.info.isLoggedIn, false)
  const record = recordOf(storage, 'spoofed')
  assert.equal(record?.accessToken, undefined, 'no token stored')
  assert.notEqual(record?.isLoggedIn, 'true')
  const restored = await getSessionFromStorage('spoofed', { storage })
  assert.ok(restored === undefined || restored.info.isLoggedIn === false)

  // The reference, the same login: logged in as the CSS user by a provider the user never named.
  const theirs = new reference.Session({ storage: asyncMapStorage() }, 'theirs')
  const theirUrl = await startLogin(theirs, { oidcIssuer: op.issuer })
  const theirInfo = await theirs.handleIncomingRedirect(await opLogin(theirUrl, { redirectUrl: REDIRECT, account: css.webId }))
  assert.equal(theirInfo.isLoggedIn, true)
  assert.equal(theirInfo.webId, css.webId)
  // Its refresh timer would keep this process alive for the token's lifetime.
  await theirs.logout()
})

test('login by WebID: the provider comes from the profile; getWebIdIssuers lists it', async () => {
  assert.deepEqual(await getWebIdIssuers(css.webId), [css.issuer])
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'by-webid')
  const url = await startLogin(session, { webId: css.webId })
  assert.ok(url.startsWith(css.issuer), url)
  const { redirectUrl } = await authcodeLogin({ authorizationUrl: url, email: css.email, password: css.password, webId: css.webId })
  const info = await session.handleIncomingRedirect(redirectUrl)
  assert.equal(info.isLoggedIn, true)
  assert.equal(info.webId, css.webId)
  assert.equal((await session.fetch(css.privateResource)).status, 200)
})

/**
 * A WebID host whose profile answer each test picks: `answer(res)` per request. Counts requests
 * per path.
 */
async function profileHost() {
  const routes = new Map()
  const counts = new Map()
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    counts.set(path, (counts.get(path) ?? 0) + 1)
    const route = routes.get(path)
    if (route === undefined) return res.writeHead(404).end('not found')
    route(res, req)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    /** A new WebID at `name` whose profile is what `route` answers. */
    webId(name, route) {
      routes.set(`/${name}`, route)
      return `${origin}/${name}#me`
    },
    requests: (name) => counts.get(`/${name}`) ?? 0,
    close() {
      server.closeAllConnections()
      server.close()
    },
  }
}

const turtle = (issuers) => (res) =>
  res.writeHead(200, { 'content-type': 'text/turtle' }).end(`@prefix solid: <http://www.w3.org/ns/solid/terms#> .\n<#me> a <http://xmlns.com/foaf/0.1/Person>${issuers.map((i) => ` ;\n  solid:oidcIssuer <${i}>`).join('')} .\n`)

/** A client-credentials login at a fake provider whose tokens name `webId`. */
async function robotLogin(idp, storage, id, options = {}) {
  const session = new Session({ storage, ...options }, id)
  await session.login({ oidcIssuer: idp.issuer, clientId: 'webid-robot', clientSecret: 'ROBOT-SECRET-4711' })
  return session
}

test('profiles that name the provider among others, none, or cannot be read: logins pass or fail closed, typed, with nothing stored as logged in', async () => {
  const host = await profileHost()
  const idps = []
  const idpFor = async (webId) => {
    const idp = await fakeIdp.startFakeIdp({ webId })
    idp.answer('normal')
    idps.push(idp)
    return idp
  }
  ours.setIdentityProviderTimeout(1_000)
  try {
    // Two issuers, this one among them; and JSON-LD.
    const named = await idpFor(host.webId('two', (res) => turtle(['https://elsewhere.example/', named.issuer])(res)))
    assert.equal((await robotLogin(named, asyncMapStorage(), 'two')).info.isLoggedIn, true)
    const jsonLd = await idpFor(
      host.webId('jsonld', (res) =>
        res.writeHead(200, { 'content-type': 'application/ld+json' }).end(JSON.stringify({ '@id': '#me', 'http://www.w3.org/ns/solid/terms#oidcIssuer': { '@id': jsonLd.issuer } })),
      ),
    )
    assert.equal((await robotLogin(jsonLd, asyncMapStorage(), 'jsonld')).info.isLoggedIn, true)

    const refusals = [
      ['none', turtle([]), 'ERR_WEBID_ISSUER_MISMATCH'],
      ['missing', (res) => res.writeHead(404).end('no such profile'), 'ERR_WEBID_PROFILE'],
      ['garbage', (res) => res.writeHead(200, { 'content-type': 'text/turtle' }).end('<<< this is not turtle ;;; ROBOT-SECRET-4711'), 'ERR_WEBID_PROFILE'],
      ['huge', (res) => res.writeHead(200, { 'content-type': 'text/turtle' }).end(`# ${'x'.repeat(5 * 1024 * 1024)}\n`), 'ERR_WEBID_PROFILE'],
      ['slow', () => {}, 'ERR_WEBID_PROFILE'],
    ]
    for (const [name, route, code] of refusals) {
      const idp = await idpFor(host.webId(name, route))
      const storage = asyncMapStorage()
      const error = await rejection(robotLogin(idp, storage, name))
      assert.ok(error instanceof WebIdError, `${name}: ${error}`)
      assert.equal(error.code, code, `${name}: ${error.message}`)
      assert.ok(error.message.includes(idp.webId), error.message)
      assert.ok(!error.message.includes('ROBOT-SECRET-4711') && !idp.issued.some((t) => error.message.includes(t)), 'nothing secret in the message')
      assert.equal(recordOf(storage, name)?.accessToken, undefined, `${name}: no token stored`)
    }
    // Unreachable: a WebID on a port nobody listens on.
    const idp2 = await idpFor('http://127.0.0.1:9/nobody#me')
    assert.equal((await rejection(robotLogin(idp2, asyncMapStorage(), 'unreachable'))).code, 'ERR_WEBID_PROFILE')

    // The check off: the provider's word is taken, and no profile is asked for.
    const before = host.requests('none')
    const trusting = await robotLogin(idps[2], asyncMapStorage(), 'trusting', { verifyWebIdIssuer: false })
    assert.equal(trusting.info.isLoggedIn, true)
    assert.equal(host.requests('none'), before)

    // A token set the app kept from such a login: Session.fromTokens checks it as a login does.
    const kept = new Session({ storage: asyncMapStorage(), verifyWebIdIssuer: false }, 'kept')
    const tokens = new Promise((resolve) => kept.events.on('newTokens', resolve))
    await kept.login({ oidcIssuer: idps[2].issuer, clientId: 'webid-robot', clientSecret: 'ROBOT-SECRET-4711' })
    const refused = await rejection(Session.fromTokens(await tokens))
    assert.ok(refused instanceof WebIdError, String(refused))
    assert.equal(refused.code, 'ERR_WEBID_ISSUER_MISMATCH')
  } finally {
    ours.setIdentityProviderTimeout(3_500)
    await Promise.all(idps.map((idp) => idp.close()))
    host.close()
  }
})

test("with the check off, background renewals and restores take the provider's word too; with it on, a restore refuses the record; logout(tokenSet) never checks", async () => {
  const host = await profileHost()
  // The tokens name a WebID whose profile names another provider; they live 5 s, so the session renews within the test.
  const idp = await fakeIdp.startFakeIdp({ webId: host.webId('elsewhere', turtle(['https://elsewhere.example/'])), expiresIn: 5 })
  idp.answer('normal')
  idp.discovery.end_session_endpoint = `${idp.issuer}logout`
  try {
    const storage = asyncMapStorage()
    const session = new Session({ storage, verifyWebIdIssuer: false }, 'trusted')
    const tokens = new Promise((resolve) => session.events.once('newTokens', resolve))
    await session.login({ oidcIssuer: idp.issuer, clientId: 'webid-robot', clientSecret: 'ROBOT-SECRET-4711' })
    const extended = await new Promise((resolve, reject) => {
      session.events.on('sessionExtended', resolve)
      session.events.on('error', (code, error) => reject(error))
    })
    assert.ok(extended > 0)
    assert.equal(host.requests('elsewhere'), 0, 'no profile asked for')
    assert.equal(recordOf(storage, 'trusted').webIdVerifiedIssuer, undefined, 'the renewal marks nothing')

    const restored = await getSessionFromStorage('trusted', { storage, verifyWebIdIssuer: false })
    assert.equal(restored.info.isLoggedIn, true)
    const refused = await rejection(getSessionFromStorage('trusted', { storage }))
    assert.ok(refused instanceof WebIdError, String(refused))
    assert.equal(refused.code, 'ERR_WEBID_ISSUER_MISMATCH')
    assert.equal(host.requests('elsewhere'), 1)

    // Who the token speaks for does not matter to a logout at the provider.
    let endSession
    await ours.logout(await tokens, (url) => (endSession = url))
    assert.ok(endSession.startsWith(`${idp.issuer}logout?`), endSession)
    await session.logout()
  } finally {
    await idp.close()
    host.close()
  }
})

test('a burst of logins for one WebID sends one profile request', async () => {
  const host = await profileHost()
  let issuer
  const idp = await fakeIdp.startFakeIdp({ webId: host.webId('burst', (res) => setTimeout(() => turtle([issuer])(res), 50)) })
  issuer = idp.issuer
  idp.answer('normal')
  try {
    const storage = asyncMapStorage()
    const sessions = await Promise.all(Array.from({ length: 12 }, (_, i) => robotLogin(idp, storage, `burst-${i}`)))
    assert.ok(sessions.every((s) => s.info.isLoggedIn))
    assert.equal(host.requests('burst'), 1)
  } finally {
    await idp.close()
    host.close()
  }
})

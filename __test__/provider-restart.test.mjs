// A provider that forgets its clients: Community Solid Server on its memory backend, restarted
// between two logins on the same port, as in development. The client registered before the
// restart is kept in the app's storage (divergence 10); CSS takes pushed authorization requests
// (RFC 9126), so the second login hears `invalid_client` at the push, registers again and sends
// the user to CSS's login page with a client it knows. The reference beside it: a session that
// logs in again reuses the client it stored, and its user is stranded at CSS's error page.
//
// Also here: a login with a dynamically registered client cannot be finished from its
// `authorizationRequest` state alone (no secret travels in it); both packages say so at once.
import test from 'node:test'
import assert from 'node:assert/strict'
import * as ours from '../index.mjs'
import helpers from './helpers.js'
import servers from './support/servers.js'
import { authcodeLogin } from './support/authcode-login.mjs'

const reference = await import('@inrupt/solid-client-authn-node')
const { RECORD_PREFIX, asyncMapStorage, rejection } = helpers

const REDIRECT = 'http://localhost:9/callback'
const KEPT_CLIENT_PREFIX = 'solidClientAuthn:dynamicClient:'

let css
test.after(() => css?.stop())

const recordOf = (storage, id) => JSON.parse(storage.map.get(RECORD_PREFIX + id))

/** Starts a login with `session`: the URL the user is sent to. */
async function startLogin(session) {
  let handed
  await session.login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, clientName: 'restart test', handleRedirect: (url) => (handed = url) })
  assert.ok(handed, 'handleRedirect was called')
  return handed
}

/** What the user's browser gets first from the URL: CSS's answer, not followed. */
async function firstAnswer(url) {
  const res = await fetch(url, { redirect: 'manual' })
  await res.body?.cancel()
  return { status: res.status, location: res.headers.get('location') }
}

/** The user goes through CSS's pages; the session finishes the login at the redirect. */
async function finishLogin(session, url) {
  const { redirectUrl } = await authcodeLogin({ authorizationUrl: url, email: css.email, password: css.password, webId: css.webId })
  const info = await session.handleIncomingRedirect(redirectUrl)
  assert.equal(info?.isLoggedIn, true)
  assert.equal((await session.fetch(css.privateResource)).status, 200)
}

test('two logins with CSS restarted between them both reach its login page with a client it knows', async () => {
  css = await servers.startCss()
  const { port } = css
  const storage = asyncMapStorage()
  const theirStorage = asyncMapStorage()
  const sessions = []
  try {
    const before = new ours.Session({ storage }, 'before-restart')
    sessions.push(before)
    const url = await startLogin(before)
    // CSS takes pushed requests: the user's URL names the pushed one.
    assert.deepEqual([...new URL(url).searchParams.keys()], ['client_id', 'request_uri'])
    await finishLogin(before, url)
    const keysFetchedAt = Date.now()
    const forgotten = recordOf(storage, 'before-restart').clientId
    const keptKeys = () => [...storage.map.keys()].filter((key) => key.startsWith(KEPT_CLIENT_PREFIX))
    assert.equal(keptKeys().length, 1, 'the client is kept for the next login')

    // The reference's session starts a login too: it stores its client in the session record.
    const theirs = new reference.Session({ storage: theirStorage }, 'theirs')
    const theirUrl = await startLogin(theirs)
    const theirClient = recordOf(theirStorage, 'theirs').clientId
    assert.ok((await firstAnswer(theirUrl)).status < 400, 'before the restart CSS knows it')

    await css.stop()
    css = await servers.startCss({ port })
    // The restarted CSS signs with new keys. A token naming a key the cached set lacks makes the
    // set be fetched again, but at most every 10 s (jwks.rs): a restart quicker than that is
    // not what this test is about.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, keysFetchedAt + 10_500 - Date.now())))

    // Ours: a new session, and the one logged in before, log in again with the same storage.
    for (const id of ['after-restart', 'before-restart']) {
      const session = new ours.Session({ storage }, id)
      sessions.push(session)
      const again = await startLogin(session)
      const { status, location } = await firstAnswer(again)
      assert.ok(status >= 300 && status < 400, `${id}: CSS sends the user on to its pages, not an error (${status})`)
      assert.ok(location && !location.startsWith(REDIRECT), `${id}: not back to the app with an error`)
      const client = recordOf(storage, id).clientId
      assert.notEqual(client, forgotten, `${id}: a client registered after the restart`)
      assert.equal(new URL(again).searchParams.get('client_id'), client)
      assert.equal(keptKeys().length, 1)
      assert.equal(JSON.parse(storage.map.get(keptKeys()[0])).clientId, client, 'the new client is kept')
      await finishLogin(session, again)
    }

    // The reference: the same session logging in again reuses the client it stored, which CSS
    // no longer knows; the user lands on CSS's error page and never comes back to the app.
    const theirAgain = await startLogin(new reference.Session({ storage: theirStorage }, 'theirs'))
    assert.equal(new URL(theirAgain).searchParams.get('client_id'), theirClient, 'the reference sends the old client')
    assert.equal((await firstAnswer(theirAgain)).status, 400, 'CSS answers its error page')
  } finally {
    for (const session of sessions) await session.logout().catch(() => {})
  }
})

test('a login with a dynamically registered client is refused at once by fromAuthorizationRequestState', async () => {
  css ??= await servers.startCss()
  const session = new ours.Session({ storage: asyncMapStorage() }, 'started-here')
  let state
  session.events.on('authorizationRequest', (s) => (state = s))
  await startLogin(session)
  const saved = JSON.parse(JSON.stringify(state))
  const e = await rejection(ours.Session.fromAuthorizationRequestState(saved))
  assert.ok(e instanceof ours.ConfigurationError, e.stack)
  assert.match(e.message, /registered that client dynamically/)
  assert.match(e.message, /secret.*is not in the state/)
  assert.ok(e.message.includes(saved.clientId), 'it names the client')

  // The reference refuses every client ID that is not a URL, there and then.
  const theirs = new reference.Session({ storage: asyncMapStorage() }, 'theirs-started')
  let theirState
  theirs.events.on('authorizationRequest', (s) => (theirState = s))
  await startLogin(theirs)
  const theirError = await rejection(reference.Session.fromAuthorizationRequestState(JSON.parse(JSON.stringify(theirState))))
  assert.match(theirError.message, /is not a valid URL/)
})

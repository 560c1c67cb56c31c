'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { EventEmitter } = require('node:events')
const { Session, EVENTS, InMemoryStorage, getSessionIdFromStorageAll } = require('..')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, loggedInRecord, seed } = require('./helpers.js')

test('EVENTS has the reference values', () => {
  assert.deepEqual(
    { ...EVENTS },
    {
      ERROR: 'error',
      LOGIN: 'login',
      LOGOUT: 'logout',
      NEW_REFRESH_TOKEN: 'newRefreshToken',
      NEW_TOKENS: 'newTokens',
      AUTHORIZATION_REQUEST: 'authorizationRequest',
      SESSION_EXPIRED: 'sessionExpired',
      SESSION_EXTENDED: 'sessionExtended',
      SESSION_RESTORED: 'sessionRestore',
      TIMEOUT_SET: 'timeoutSet',
    },
  )
})

test('a new session has an ID and is logged out', () => {
  const a = new Session()
  const b = new Session({}, 'given')
  assert.match(a.info.sessionId, /^[0-9a-f-]{36}$/)
  assert.notEqual(a.info.sessionId, new Session().info.sessionId)
  assert.deepEqual(b.info, { sessionId: 'given', isLoggedIn: false })
  assert.ok(a.events instanceof EventEmitter)
})

test('sessionInfo is copied (without expirationDate) and wins over the session ID argument', () => {
  const s = new Session(
    { sessionInfo: { sessionId: 'from-info', isLoggedIn: false, webId: 'https://w', clientAppId: 'c', expirationDate: 5 } },
    'ignored',
  )
  assert.deepEqual(s.info, { sessionId: 'from-info', isLoggedIn: false, webId: 'https://w', clientAppId: 'c' })
})

test('logout clears the session from its storage and emits logout', async () => {
  const storage = asyncMapStorage()
  await seed(storage, { keep: loggedInRecord(), gone: loggedInRecord() })
  const session = new Session({ storage }, 'gone')
  let emitted = 0
  session.events.on(EVENTS.LOGOUT, () => emitted++)
  const { logout } = session
  await logout()
  assert.equal(emitted, 1)
  assert.equal(session.info.isLoggedIn, false)
  assert.equal(storage.map.get(RECORD_PREFIX + 'gone'), undefined)
  assert.deepEqual(JSON.parse(storage.map.get(LIST_KEY)), ['keep'])
})

test('storage precedence: storage, then the legacy pair (both needed), then the default', async () => {
  const storage = asyncMapStorage()
  const secure = asyncMapStorage()
  const insecure = asyncMapStorage()
  for (const s of [storage, secure, insecure]) await seed(s, { x: loggedInRecord() })

  await new Session({ storage, secureStorage: secure, insecureStorage: insecure }, 'x').logout()
  assert.equal(storage.map.has(RECORD_PREFIX + 'x'), false)
  assert.equal(insecure.map.has(RECORD_PREFIX + 'x'), true)

  await new Session({ secureStorage: secure, insecureStorage: insecure }, 'x').logout()
  assert.equal(insecure.map.has(RECORD_PREFIX + 'x'), false)
  assert.equal(secure.map.has(RECORD_PREFIX + 'x'), false, 'the secure storage is cleared too')

  const only = asyncMapStorage()
  await seed(only, { y: loggedInRecord() })
  const defaultStorageSession = new Session({ secureStorage: only }, 'y')
  await defaultStorageSession.logout()
  assert.equal(only.map.has(RECORD_PREFIX + 'y'), true, 'one of the pair alone falls back to the default storage')
})

test('an invalid storage option throws at construction', () => {
  assert.throws(() => new Session({ storage: { get() {} } }), TypeError)
  assert.throws(() => new Session({}, 42), TypeError)
})

test('idp logout without a login clears storage, then rejects as the reference does', async () => {
  const storage = new InMemoryStorage()
  await seed(storage, { i: loggedInRecord() })
  const session = new Session({ storage }, 'i')
  await assert.rejects(session.logout({ logoutType: 'idp' }), {
    message: 'Cannot perform IDP logout. Did you log in using the OIDC authentication flow?',
  })
  assert.deepEqual(await getSessionIdFromStorageAll(storage), [])
})

test('fetch is the global fetch while logged out, and survives destructuring', async (t) => {
  const seen = []
  const original = globalThis.fetch
  globalThis.fetch = async (url, init) => {
    seen.push([url, init])
    return new Response('ok')
  }
  t.after(() => {
    globalThis.fetch = original
  })
  const { fetch } = new Session()
  const response = await fetch('https://example.org/', { method: 'HEAD' })
  assert.equal(await response.text(), 'ok')
  assert.deepEqual(seen, [['https://example.org/', { method: 'HEAD' }]])
})

test('login and handleIncomingRedirect check what they are given before any I/O', async () => {
  const session = new Session()
  const { login, handleIncomingRedirect } = session
  await assert.rejects(login({}), { name: 'ConfigurationError', message: /missing property 'oidcIssuer'/ })
  await assert.rejects(login({ oidcIssuer: 'https://idp.example' }), { name: 'ConfigurationError' })
  await assert.rejects(login({ oidcIssuer: 'https://idp.example', redirectUrl: 'https://app.example/cb#x', handleRedirect() {} }), /hash fragment/)
  await assert.rejects(login({ oidcIssuer: 'https://idp.example', redirectUrl: 'https://app.example/cb' }), /redirection handler must be provided in the Node environment: pass handleRedirect/)
  await assert.rejects(handleIncomingRedirect('not a url'), /is not a valid URL/)
  // Not a redirect from a login: nothing to finish, and the session keeps its ID.
  assert.deepEqual(await handleIncomingRedirect('https://app.example/cb?nothing=here'), { isLoggedIn: false, sessionId: session.info.sessionId })
})

// Differential tests of the authorization-code flow against the reference package, on a real
// Community Solid Server whose pages are driven headlessly. An app switching packages keeps its
// storage, so a login finished by either package must be restorable by the other, and the same
// login must leave the same layout behind, apart from the divergences docs/divergences.md documents.
import test from 'node:test'
import assert from 'node:assert/strict'
import * as ours from '../index.mjs'
import helpers from './helpers.js'
import servers from './support/servers.js'
import cssClients from './support/css-clients.js'
import { authcodeLogin } from './support/authcode-login.mjs'

const reference = await import('@inrupt/solid-client-authn-node')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage } = helpers

const REDIRECT = 'http://localhost:9/callback'
const CLIENT_NAME = 'differential test'

let css
test.before(async () => {
  css = await servers.startCss()
})
test.after(() => css?.stop())

const recordOf = (map, id) => JSON.parse(map.get(RECORD_PREFIX + id))

/**
 * Starts a login with `session` (either package's), drives CSS's pages, and returns the
 * authorization URL, its state and the URL CSS sent the browser back to. The session's own
 * `handleIncomingRedirect` is left to the caller, so storage can be looked at in between.
 */
async function startLogin(session, extra = {}) {
  let authorizationUrl
  await session.login({
    oidcIssuer: css.issuer,
    redirectUrl: REDIRECT,
    clientName: CLIENT_NAME,
    handleRedirect: (url) => {
      authorizationUrl = url
    },
    ...extra,
  })
  assert.ok(authorizationUrl, 'handleRedirect was called')
  const { redirectUrl } = await authcodeLogin({
    authorizationUrl,
    email: css.email,
    password: css.password,
    webId: css.webId,
  })
  // Ours pushes the request (RFC 9126: CSS takes pushed requests), so its URL has no state; the
  // provider's redirect has it either way.
  const state = new URL(redirectUrl).searchParams.get('state')
  return { authorizationUrl, state, redirectUrl }
}

/**
 * Logs every session out, in order, even when one fails: the reference's refresh timers keep
 * Node alive until its logout, so a failed assertion must not leave one running. The first
 * failure is rethrown so it is not lost.
 */
async function logoutAll(sessions) {
  let failure
  for (const session of sessions) {
    try {
      await session?.logout()
    } catch (e) {
      failure ??= e
    }
  }
  if (failure) throw failure
}

/** A static client CSS knows, registered the way an app would register it once. */
const registerStaticClient = () => cssClients.registerCssClient(css, { redirectUri: REDIRECT })

test('a session the reference logged in is restored by us, and what we leave is restored by the reference', async () => {
  const storage = asyncMapStorage()
  const sessionId = 'ref-to-ours'
  const theirs = new reference.Session({ storage }, sessionId)
  let restoredByUs
  let restoredByThem
  try {
    const { redirectUrl } = await startLogin(theirs)
    const info = await theirs.handleIncomingRedirect(redirectUrl)
    assert.equal(info?.isLoggedIn, true, 'the reference logged in')
    const written = recordOf(storage.map, sessionId)

    restoredByUs = await ours.getSessionFromStorage(sessionId, { storage })
    assert.ok(restoredByUs, 'we find the session the reference stored')
    assert.equal(restoredByUs.info.isLoggedIn, true)
    assert.equal(restoredByUs.info.sessionId, sessionId)
    assert.equal(restoredByUs.info.webId, info.webId)
    assert.equal(restoredByUs.info.webId, css.webId)
    assert.equal((await restoredByUs.fetch(css.privateResource)).status, 200)

    // Our restore must not have rewritten what the reference relies on; CSS does not rotate
    // refresh tokens, so even the token is unchanged.
    const afterUs = recordOf(storage.map, sessionId)
    for (const [field, value] of Object.entries(written)) {
      assert.equal(afterUs[field], value, `our restore kept the reference's ${field}`)
    }

    restoredByThem = await reference.getSessionFromStorage(sessionId, { storage })
    assert.ok(restoredByThem, 'the reference finds the session after our restore')
    assert.equal(restoredByThem.info.isLoggedIn, true)
    assert.equal(restoredByThem.info.webId, css.webId)
    assert.equal((await restoredByThem.fetch(css.privateResource)).status, 200)
  } finally {
    // Ours last: its logout revokes the refresh token, which nothing needs by then.
    await logoutAll([theirs, restoredByThem, restoredByUs])
  }
})

test('a session we logged in is restored by the reference', async () => {
  const storage = asyncMapStorage()
  const sessionId = 'ours-to-ref'
  const mine = new ours.Session({ storage }, sessionId)
  let restoredByThem
  try {
    const { redirectUrl } = await startLogin(mine)
    const info = await mine.handleIncomingRedirect(redirectUrl)
    assert.equal(info?.isLoggedIn, true, 'we logged in')
    assert.equal((await mine.fetch(css.privateResource)).status, 200)

    restoredByThem = await reference.getSessionFromStorage(sessionId, { storage })
    assert.ok(restoredByThem, 'the reference finds the session we stored')
    assert.equal(restoredByThem.info.isLoggedIn, true)
    assert.equal(restoredByThem.info.sessionId, sessionId)
    assert.equal(restoredByThem.info.webId, css.webId)
    assert.equal((await restoredByThem.fetch(css.privateResource)).status, 200)
  } finally {
    await logoutAll([restoredByThem, mine])
  }
})

// A deployment that switches packages can catch users at the provider's pages: the redirect
// then arrives at the other package, which must finish the login from the stored state.
test('a login the reference started is finished by us', async () => {
  const storage = asyncMapStorage()
  const sessionId = 'started-by-ref'
  const theirs = new reference.Session({ storage }, sessionId)
  const mine = new ours.Session({ storage })
  try {
    const { state, redirectUrl } = await startLogin(theirs)
    const info = await mine.handleIncomingRedirect(redirectUrl)
    assert.equal(info?.isLoggedIn, true)
    assert.equal(info.sessionId, sessionId, 'the session ID comes from the state')
    assert.equal(info.webId, css.webId)
    assert.equal((await mine.fetch(css.privateResource)).status, 200)
    // Divergence 5: we use the state up, also one the reference recorded.
    assert.equal(storage.map.get(RECORD_PREFIX + state), undefined)

    const restored = await reference.getSessionFromStorage(sessionId, { storage })
    try {
      assert.equal(restored?.info.isLoggedIn, true, 'the reference restores what we finished')
      assert.equal((await restored.fetch(css.privateResource)).status, 200)
    } finally {
      await restored?.logout()
    }
  } finally {
    await logoutAll([theirs, mine])
  }
})

test('a login we started is finished by the reference', async () => {
  const storage = asyncMapStorage()
  const sessionId = 'started-by-us'
  const mine = new ours.Session({ storage }, sessionId)
  const theirs = new reference.Session({ storage })
  let restoredByUs
  try {
    const { redirectUrl } = await startLogin(mine)
    const info = await theirs.handleIncomingRedirect(redirectUrl)
    assert.equal(info?.isLoggedIn, true, 'the reference finishes from the state we stored')
    assert.equal(info.sessionId, sessionId)
    assert.equal(info.webId, css.webId)
    assert.equal((await theirs.fetch(css.privateResource)).status, 200)

    restoredByUs = await ours.getSessionFromStorage(sessionId, { storage })
    assert.equal(restoredByUs?.info.isLoggedIn, true, 'we restore what the reference finished')
    assert.equal((await restoredByUs.fetch(css.privateResource)).status, 200)
  } finally {
    await logoutAll([theirs, restoredByUs, mine])
  }
})

// ---------------------------------------------------------------------------------------------
// Same inputs, same layout.

const isBase64url = (value, length) => typeof value === 'string' && /^[A-Za-z0-9_-]+$/.test(value) && (length === undefined || value.length === length)

/** A stored JWK (a JSON string), checked for what a reader needs; returns its member names. */
function jwkMembers(value, where, { isPrivate }) {
  const jwk = JSON.parse(value)
  assert.equal(jwk.kty, 'EC', where)
  assert.equal(jwk.crv, 'P-256', where)
  assert.ok(isBase64url(jwk.x) && isBase64url(jwk.y), where)
  assert.equal('d' in jwk, isPrivate, `${where}: a private member only in the private key`)
  // Member order is the runtime's (§6.6: readers must not depend on it), so names are sorted.
  return Object.keys(jwk).sort()
}

/**
 * Fields that differ between any two logins, whoever makes them (a fresh registration, verifier,
 * token or key): each package's value is checked for its shape, and the shapes must agree.
 */
const FRESH = {
  clientId: (value) => assert.ok(typeof value === 'string' && value.length > 0),
  clientSecret: (value) => assert.ok(typeof value === 'string' && value.length > 0),
  codeVerifier: (value) => assert.ok(isBase64url(value, 43), 'a 43-character PKCE verifier'),
  refreshToken: (value) => assert.ok(typeof value === 'string' && value.length > 0),
  publicKey: (value, where) => jwkMembers(value, where, { isPrivate: false }),
  privateKey: (value, where) => jwkMembers(value, where, { isPrivate: true }),
}

/** Fields that follow from the inputs and the provider alone, so they must be equal. */
const SAME = ['clientType', 'clientName', 'issuer', 'redirectUrl', 'dpop', 'keepAlive', 'webId', 'isLoggedIn', 'idTokenSignedResponseAlg', 'expiresAt']

/**
 * Per phase, the fields only our session record has, each a documented divergence, with the
 * check its documentation implies. Anything else only one side has fails the comparison.
 */
const OURS_ONLY = {
  afterLogin: {
    // Divergences 48, 38 and 5: the state is listed in the session record until it is used up,
    // so logout and clearSessionFromStorageAll can find its mapping record.
    authorizationStates: (value, { myState }) => assert.deepEqual(JSON.parse(value), [myState]),
  },
  afterRedirect: {
    // Divergence 3: the access token, its type and expiry are kept so that a restore can use
    // the token without asking the provider. (The divergence says a refresh stores them; the
    // redirect is this login's first token response, so it stores them too.)
    accessToken: (value) => assert.equal(value.split('.').length, 3, 'a JWT access token (CSS issues them)'),
    accessTokenType: (value) => assert.equal(value, 'DPoP'),
    accessTokenExpiresAt: (value) => assert.ok(/^\d+$/.test(value) && Number(value) > Date.now(), 'a future time in ms'),
    accessTokenIssuedAt: (value) => assert.ok(/^\d+$/.test(value) && Number(value) <= Date.now(), 'a past time in ms'),
    // Divergence 3 too: the latest ID token, for an IdP logout of a session restored that way.
    idToken: (value) => assert.equal(value.split('.').length, 3, 'a JWT ID token'),
    // Divergence 50: the WebID's profile named the provider, so restores need not ask it again.
    webIdVerifiedIssuer: (value) => assert.equal(value, css.issuer),
  },
}

/** Divergence 10: the dynamically registered client, kept for the storage's other sessions. */
const KEPT_CLIENT_PREFIX = 'solidClientAuthn:dynamicClient:'

function compareSessionRecords(theirs, mine, { where, same, oursOnly, myState }) {
  for (const [field, value] of [...Object.entries(theirs), ...Object.entries(mine)]) {
    assert.equal(typeof value, 'string', `${where}: ${field} is stored as a string (§6.1)`)
  }
  for (const [field, check] of Object.entries(oursOnly)) {
    assert.ok(field in mine, `${where}: our record has ${field}`)
    assert.ok(!(field in theirs), `${where}: the reference has no ${field}`)
    check(mine[field], { myState })
  }
  const myFields = Object.keys(mine).filter((field) => !(field in oursOnly))
  assert.deepEqual(myFields.sort(), Object.keys(theirs).sort(), `${where}: the same fields (ours beyond the documented ones)`)
  for (const field of Object.keys(theirs)) {
    if (same.includes(field)) {
      assert.equal(mine[field], theirs[field], `${where}: ${field}`)
    } else if (FRESH[field]) {
      const theirShape = FRESH[field](theirs[field], `${where}: the reference's ${field}`)
      const myShape = FRESH[field](mine[field], `${where}: our ${field}`)
      assert.deepEqual(myShape, theirShape, `${where}: ${field} has the same shape`)
    } else {
      assert.fail(`${where}: ${field} is neither known to be deterministic nor known to be fresh; decide which`)
    }
  }
}

/**
 * Compares two storages left by the same login: keys (with each side's state replaced by a
 * placeholder), the session list, the issuer configurations, the state mappings and the session
 * record field by field.
 */
function compareStorages(theirMap, myMap, { where, sessionId, theirState, myState, same, phase }) {
  const STATE = `${RECORD_PREFIX}<state>`
  const normalise = (map, state) => new Map([...map].map(([key, value]) => [key === RECORD_PREFIX + state ? STATE : key, value]))
  const theirs = normalise(theirMap, theirState)
  const kept = [...myMap.keys()].filter((key) => key.startsWith(KEPT_CLIENT_PREFIX))
  const record = JSON.parse(myMap.get(RECORD_PREFIX + sessionId))
  if (record.clientType === 'dynamic') {
    assert.equal(kept.length, 1, `${where}: one kept client`)
    assert.equal(kept[0], `${KEPT_CLIENT_PREFIX}${JSON.stringify([record.issuer, record.redirectUrl])}`, `${where}: kept under its issuer and redirect URL`)
    assert.equal(JSON.parse(myMap.get(kept[0])).clientId, record.clientId, `${where}: the kept client is the session's`)
  } else {
    assert.deepEqual(kept, [], `${where}: no kept client for a static one`)
  }
  const mine = normalise(new Map([...myMap].filter(([key]) => !kept.includes(key))), myState)

  const theirKeys = [...theirs.keys()]
  let myKeys = [...mine.keys()]
  if (phase === 'afterRedirect') {
    // Divergence 5: our redirect uses the state up and deletes its mapping record; the
    // reference keeps it, unchanged, forever.
    assert.ok(!mine.has(STATE), `${where}: our state mapping is gone`)
    assert.deepEqual(JSON.parse(theirs.get(STATE)), { sessionId }, `${where}: the reference keeps its mapping`)
    myKeys = [...myKeys, STATE]
  }
  assert.deepEqual(myKeys.sort(), theirKeys.sort(), `${where}: the same keys`)

  for (const key of theirKeys) {
    const what = `${where}: ${key}`
    if (key === RECORD_PREFIX + sessionId) {
      compareSessionRecords(JSON.parse(theirs.get(key)), JSON.parse(mine.get(key)), {
        where: what,
        same,
        oursOnly: OURS_ONLY[phase],
        myState,
      })
    } else if (key === STATE && phase === 'afterRedirect') {
      // Checked above: only the reference has it now.
    } else if (key === STATE || key === LIST_KEY || key.startsWith('issuerConfig:')) {
      // Fully determined by the inputs and the provider's discovery document.
      assert.deepEqual(JSON.parse(mine.get(key)), JSON.parse(theirs.get(key)), what)
    } else {
      assert.fail(`${what}: a key neither side is known to write`)
    }
  }
}

/**
 * The authorization requests must be the same request, bar the per-login values. CSS takes
 * pushed authorization requests (RFC 9126), so ours pushes the parameters the reference's URL
 * carries and hands the user a URL with only `client_id` and `request_uri` (divergence 10): what
 * was pushed, parameter by parameter and in the reference's order, is pinned by the Rust flow
 * tests in crates/core/src/tests/flows/pushed_authorization.rs, where the provider is in process.
 */
function compareAuthorizationUrls(theirUrl, myUrl, { where, fresh }) {
  const theirs = new URL(theirUrl)
  const mine = new URL(myUrl)
  assert.equal(`${mine.origin}${mine.pathname}`, `${theirs.origin}${theirs.pathname}`, `${where}: the endpoint`)
  assert.ok(!theirs.searchParams.has('request_uri'), `${where}: the reference does not push`)
  assert.deepEqual([...mine.searchParams.keys()], ['client_id', 'request_uri'], `${where}: ours names the pushed request`)
  assert.match(mine.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/, `${where}: a request URI of CSS's`)
  if (!fresh.includes('client_id')) assert.equal(mine.searchParams.get('client_id'), theirs.searchParams.get('client_id'), `${where}: client_id`)
}

/**
 * One login with `lib`'s Session on a storage of its own: storage as it is after `login` and
 * after `handleIncomingRedirect`, the redirect's answer and the authorization URL.
 */
async function snapshotLogin(lib, sessionId, extra, sessionOptions) {
  const storage = asyncMapStorage()
  const session = new lib.Session({ storage, ...sessionOptions }, sessionId)
  try {
    const { authorizationUrl, state, redirectUrl } = await startLogin(session, extra)
    const afterLogin = new Map(storage.map)
    const info = await session.handleIncomingRedirect(redirectUrl)
    assert.equal(info?.isLoggedIn, true, `${lib === ours ? 'we' : 'the reference'} logged in`)
    assert.equal((await session.fetch(css.privateResource)).status, 200)
    return { authorizationUrl, state, afterLogin, afterRedirect: new Map(storage.map), info: { ...info } }
  } finally {
    // Logout clears the storage; the snapshots were taken before.
    await session.logout()
  }
}

async function compareLogins({ name, sessionId, extra, sessionOptions = {}, same, freshParameters }) {
  const theirs = await snapshotLogin(reference, sessionId, extra, sessionOptions)
  const mine = await snapshotLogin(ours, sessionId, extra, sessionOptions)
  const where = (phase) => `${name}, ${phase}`
  const context = { sessionId, theirState: theirs.state, myState: mine.state, same }

  compareAuthorizationUrls(theirs.authorizationUrl, mine.authorizationUrl, { where: name, fresh: freshParameters })
  compareStorages(theirs.afterLogin, mine.afterLogin, { ...context, where: where('after login'), phase: 'afterLogin' })
  compareStorages(theirs.afterRedirect, mine.afterRedirect, { ...context, where: where('after the redirect'), phase: 'afterRedirect' })
  assert.deepEqual(mine.info, theirs.info, `${name}: what handleIncomingRedirect resolves`)
}

const DYNAMIC = {
  extra: {},
  same: SAME,
  // Each package registers its own client, so the client ID is fresh as well.
  freshParameters: ['client_id', 'code_challenge', 'state'],
}

test('the same login with a dynamically registered client leaves the same layout', async () => {
  await compareLogins({ ...DYNAMIC, name: 'dynamic client', sessionId: 'same-dynamic' })
})

test('the same login with a static client leaves the same layout', async () => {
  const client = await registerStaticClient()
  await compareLogins({
    name: 'static client',
    sessionId: 'same-static',
    extra: client,
    // The client is an input here, so its ID and secret must be stored as given.
    same: [...SAME, 'clientId', 'clientSecret'],
    freshParameters: ['code_challenge', 'state'],
  })
})

test('the same login from a session without keepAlive leaves the same layout', async () => {
  // The Session option is stored with the login, and decides how a restore behaves later.
  await compareLogins({
    ...DYNAMIC,
    name: 'keepAlive false',
    sessionId: 'same-no-keep-alive',
    sessionOptions: { keepAlive: false },
  })
})

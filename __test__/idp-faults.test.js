'use strict'
// Fault injection at the token endpoint of a small fake identity provider
// (support/fake-idp.js): client-credentials logins and restores through a refresh token, when the
// provider answers normally and when it fails in every way we could think of. Public API only.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const util = require('node:util')
const lib = require('..')
const { startFakeIdp, decodeJwt, verifiesWithOwnJwk, closedPort, sessionRecord, GARBAGE_MARK } = require('./support/fake-idp.js')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, seed, rejection } = require('./helpers.js')
// The refresh lease a restore takes on a shared storage, and gives back (crates/core/src/storage/lease.rs).
const LEASE_PREFIX = 'solidClientAuthn:refreshLease:'

const { Session, getSessionFromStorage, setIdentityProviderTimeout, IdentityProviderError, OAuthError } = lib

const CLIENT_ID = 'fake-client'
// ':' and '+' must be form-encoded inside the Basic credentials (RFC 6749 §2.3.1).
const CLIENT_SECRET = 'SECRET-client-s3cr3t:+/'
const DEFAULT_TIMEOUT_MS = 3_500

let idp // the provider every test uses; its answer is set per test
let refused // a provider whose discovery names a token endpoint nobody listens on
test.before(async () => {
  idp = await startFakeIdp()
  refused = await startFakeIdp({ tokenEndpoint: `http://127.0.0.1:${await closedPort()}/token` })
})
test.after(async () => {
  await Promise.all([idp?.close(), refused?.close()])
})
test.afterEach(() => {
  setIdentityProviderTimeout(DEFAULT_TIMEOUT_MS)
  idp.answer('normal')
})

const login = (session, issuer = idp.issuer) => session.login({ oidcIssuer: issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })

/** Every string that must never show up in an error: secrets, tokens, what the provider sent. */
function secrets(extra = []) {
  const basic = Buffer.from(`${CLIENT_ID}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')
  return [CLIENT_SECRET, encodeURIComponent(CLIENT_SECRET), 's3cr3t', basic, GARBAGE_MARK, 'SECRET', ...idp.issued, ...refused.issued, ...extra]
}

/** The error, its `cause` chain, messages, stacks and every property hold none of `forbidden`. */
function assertNoLeak(error, forbidden) {
  const chain = []
  for (let e = error; e !== undefined && e !== null && chain.length < 10; e = e.cause) chain.push(e)
  const texts = chain.flatMap((e) => [String(e.message), String(e.stack), util.inspect(e, { depth: 10, showHidden: true })])
  for (const text of texts) {
    for (const secret of forbidden) assert.ok(!text.includes(secret), `the error quotes ${secret.slice(0, 12)}…: ${text.slice(0, 500)}`)
  }
}

/** The request `session.fetch` would send, caught by a stub of the global fetch. */
async function fetchSeenBy(session, url = 'https://pod.example/private') {
  const original = globalThis.fetch
  let seen
  globalThis.fetch = async (input, init) => {
    seen = { url: String(input), headers: new Headers(init?.headers) }
    return new Response('stub')
  }
  try {
    await session.fetch(url)
  } finally {
    globalThis.fetch = original
  }
  return seen
}

/**
 * A login that failed leaves the session logged out, and so does restoring it from storage.
 * Like the reference, a login registers the session and stores the static client (id, secret,
 * name) before it asks for a token; nothing else (no token, no WebID, no issuer) may be stored.
 */
async function assertLoggedOut(session, storage) {
  const id = session.info.sessionId
  assert.equal(session.info.isLoggedIn, false)
  assert.equal(session.info.webId, undefined)
  assert.ok([undefined, '[]', JSON.stringify([id])].includes(storage.map.get(LIST_KEY)), storage.map.get(LIST_KEY))
  const record = storage.map.get(RECORD_PREFIX + id)
  if (record !== undefined) {
    assert.deepEqual(JSON.parse(record), { clientId: CLIENT_ID, clientType: 'static', clientSecret: CLIENT_SECRET, clientName: CLIENT_ID })
  }
  // Restoring it gives a logged-out session (or, should a restore log a static client in again,
  // the same provider's refusal).
  const restored = await getSessionFromStorage(id, { storage }).catch((e) => {
    assert.ok(e instanceof IdentityProviderError || e instanceof OAuthError, util.inspect(e))
    return undefined
  })
  assert.notEqual(restored?.info.isLoggedIn, true, 'restoring it does not log it in')
}

// Each fault, the answer that makes it, and the error it must give.
const FAULTS = [
  ...[500, 502, 503].map((status) => ({ name: `HTTP ${status} with an HTML page`, answer: ['status', { status }], code: 'ERR_IDP_RESPONSE' })),
  { name: 'garbage (not JSON)', answer: ['garbage'], code: 'ERR_IDP_RESPONSE' },
  { name: 'a half-closed body', answer: ['half-closed'], code: 'ERR_IDP_UNREACHABLE' },
  { name: 'a connection closed before any answer', answer: ['reset'], code: 'ERR_IDP_UNREACHABLE' },
  { name: 'a token endpoint nobody listens on', provider: () => refused, code: 'ERR_IDP_UNREACHABLE' },
  { name: 'a hang past the timeout', answer: ['hang'], timeoutMs: 200, code: 'ERR_IDP_TIMEOUT' },
  { name: 'a body that stalls past the timeout', answer: ['stall-body'], timeoutMs: 200, code: 'ERR_IDP_TIMEOUT' },
  { name: 'a redirect elsewhere', answer: ['redirect'], code: 'ERR_IDP_RESPONSE' },
  {
    name: 'invalid_grant (400)',
    answer: ['oauth-error', { status: 400, error: 'invalid_grant', description: 'grant request is invalid' }],
    code: 'ERR_OAUTH_INVALID_GRANT',
    oauth: { error: 'invalid_grant', errorDescription: 'grant request is invalid' },
  },
  {
    name: 'invalid_client (401)',
    answer: ['oauth-error', { status: 401, error: 'invalid_client', description: 'client authentication failed' }],
    code: 'ERR_OAUTH_INVALID_CLIENT',
    oauth: { error: 'invalid_client', errorDescription: 'client authentication failed' },
  },
  {
    name: 'temporarily_unavailable (503 JSON)',
    answer: ['oauth-error', { status: 503, error: 'temporarily_unavailable', description: 'try again later' }],
    code: 'ERR_OAUTH',
    oauth: { error: 'temporarily_unavailable', errorDescription: 'try again later' },
  },
  // These two answers hold a new refresh token: a refresh stores it (the old one may be spent),
  // and nothing else of the answer.
  { name: 'a token response without access_token', answer: ['no-access-token'], code: 'ERR_IDP_RESPONSE', keepsRefreshToken: true },
  { name: 'token_type MAC', answer: ['token-type', { tokenType: 'MAC' }], code: 'ERR_IDP_RESPONSE', keepsRefreshToken: true },
]

/** `before` (a storage's map) with the refresh token of the record under `key` replaced. */
function withRefreshToken(before, key, refreshToken) {
  const after = new Map(before)
  after.set(key, JSON.stringify({ ...JSON.parse(before.get(key)), refreshToken }))
  return after
}

/** Sets the provider up for `fault` and returns it. */
function arrange(fault) {
  if (fault.timeoutMs !== undefined) setIdentityProviderTimeout(fault.timeoutMs)
  if (fault.answer) idp.answer(...fault.answer)
  return fault.provider?.() ?? idp
}

function assertTyped(e, fault) {
  const cls = fault.oauth ? OAuthError : IdentityProviderError
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${util.inspect(e)}`)
  assert.equal(e.name, cls.name)
  assert.equal(e.code, fault.code, e.message)
  if (fault.oauth) {
    assert.equal(e.error, fault.oauth.error)
    assert.equal(e.errorDescription, fault.oauth.errorDescription)
  }
}

// ---------------------------------------------------------------------------------------------
// Client-credentials login

test('login: a normal answer logs in with the WebID of the ID token; Basic client auth and a DPoP proof were sent', async () => {
  const storage = asyncMapStorage()
  const session = new Session({ storage }, 'cc-normal')
  const logins = []
  session.events.on('login', () => logins.push(session.info.webId))
  const sent = idp.tokenRequests().length
  await login(session)
  assert.equal(session.info.isLoggedIn, true)
  assert.equal(session.info.webId, idp.webId)
  assert.ok(Math.abs(session.info.expirationDate - (Date.now() + 300_000)) < 10_000, 'expires_in is used')
  assert.deepEqual(logins, [idp.webId])

  const requests = idp.tokenRequests().slice(sent)
  assert.equal(requests.length, 1)
  const [request] = requests
  assert.equal(request.form.grant_type, 'client_credentials')
  assert.deepEqual(request.form.scope.split(' ').sort(), ['offline_access', 'openid', 'webid'])
  assert.equal(request.form.client_secret, undefined, 'the secret goes in the Basic header only')
  assert.deepEqual(request.basic, { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
  const proof = request.headers.dpop
  const { header, claims } = decodeJwt(proof)
  assert.equal(header.typ, 'dpop+jwt')
  assert.equal(header.alg, 'ES256')
  assert.deepEqual(Object.keys(header.jwk).sort(), ['crv', 'kty', 'x', 'y'], 'the public key, and nothing private')
  assert.equal(claims.htm, 'POST')
  assert.equal(claims.htu, idp.tokenEndpoint)
  assert.ok(typeof claims.jti === 'string' && claims.jti.length >= 16)
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 60)
  assert.ok(verifiesWithOwnJwk(proof), 'the proof is signed by the key in its header')

  // The session presents the token it got, bound to the same key.
  const seen = await fetchSeenBy(session)
  assert.equal(seen.headers.get('authorization'), `DPoP ${idp.lastTokenResponse.access_token}`)
  const resourceProof = decodeJwt(seen.headers.get('dpop'))
  assert.deepEqual(resourceProof.header.jwk, header.jwk)
  assert.equal(resourceProof.claims.ath, crypto.createHash('sha256').update(idp.lastTokenResponse.access_token).digest('base64url'))
  assert.ok(storage.map.has(RECORD_PREFIX + 'cc-normal'))
  await session.logout()
})

for (const fault of FAULTS) {
  test(`login: ${fault.name} rejects with ${fault.code}, quotes nothing, and leaves the session logged out`, async () => {
    const provider = arrange(fault)
    const storage = asyncMapStorage()
    const session = new Session({ storage })
    const logins = []
    session.events.on('login', () => logins.push(1))
    const started = Date.now()
    const e = await rejection(login(session, provider.issuer))
    assertTyped(e, fault)
    if (fault.timeoutMs !== undefined) assert.ok(Date.now() - started < 2_000, 'the timeout set is the one used')
    assertNoLeak(e, secrets())
    await assertLoggedOut(session, storage)
    assert.deepEqual(logins, [])
    const seen = await fetchSeenBy(session)
    assert.equal(seen.headers.get('authorization'), null, 'fetch stays unauthenticated')
    assert.equal(seen.headers.get('dpop'), null)
  })
}

// ---------------------------------------------------------------------------------------------
// Restore through a refresh token

/** A storage holding one DPoP session of `provider` in the reference's layout, with a real key. */
async function storedSession(id, provider = idp, overrides = {}) {
  const { record, refreshToken, publicJwk, privateJwk } = sessionRecord(provider, { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...overrides })
  const storage = asyncMapStorage()
  await seed(storage, { [id]: record })
  storage.calls.length = 0
  return { storage, refreshToken, publicJwk, privateJwk, key: RECORD_PREFIX + id }
}

const storedRecord = (storage, key) => JSON.parse(storage.map.get(key))

test('restore: a normal answer logs in, and the rotated refresh token is stored before anyone hears of it', async () => {
  const { storage, refreshToken, publicJwk, key } = await storedSession('rt-normal')
  const heard = []
  const sent = idp.tokenRequests().length
  const session = await getSessionFromStorage('rt-normal', {
    storage,
    onNewRefreshToken: (token) => heard.push({ token, stored: storedRecord(storage, key).refreshToken }),
  })
  assert.equal(session.info.isLoggedIn, true)
  assert.equal(session.info.webId, idp.webId)
  const rotated = idp.lastTokenResponse.refresh_token
  assert.notEqual(rotated, refreshToken)
  assert.deepEqual(heard, [{ token: rotated, stored: rotated }], 'onNewRefreshToken got the new token, already stored')
  assert.equal(storedRecord(storage, key).refreshToken, rotated)
  assert.equal(storedRecord(storage, key).publicKey, JSON.stringify({ ...publicJwk, alg: 'ES256' }), 'the key is kept')

  const requests = idp.tokenRequests().slice(sent)
  assert.equal(requests.length, 1)
  const [request] = requests
  assert.deepEqual(request.form, { grant_type: 'refresh_token', refresh_token: refreshToken })
  assert.deepEqual(request.basic, { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
  const { header, claims } = decodeJwt(request.headers.dpop)
  assert.equal(header.typ, 'dpop+jwt')
  assert.deepEqual(header.jwk, publicJwk, 'the proof is made with the stored key')
  assert.equal(claims.htm, 'POST')
  assert.equal(claims.htu, idp.tokenEndpoint)
  assert.ok(verifiesWithOwnJwk(request.headers.dpop))

  const seen = await fetchSeenBy(session)
  assert.equal(seen.headers.get('authorization'), `DPoP ${idp.lastTokenResponse.access_token}`)
  assert.deepEqual(decodeJwt(seen.headers.get('dpop')).header.jwk, publicJwk)
})

for (const fault of FAULTS) {
  test(`restore: ${fault.name} rejects with ${fault.code} and leaves storage byte for byte`, async () => {
    const provider = arrange(fault)
    if (provider === refused) {
      // Discovery comes from the cache, as in the other cases (it is fetched at the first use).
      const warm = await storedSession('rt-warm', refused)
      await rejection(getSessionFromStorage('rt-warm', { storage: warm.storage }))
    }
    const { storage, refreshToken, privateJwk, key } = await storedSession('rt-fault', provider)
    const before = new Map(storage.map)
    const heard = []
    const e = await rejection(getSessionFromStorage('rt-fault', { storage, onNewRefreshToken: (t) => heard.push(t) }))
    assertTyped(e, fault)
    assertNoLeak(e, secrets([refreshToken, privateJwk.d]))
    if (fault.keepsRefreshToken) {
      assert.deepEqual(storage.map, withRefreshToken(before, key, idp.lastTokenResponse.refresh_token), 'the new refresh token, and nothing else, stored')
    } else {
      assert.deepEqual(storage.map, before, 'every key and value as it was')
    }
    assert.deepEqual(
      storage.calls.filter(([method, k]) => method !== 'get' && !k.startsWith(LEASE_PREFIX) && !(fault.keepsRefreshToken && k === key)),
      [],
      'nothing written or deleted but the refresh lease, taken and given back',
    )
    assert.deepEqual(heard, [])
  })
}

test('restore: a refused refresh with discovery not cached yet leaves storage byte for byte too', async () => {
  const fresh = await startFakeIdp() // an issuer this process has not discovered yet
  try {
    fresh.answer('oauth-error', { status: 400, error: 'invalid_grant' })
    const { storage } = await storedSession('rt-uncached', fresh)
    const before = new Map(storage.map)
    const e = await rejection(getSessionFromStorage('rt-uncached', { storage }))
    assert.equal(e.code, 'ERR_OAUTH_INVALID_GRANT')
    assert.deepEqual(storage.map, before, 'every key and value as it was, and no issuerConfig added')
  } finally {
    await fresh.close()
  }
})

// ---------------------------------------------------------------------------------------------
// Restore of a client-credentials session: no refresh token, so once its access token has
// expired, the client-credentials grant runs again.

/** A storage holding a client-credentials session logged in against the fake IdP. */
async function clientCredentialsSession(id, { expired = true } = {}) {
  idp.answer('normal')
  const storage = asyncMapStorage()
  await login(new Session({ storage }, id))
  const key = RECORD_PREFIX + id
  const record = storedRecord(storage, key)
  assert.equal(record.refreshToken, undefined, 'the provider issued no refresh token')
  if (expired) storage.map.set(key, JSON.stringify({ ...record, accessTokenExpiresAt: '0' }))
  storage.calls.length = 0
  return { storage, key, record: storedRecord(storage, key) }
}

test('restore of a client-credentials session: the stored access token while it is good, then the grant again with the stored key', async () => {
  const { storage, key, record } = await clientCredentialsSession('cc-restore', { expired: false })
  let sent = idp.tokenRequests().length
  const reused = await getSessionFromStorage('cc-restore', { storage })
  assert.equal(reused.info.isLoggedIn, true)
  assert.equal(reused.info.webId, idp.webId)
  assert.equal(idp.tokenRequests().length, sent, 'nothing sent while the token is good')
  assert.equal((await fetchSeenBy(reused)).headers.get('authorization'), `DPoP ${record.accessToken}`)

  storage.map.set(key, JSON.stringify({ ...record, accessTokenExpiresAt: '0' }))
  sent = idp.tokenRequests().length
  const again = await getSessionFromStorage('cc-restore', { storage })
  assert.equal(again.info.isLoggedIn, true)
  const requests = idp.tokenRequests().slice(sent)
  assert.equal(requests.length, 1)
  assert.equal(requests[0].form.grant_type, 'client_credentials')
  assert.deepEqual(requests[0].basic, { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
  const { header, claims } = decodeJwt(requests[0].headers.dpop)
  const stored = JSON.parse(record.publicKey)
  assert.deepEqual([header.jwk.x, header.jwk.y], [stored.x, stored.y], 'the proof is made with the stored key')
  assert.equal(claims.htu, idp.tokenEndpoint)
  const after = storedRecord(storage, key)
  assert.equal(after.accessToken, idp.lastTokenResponse.access_token, 'the new token is stored')
  assert.ok(Number(after.accessTokenExpiresAt) > Date.now())
  assert.equal((await fetchSeenBy(again)).headers.get('authorization'), `DPoP ${after.accessToken}`)
})

// (The provider without a token endpoint cannot log the client in in the first place.)
for (const fault of FAULTS.filter((f) => f.provider === undefined)) {
  test(`restore of an expired client-credentials session: ${fault.name} rejects with ${fault.code} and leaves storage byte for byte`, async () => {
    const { storage } = await clientCredentialsSession('cc-fault')
    const before = new Map(storage.map)
    const sent = idp.tokenRequests().length
    arrange(fault)
    const e = await rejection(getSessionFromStorage('cc-fault', { storage }))
    assertTyped(e, fault)
    assert.deepEqual(idp.tokenRequests().slice(sent).map((r) => r.form.grant_type), ['client_credentials'])
    assertNoLeak(e, secrets())
    assert.deepEqual(storage.map, before, 'every key and value as it was')
    assert.deepEqual(
      storage.calls.filter(([method, key]) => method !== 'get' && !key.startsWith(LEASE_PREFIX)),
      [],
      'nothing written or deleted but the refresh lease, taken and given back',
    )
  })
}

// ---------------------------------------------------------------------------------------------
// Tokens the package must refuse

const now = () => Math.floor(Date.now() / 1000)
const BAD_TOKENS = [
  { name: 'an ID token for another audience', answer: () => ({ idToken: { aud: 'someone-else', azp: 'someone-else' } }) },
  // Once accepted at restore, and its azp stored as the session's clientId (fixed in 9c7b563).
  { name: 'an ID token issued to another party (azp), among other audiences', answer: () => ({ idToken: { aud: [CLIENT_ID, 'another-client'], azp: 'another-client' } }) },
  { name: 'an ID token signed by a key not in the JWKS (unknown kid)', answer: () => ({ idTokenKey: idp.foreignKey(), idTokenKid: 'not-in-the-jwks' }) },
  { name: 'an ID token signed by another key under the JWKS kid', answer: () => ({ idTokenKey: idp.foreignKey() }) },
  { name: 'an ID token signed by another key, without a kid', answer: () => ({ idTokenKey: idp.foreignKey(), idTokenKid: null }) },
  { name: 'an expired ID token', answer: () => ({ idToken: { iat: now() - 7200, exp: now() - 3600 } }) },
  { name: 'an ID token from another issuer', answer: () => ({ idToken: { iss: 'https://elsewhere.example/' } }) },
  { name: 'an ID token without exp', answer: () => ({ idToken: { exp: undefined } }) },
  { name: 'an ID token that is not a JWT', answer: () => ({ rawIdToken: `${GARBAGE_MARK}.not-a-jwt` }) },
  { name: 'no ID token, and an access token for another audience', answer: () => ({ idToken: null, accessToken: { aud: 'not-solid' } }) },
]

for (const bad of BAD_TOKENS) {
  test(`${bad.name} is refused with ERR_INVALID_TOKEN, at login and at restore`, async () => {
    idp.answer('normal', bad.answer())
    const storage = asyncMapStorage()
    const session = new Session({ storage })
    const e = await rejection(login(session))
    assert.ok(e instanceof IdentityProviderError, util.inspect(e))
    assert.equal(e.code, 'ERR_INVALID_TOKEN', e.message)
    assertNoLeak(e, secrets())
    await assertLoggedOut(session, storage)

    idp.answer('normal', bad.answer())
    const stored = await storedSession('rt-bad-token')
    const before = new Map(stored.storage.map)
    const heard = []
    const r = await rejection(getSessionFromStorage('rt-bad-token', { storage: stored.storage, onNewRefreshToken: (t) => heard.push(t) }))
    assert.ok(r instanceof IdentityProviderError, util.inspect(r))
    assert.equal(r.code, 'ERR_INVALID_TOKEN', r.message)
    assertNoLeak(r, secrets([stored.refreshToken, stored.privateJwk.d]))
    // The provider rotated the refresh token before its answer was refused: the old one is spent,
    // so the new one is stored (and nothing else of the answer).
    const rotated = idp.lastTokenResponse.refresh_token
    assert.ok(idp.spentRefreshTokens.includes(stored.refreshToken))
    assert.deepEqual(stored.storage.map, withRefreshToken(before, stored.key, rotated), 'the rotated refresh token of a refused answer is stored')
    assert.deepEqual(heard, [])
  })
}

/** A server on 127.0.0.1 that accepts connections and never answers; it counts them. */
async function silentServer() {
  const net = require('node:net')
  const sockets = new Set()
  let count = 0
  const server = net.createServer((socket) => {
    count += 1
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    issuer: `http://127.0.0.1:${server.address().port}/`,
    connections: () => count,
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

test('concurrent logins in a process that knows nothing of the provider yet fetch its discovery document once; an unreachable provider costs one wait, not one per login', async () => {
  const fresh = await startFakeIdp()
  const down = await silentServer()
  try {
    // JS storages and native ones: the waiting is across operations of either kind.
    const sessions = Array.from({ length: 16 }, (_, i) => new Session({ storage: i % 2 ? new lib.InMemoryStorage() : asyncMapStorage() }, `herd-${i}`))
    await Promise.all(sessions.map((session) => login(session, fresh.issuer)))
    assert.ok(sessions.every((session) => session.info.isLoggedIn))
    const gets = (path) => fresh.requests.filter((r) => r.method === 'GET' && r.path === path).length
    assert.equal(gets('/.well-known/openid-configuration'), 1)
    assert.ok(gets('/jwks') <= 1, `${gets('/jwks')} key set requests`)
    assert.equal(fresh.tokenRequests().length, 16, 'one grant per login')

    // A provider that accepts connections and never answers: the logins share one discovery
    // request and its timeout.
    setIdentityProviderTimeout(500)
    const failed = await Promise.all(
      Array.from({ length: 8 }, (_, i) => rejection(login(new Session({ storage: asyncMapStorage() }, `down-${i}`), down.issuer))),
    )
    assert.ok(failed.every((e) => e instanceof IdentityProviderError && e.code === 'ERR_IDP_TIMEOUT'), String(failed[0]))
    assert.equal(down.connections(), 1)
  } finally {
    await Promise.all([fresh.close(), down.close()])
  }
})

// Storage contents shared by every workload: what N authorization-code logins leave in a store,
// in the reference's layout (reference-api.md §6.2, §6.6). Both packages get the same strings.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'

export const LIST_KEY = 'solidClientAuthn:registeredSessions'
export const RECORD_PREFIX = 'solidClientAuthenticationUser:'

const ISSUER = 'https://idp.example/'
const CLIENT_ID = 'https://app.example/id'

const b64url = (bytes) => randomBytes(bytes).toString('base64url')

/** The `issuerConfig:*` value a discovery of ISSUER leaves (§6.4 member order). */
const ISSUER_CONFIG = JSON.stringify({
  issuer: ISSUER,
  authorizationEndpoint: `${ISSUER}.oidc/auth`,
  subjectTypesSupported: ['public'],
  claimsSupported: ['azp', 'sub', 'webid'],
  tokenEndpoint: `${ISSUER}.oidc/token`,
  jwksUri: `${ISSUER}.oidc/jwks`,
  userinfoEndpoint: `${ISSUER}.oidc/me`,
  registrationEndpoint: `${ISSUER}.oidc/reg`,
  tokenEndpointAuthMethodsSupported: ['client_secret_basic', 'client_secret_post', 'none'],
  grantTypesSupported: ['authorization_code', 'refresh_token', 'client_credentials'],
  responseTypesSupported: ['code', 'id_token', 'code id_token'],
  idTokenSigningAlgValuesSupported: ['ES256'],
  scopesSupported: ['openid', 'profile', 'offline_access', 'webid'],
  endSessionEndpoint: `${ISSUER}.oidc/session/end`,
})

/**
 * The record of a logged-in authorization-code session with DPoP (§6.6, after the redirect):
 * twelve string fields, the two JWKs as JSON strings. The key material is random bytes of the
 * right sizes (P-256 coordinates and scalar are 32 bytes each), not real keys: nothing here
 * signs anything.
 */
export function sessionRecord(i) {
  const x = b64url(32)
  const y = b64url(32)
  return JSON.stringify({
    clientId: CLIENT_ID,
    clientType: 'solid-oidc',
    clientName: CLIENT_ID,
    issuer: ISSUER,
    redirectUrl: 'https://app.example/cb',
    dpop: 'true',
    keepAlive: 'true',
    refreshToken: b64url(32),
    webId: webIdOf(i),
    isLoggedIn: 'true',
    publicKey: JSON.stringify({ kty: 'EC', crv: 'P-256', x, y, alg: 'ES256' }),
    privateKey: JSON.stringify({ kty: 'EC', crv: 'P-256', x, y, d: b64url(32) }),
  })
}

export const webIdOf = (i) => `https://user${i}.solid.example/profile/card#me`

/**
 * The record of session `i` as a login by this package leaves it: `sessionRecord`'s fields with a
 * real DPoP key pair (a restore imports it), the DPoP-bound access token it stored, with an hour
 * to live, so that a restore with refreshing uses it and sends nothing, and the WebID check's mark.
 */
export function sessionRecordWithAccessToken(i) {
  // The JWK from the generator: exporting a KeyObject just generated can deadlock Node 20 (a GC
  // during the export finalizes the generation job, which waits for the lock the export holds).
  const jwk = { format: 'jwk' }
  const { kty, crv, x, y, d } = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: jwk, privateKeyEncoding: jwk }).privateKey
  const now = Date.now()
  return JSON.stringify({
    ...JSON.parse(sessionRecord(i)),
    publicKey: JSON.stringify({ kty, crv, x, y, alg: 'ES256' }),
    privateKey: JSON.stringify({ kty, crv, x, y, d }),
    accessToken: b64url(32),
    accessTokenType: 'DPoP',
    accessTokenIssuedAt: String(now),
    accessTokenExpiresAt: String(now + 3_600_000),
    // A login by this package marks the record once the WebID's profile named the provider.
    webIdVerifiedIssuer: ISSUER,
  })
}

/**
 * Everything N logins leave: the registered list, one session record per session, the
 * `{"sessionId":…}` state mapping each auth-code login leaves behind (the reference never deletes
 * it), and the two `issuerConfig:*` keys. Returns the session IDs and the [key, value] pairs.
 */
export function makeSessions(n) {
  const ids = Array.from({ length: n }, () => randomUUID())
  const entries = [[LIST_KEY, JSON.stringify(ids)]]
  ids.forEach((id, i) => {
    entries.push([RECORD_PREFIX + id, sessionRecord(i)])
    entries.push([RECORD_PREFIX + b64url(32), JSON.stringify({ sessionId: id })])
  })
  entries.push([`issuerConfig:${ISSUER.slice(0, -1)}`, ISSUER_CONFIG])
  entries.push([`issuerConfig:${ISSUER}`, ISSUER_CONFIG])
  return { ids, entries }
}

/** Writes `data` into `storage` through its own (async) `set`. */
export async function seed(storage, data) {
  for (const [key, value] of data.entries) await storage.set(key, value)
}

/** The JS storage of the brief: async methods over a Map, nothing else. */
export function asyncMapStorage() {
  const m = new Map()
  return {
    async get(k) {
      return m.get(k)
    },
    async set(k, v) {
      m.set(k, v)
    },
    async delete(k) {
      m.delete(k)
    },
  }
}

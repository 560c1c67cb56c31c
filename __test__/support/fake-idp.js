'use strict'
// A small fake OpenID provider for fault-injection tests (node:http and node:crypto only).
//
// It serves a discovery document, a JWKS holding one ES256 key it generates, an authorization
// endpoint that approves every request at once, and a token endpoint whose answer each test picks
// with `idp.answer(kind, options)`: real ES256-signed access and ID tokens, or one of the faults
// below. Every request is recorded (method, path, headers, body).
//
//   const idp = await startFakeIdp()
//   idp.answer('normal')                       // signed tokens; refresh tokens rotate (none for client credentials)
//   idp.answer('normal', { idToken: { aud: 'someone-else' } })   // claims overridden
//   idp.answer('normal', { idTokenKey: idp.foreignKey() })       // signed by a key not in the JWKS
//   idp.answer('normal', { tamperIdToken: (jwt) => … })          // the signed ID token, altered
//   idp.answer('status', { status: 503 })      // an HTML error page
//   idp.answer('garbage')                      // 200, not JSON, a secret-looking string inside
//   idp.answer('half-closed')                  // 200 with a Content-Length, then the socket closes
//   idp.answer('reset')                        // the connection is closed before any answer
//   idp.answer('hang')                         // no answer at all (until close())
//   idp.answer('stall-body')                   // 200 and part of a body, then nothing
//   idp.answer('redirect')                     // 302 elsewhere
//   idp.answer('oauth-error', { status: 400, error: 'invalid_grant', description: '…' })
//   idp.answer('no-access-token')              // a JSON token response without access_token
//   idp.answer('token-type', { tokenType: 'MAC' })
//   idp.answer('normal', { response: { expires_in: -1 } })      // fields of the token response replaced
//                                              // (undefined deletes one), after the tokens are made
//   idp.serveKeySet(body)                      // the JWKS endpoint answers `body` (text, or a value to
//                                              // serialise once) until serveKeySet() with no argument
//   idp.spentRefreshTokens                     // every refresh token presented to the token endpoint
//   idp.requests                               // [{ method, path, headers, body }]
//   idp.tokenRequests()                        // the POSTs to the token endpoint, form parsed
//   idp.issued                                 // every token string (and code) it handed out
//   await idp.authorize(authorizationUrl)      // the URL the user would be sent back to, with a fresh code
//                                              // (the token endpoint redeems such a code once, checking
//                                              // client, redirect_uri and PKCE; any other is invalid_grant)
//   idp.webId                                  // the WebID its tokens name: by default its own user's,
//                                              // whose profile it serves; another with `startFakeIdp({ webId })`
//                                              // (a CSS user's, say: a provider speaking for someone else)
//   idp.webIdOf(name)                          // the WebID of another user of its own (`${issuer}<name>/profile/card#me`):
//                                              // GET /<name>/profile/card is a Turtle profile naming it as solid:oidcIssuer
//   idp.serveProfile(issuers)                  // the issuers its users' profiles name from now on ([] for none)
//   await idp.close()
//
// Every secret-looking string it sends in a fault contains GARBAGE_MARK, so a test can look for
// that one string in an error.

const http = require('node:http')
const crypto = require('node:crypto')

const GARBAGE_MARK = 'SECRET-GARBAGE-7f3a'
const KID = 'fake-idp-es256'
/** Where the WebID profiles of its users are: /<name>/profile/card. */
const PROFILE_PATH = /^\/[^/]+\/profile\/card$/

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** An ES256 JWT over `claims`, signed with `privateKey` (a KeyObject), with `kid` in its header. */
function signJwt(claims, { privateKey, kid, header = {} }) {
  const head = { alg: 'ES256', typ: 'JWT', ...(kid == null ? {} : { kid }), ...header }
  const input = `${b64url(head)}.${b64url(claims)}`
  const signature = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

/** Header and claims of a JWT, unverified. */
function decodeJwt(token) {
  const [header, claims] = String(token).split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url')))
  return { header, claims }
}

/** Whether a compact ES256 JWS verifies with the public JWK in its own header (a DPoP proof). */
function verifiesWithOwnJwk(token) {
  const [header, claims, signature] = String(token).split('.')
  const { jwk } = JSON.parse(Buffer.from(header, 'base64url'))
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' })
  return crypto.verify('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))
}

/** A fresh P-256 key pair: { privateKey, publicJwk, privateJwk }. */
/**
 * A new P-256 key pair: as KeyObjects and as JWKs. The JWKs come from the generator itself: on
 * Node 20, exporting a KeyObject just generated can deadlock the thread (a garbage collection
 * during the export finalizes the generation job, whose destructor waits for the key's lock that
 * the export holds; stop 23's CI run hung there).
 */
function p256() {
  const jwk = { format: 'jwk' }
  const { privateKey: generated } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: jwk, privateKeyEncoding: jwk })
  const { kty, crv, x, y, d } = generated
  const privateJwk = { kty, crv, x, y, d }
  const publicJwk = { kty, crv, x, y }
  return { privateKey: crypto.createPrivateKey({ key: privateJwk, ...jwk }), publicKey: crypto.createPublicKey({ key: publicJwk, ...jwk }), publicJwk, privateJwk }
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}

/** The client id and secret of an HTTP Basic header, decoded as RFC 6749 §2.3.1 encodes them. */
function basicCredentials(authorization) {
  const match = /^Basic (.+)$/i.exec(authorization ?? '')
  if (!match) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const form = (text) => decodeURIComponent(text.replace(/\+/g, ' '))
  return { clientId: form(decoded.slice(0, colon)), clientSecret: form(decoded.slice(colon + 1)) }
}

/**
 * Starts the fake provider on a free port of 127.0.0.1.
 *
 * @param {object} [options]
 * @param {string} [options.webId] the WebID its tokens name (default: its own user's, whose
 *   profile it serves, naming it)
 * @param {string} [options.tokenEndpoint] the token endpoint its discovery document names
 *   (default: its own `/token`; point it at a closed port to make the provider unreachable)
 * @param {number} [options.expiresIn=300] the `expires_in` of its token responses (seconds)
 */
async function startFakeIdp(options = {}) {
  const { expiresIn = 300 } = options
  let webId // its own user's unless options.webId, once its address is known
  let profileIssuers // what its own profile names as solid:oidcIssuer (its issuer, by default)
  const signing = p256()
  const hanging = new Set()
  let rotation = 0
  let answer = { kind: 'normal', options: {} }
  let keySetBody // the JWKS endpoint's answer when a test replaced it (text)

  const idp = {
    requests: [],
    issued: [],
    spentRefreshTokens: [],
    kid: KID,
    publicJwk: signing.publicJwk,
  }

  const server = http.createServer(async (req, res) => {
    const body = await readBody(req)
    const path = new URL(req.url, 'http://x').pathname
    idp.requests.push({ method: req.method, path, headers: { ...req.headers }, body })
    const json = (status, value, headers = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(value))
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') return json(200, idp.discovery)
    if (req.method === 'GET' && path === '/jwks' && keySetBody !== undefined) {
      return res.writeHead(200, { 'content-type': 'application/json' }).end(keySetBody)
    }
    if (req.method === 'GET' && path === '/jwks') return json(200, { keys: [{ ...signing.publicJwk, kid: KID, alg: 'ES256', use: 'sig' }] })
    if (req.method === 'GET' && path === '/auth') return authorization(req, res)
    if (req.method === 'POST' && path === '/token') return token(req, res, body, json)
    if (req.method === 'GET' && PROFILE_PATH.test(path)) return profile(res)
    res.writeHead(404).end()
  })

  /** A WebID profile of one of its users, naming `profileIssuers` as the WebID's identity providers. */
  function profile(res) {
    const issuers = profileIssuers.map((i) => `<${i}>`).join(', ')
    const body = [
      '@prefix foaf: <http://xmlns.com/foaf/0.1/> .',
      '@prefix solid: <http://www.w3.org/ns/solid/terms#> .',
      '<> a foaf:PersonalProfileDocument; foaf:primaryTopic <#me> .',
      `<#me> a foaf:Person${issuers === '' ? '' : `; solid:oidcIssuer ${issuers}`} .`,
      '',
    ].join('\n')
    return res.writeHead(200, { 'content-type': 'text/turtle' }).end(body)
  }

  // Codes the authorization endpoint issued and the token endpoint has not redeemed yet.
  const codes = new Map()
  let codeCount = 0

  /**
   * The authorization endpoint: no login page, the user always consents. It answers 302 to the
   * redirect URI with a fresh code, the state and `iss` (RFC 9207), and remembers what the code
   * was issued for so that the token endpoint can check the redemption as a real provider would.
   */
  function authorization(req, res) {
    const query = new URL(req.url, 'http://x').searchParams
    const missing = ['client_id', 'redirect_uri', 'state', 'code_challenge'].filter((name) => !query.get(name))
    if (missing.length > 0 || query.get('response_type') !== 'code' || query.get('code_challenge_method') !== 'S256') {
      return res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad authorization request (missing: ${missing.join(', ') || 'none'})`)
    }
    codeCount += 1
    const code = `SECRET-CODE-${codeCount}-${crypto.randomBytes(8).toString('hex')}`
    codes.set(code, { clientId: query.get('client_id'), redirectUri: query.get('redirect_uri'), challenge: query.get('code_challenge') })
    idp.issued.push(code)
    const back = new URL(query.get('redirect_uri'))
    back.searchParams.set('code', code)
    back.searchParams.set('state', query.get('state'))
    back.searchParams.set('iss', issuer)
    return res.writeHead(302, { location: back.href }).end()
  }

  /**
   * Why an authorization-code grant must be refused (RFC 6749 §4.1.3, RFC 7636 §4.6), or
   * undefined when it is good. A code is used up by its first redemption, good or not.
   */
  function codeRefusal(req, form) {
    const code = form.get('code')
    const issued = codes.get(code)
    codes.delete(code)
    if (issued === undefined) return 'unknown or used code'
    const clientId = basicCredentials(req.headers.authorization)?.clientId ?? form.get('client_id')
    if (clientId !== issued.clientId) return 'the code was issued to another client'
    if (form.get('redirect_uri') !== issued.redirectUri) return 'redirect_uri differs from the authorization request'
    const verifier = form.get('code_verifier') ?? ''
    if (crypto.createHash('sha256').update(verifier).digest('base64url') !== issued.challenge) return 'code_verifier does not match'
    return undefined
  }

  /** The token endpoint, as the current answer says. */
  function token(req, res, body, json) {
    const { kind, options: o } = answer
    const form = new URLSearchParams(body)
    if (form.get('grant_type') === 'refresh_token') idp.spentRefreshTokens.push(form.get('refresh_token'))
    // Only the answers that would issue tokens redeem a code; a fault answers as it always does.
    if (['normal', 'no-access-token', 'token-type'].includes(kind) && form.get('grant_type') === 'authorization_code') {
      const refusal = codeRefusal(req, form)
      if (refusal !== undefined) return json(400, { error: 'invalid_grant', error_description: refusal })
    }
    switch (kind) {
      case 'normal':
        return json(200, idp.tokenResponse(req, new URLSearchParams(body), o))
      case 'status':
        return res
          .writeHead(o.status ?? 500, { 'content-type': 'text/html' })
          .end(`<html><body>Upstream error. debug: client_secret=${GARBAGE_MARK} access_token=${GARBAGE_MARK}</body></html>`)
      case 'garbage':
        return res.writeHead(200, { 'content-type': 'application/json' }).end(`<html>{"access_token":"${GARBAGE_MARK}", oops`)
      case 'half-closed':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' })
        res.write(`{"access_token":"${GARBAGE_MARK}","token_type":"DPoP","refresh_token":"${GARBAGE_MARK}`)
        return setTimeout(() => res.destroy(), 20)
      case 'reset':
        return req.socket.destroy()
      case 'hang':
        hanging.add(res)
        return res.on('close', () => hanging.delete(res))
      case 'stall-body':
        hanging.add(res)
        res.on('close', () => hanging.delete(res))
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' })
        return res.write(`{"access_token":"${GARBAGE_MARK}",`)
      case 'redirect':
        return res.writeHead(302, { location: `https://elsewhere.example/token?leak=${GARBAGE_MARK}` }).end()
      case 'oauth-error':
        return json(o.status ?? 400, { error: o.error ?? 'invalid_grant', ...(o.description === undefined ? {} : { error_description: o.description }) })
      case 'no-access-token': {
        const { access_token: _dropped, ...rest } = idp.tokenResponse(req, new URLSearchParams(body), o)
        return json(200, rest)
      }
      case 'token-type':
        return json(200, { ...idp.tokenResponse(req, new URLSearchParams(body), o), token_type: o.tokenType ?? 'MAC' })
      default:
        throw new Error(`fake IdP: unknown answer ${kind}`)
    }
  }

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${server.address().port}/`
  idp.issuer = issuer
  idp.webIdOf = (name) => `${issuer}${encodeURIComponent(name)}/profile/card#me`
  webId = options.webId ?? idp.webIdOf('alice')
  idp.webId = webId
  profileIssuers = [issuer]
  idp.tokenEndpoint = options.tokenEndpoint ?? `${issuer}token`
  idp.jwksUri = `${issuer}jwks`
  idp.discovery = {
    issuer,
    authorization_endpoint: `${issuer}auth`,
    authorization_response_iss_parameter_supported: true,
    token_endpoint: idp.tokenEndpoint,
    jwks_uri: idp.jwksUri,
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes_supported: ['openid', 'webid', 'offline_access'],
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    dpop_signing_alg_values_supported: ['ES256'],
    claims_supported: ['sub', 'webid', 'iss', 'aud', 'exp', 'iat'],
  }

  /**
   * Makes the JWKS endpoint answer `body` (text as is; anything else serialised here, once, so
   * that serving a large set costs the test's event loop nothing per request); with no argument,
   * the provider's own set again.
   */
  idp.serveKeySet = (body) => {
    keySetBody = body === undefined || typeof body === 'string' ? body : JSON.stringify(body)
  }

  /** Makes its users' profiles name `issuers` from now on. */
  idp.serveProfile = (issuers) => {
    profileIssuers = [...issuers]
  }

  /** Sets how the token endpoint answers from now on. */
  idp.answer = (kind, opts = {}) => {
    answer = { kind, options: opts }
  }

  /**
   * What a browser would do with an authorization URL here: the URL the provider sends the user
   * back to (with a fresh code). Throws when the endpoint refuses the request.
   */
  idp.authorize = async (authorizationUrl) => {
    const response = await fetch(authorizationUrl, { redirect: 'manual' })
    if (response.status !== 302) throw new Error(`fake IdP: the authorization endpoint answered ${response.status}: ${await response.text()}`)
    return response.headers.get('location')
  }

  /** A JWT signed with the provider's key (or `key`/`kid` when given). */
  idp.sign = (claims, { key = signing.privateKey, kid = KID, header } = {}) => signJwt(claims, { privateKey: key, kid, header })

  /** A P-256 key that is not in the JWKS. */
  idp.foreignKey = () => p256().privateKey

  /**
   * A successful token response for the request: an access token for "solid", an ID token for
   * the client (from Basic auth or the form), token_type DPoP when a proof came, and a new
   * refresh token every time, except for the client-credentials grant (unless `o.refreshToken`).
   * `o.accessToken` / `o.idToken` override claims (undefined deletes one); `o.idTokenKey` /
   * `o.idTokenKid` sign the ID token differently (a `null` kid leaves it out of the header);
   * `o.idToken === null` leaves the ID token out; `o.rawIdToken` sends that string as the ID
   * token; `o.tamperIdToken` is given the signed ID token and what it returns is sent instead
   * (both count as issued); `o.response` replaces fields of the response once it is made
   * (undefined deletes one; string values count as issued).
   */
  idp.tokenResponse = (req, form, o = {}) => {
    const now = Math.floor(Date.now() / 1000)
    const clientId = basicCredentials(req.headers.authorization)?.clientId ?? form.get('client_id') ?? 'unknown-client'
    const base = { iss: issuer, sub: webId, webid: webId, iat: now, exp: now + expiresIn }
    const withOverrides = (claims, overrides = {}) => {
      const out = { ...claims, ...overrides }
      for (const [name, value] of Object.entries(overrides)) if (value === undefined) delete out[name]
      return out
    }
    const dpop = req.headers.dpop !== undefined
    const accessToken = idp.sign(
      withOverrides({ ...base, aud: 'solid', client_id: clientId, jti: crypto.randomUUID(), ...(dpop ? { cnf: { jkt: thumbprint(req.headers.dpop) } } : {}) }, o.accessToken),
      { key: o.accessTokenKey, kid: o.accessTokenKid },
    )
    const response = { access_token: accessToken, token_type: dpop ? 'DPoP' : 'Bearer', expires_in: expiresIn, scope: 'openid offline_access webid' }
    // Like CSS, no refresh token for the client-credentials grant (RFC 6749 §4.4.3), unless asked.
    if (form.get('grant_type') !== 'client_credentials' || o.refreshToken) {
      rotation += 1
      response.refresh_token = `SECRET-RT-${rotation}-${crypto.randomBytes(8).toString('hex')}`
    }
    if (o.rawIdToken !== undefined) {
      response.id_token = o.rawIdToken
    } else if (o.idToken !== null) {
      response.id_token = idp.sign(withOverrides({ ...base, aud: clientId, azp: clientId }, o.idToken ?? {}), {
        key: o.idTokenKey,
        kid: o.idTokenKid,
      })
      if (o.tamperIdToken !== undefined) {
        idp.issued.push(response.id_token)
        response.id_token = o.tamperIdToken(response.id_token)
      }
    }
    for (const [name, value] of Object.entries(o.response ?? {})) {
      if (value === undefined) delete response[name]
      else response[name] = value
    }
    idp.issued.push(...[response.access_token, response.refresh_token, response.id_token].filter((t) => typeof t === 'string' && t !== ''))
    idp.lastTokenResponse = response
    return response
  }

  /** The POSTs to the token endpoint, with the form parsed and the Basic credentials decoded. */
  idp.tokenRequests = () =>
    idp.requests
      .filter((r) => r.method === 'POST' && r.path === '/token')
      .map((r) => ({ ...r, form: Object.fromEntries(new URLSearchParams(r.body)), basic: basicCredentials(r.headers.authorization) }))

  idp.close = () =>
    new Promise((resolve) => {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      server.close(() => resolve())
    })

  return idp
}

/** The RFC 7638 thumbprint of the JWK in a DPoP proof's header. */
function thumbprint(proof) {
  try {
    const { jwk } = decodeJwt(proof).header
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
    return crypto.createHash('sha256').update(canonical).digest('base64url')
  } catch {
    return 'not-a-proof'
  }
}

/** A port that nothing listens on (it was free a moment ago). */
/**
 * The record of a DPoP session of `provider` logged in with a static client, as the reference
 * lays it out, with a real key pair and a fresh refresh token (its access token expired, so a
 * restore must refresh): { record, refreshToken, publicJwk, privateJwk }. `overrides` replace
 * fields.
 */
function sessionRecord(provider, { clientId, clientSecret, ...overrides }) {
  const { loggedInRecord } = require('../helpers.js')
  const { publicJwk, privateJwk } = p256()
  const refreshToken = `SECRET-RT-seed-${crypto.randomBytes(6).toString('hex')}`
  const record = loggedInRecord({
    clientId,
    clientSecret,
    clientType: 'static',
    clientName: clientId,
    issuer: provider.issuer,
    refreshToken,
    webId: provider.webId,
    publicKey: JSON.stringify({ ...publicJwk, alg: 'ES256' }),
    privateKey: JSON.stringify(privateJwk),
    ...overrides,
  })
  delete record.redirectUrl
  return { record, refreshToken: record.refreshToken, publicJwk, privateJwk }
}

async function closedPort() {
  const server = http.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

module.exports = { startFakeIdp, signJwt, decodeJwt, verifiesWithOwnJwk, p256, basicCredentials, closedPort, sessionRecord, GARBAGE_MARK }

'use strict'
// session.fetch: a request with the session's credentials, as fetch makes it. The headers come
// from the native side (the tokens and the DPoP key stay there). A DPoP request's redirects are
// followed here, so that each hop gets its own proof; a Bearer request's, by fetch, which drops
// the Authorization header on a redirect to another origin.

const { panicked } = require('./errors.js')

/** Each Bearer credentials' headers (they never change, unlike a DPoP proof); null for DPoP. */
const bearerHeaders = new WeakMap()

/**
 * One request with the session's credentials; a Request input keeps its method, headers, body and
 * signal. From the first redirect to another origin on, the request is a plain one.
 */
async function authenticatedFetch(credentials, input, init) {
  let bearer = bearerHeaders.get(credentials)
  if (bearer === undefined) {
    bearer = credentials.tokenType === 'Bearer' ? headersOf(credentials, 'GET', '') : null
    bearerHeaders.set(credentials, bearer)
  }
  if (bearer !== null) return sendBearer(bearer, input, init)
  dpopInFlight++
  try {
    return await sendDPoP(credentials, input, init)
  } finally {
    dpopInFlight--
  }
}

/** DPoP requests of this thread awaiting their response: from OFF_THREAD_FROM on, proofs are signed off the JS thread. */
let dpopInFlight = 0
/** Measured (bench/README.md): at 1 in flight a thread hop costs more than the signature; at 16 the JS thread is the bottleneck. */
const OFF_THREAD_FROM = 4

async function sendDPoP(credentials, input, init) {
  const request = input instanceof Request ? input : undefined
  const url = request !== undefined ? request.url : typeof input === 'string' ? input : input instanceof URL ? input.href : String(input)
  const method = String(init?.method ?? request?.method ?? 'GET').toUpperCase()
  // Undefined when the caller sent no headers: the credentials go as a plain object, with no Headers copy.
  let headers
  if (request !== undefined || init?.headers !== undefined) {
    headers = new Headers(request?.headers)
    if (init?.headers !== undefined) for (const [name, value] of new Headers(init.headers)) headers.set(name, value)
  }
  const redirect = init?.redirect ?? request?.redirect ?? 'follow'
  const follow = redirect === 'follow'
  // Every hop after the first is sent by URL, so what the Request carried goes with it.
  const options = { ...init, redirect: follow ? 'manual' : redirect }
  const signal = init?.signal !== undefined ? init.signal : request?.signal
  if (signal != null) options.signal = signal
  const body = bodyOf(request, init)
  const response = await sendAuthenticated(credentials, input, options, method, url, headers, body)
  if (!follow || !REDIRECTS.has(response.status) || !response.headers.has('location')) return response
  return followRedirects(credentials, response, { url, method, headers: new Headers(headers), options, body })
}

/** The rest of a request whose first answer was a redirect the caller wants followed. */
async function followRedirects(credentials, response, { url, method, headers, options, body }) {
  const origin = new URL(url).origin
  for (let hop = 1; ; hop++) {
    const location = REDIRECTS.has(response.status) ? response.headers.get('location') : null
    if (location === null) return markRedirected(response)
    if (hop > 20) throw new TypeError('fetch failed: redirect count exceeded')
    await response.body?.cancel()
    let next
    try {
      next = new URL(location, url)
    } catch (error) {
      throw new TypeError('fetch failed', { cause: error })
    }
    // As fetch: a redirect may only lead to http(s); a `data:` or `file:` target is a network error.
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new TypeError('fetch failed', { cause: new Error('URL scheme must be a HTTP(S) scheme') })
    }
    // As the fetch standard has it: 303 (but HEAD), and 301/302 for POST, become a GET without a body.
    if ((response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET'
      for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(name)
      body = NO_BODY
    } else if (!body.replayable) {
      throw new TypeError(`fetch failed: cannot follow a ${response.status} redirect with a body that was a stream`)
    }
    url = next.href
    const hopOptions = { ...options, body: await body.again() }
    if (next.origin !== origin) {
      headers.delete('authorization')
      headers.delete('dpop')
      return markRedirected(await globalThis.fetch(url, { ...hopOptions, method, headers, redirect: 'follow' }))
    }
    response = await sendAuthenticated(credentials, url, hopOptions, method, url, headers, body)
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** A response reached through redirects says so, as fetch's own does. */
function markRedirected(response) {
  try {
    Object.defineProperty(response, 'redirected', { value: true, enumerable: false, configurable: true })
  } catch {
    // A response object that cannot take the property (a stub's frozen one) keeps its own.
  }
  return response
}

/**
 * Sends one hop with fresh credentials, and once more, by URL, with the nonce a resource server
 * asks for. `target` is what the first attempt sends (the caller's Request, on the first hop).
 */
async function sendAuthenticated(credentials, target, options, method, url, headers, body) {
  const send = async (to, init) => {
    const auth = dpopInFlight >= OFF_THREAD_FROM ? await signedOffThread(credentials, method, url) : headersOf(credentials, method, url)
    return sendWith(auth, to, { ...init, method, headers: headers ?? auth.plain ?? new Headers() })
  }
  const response = await send(target, options)
  // A resource server that wants a DPoP nonce (RFC 9449 §9) says so in a 401; it is kept per origin.
  if (response.status !== 401 || credentials.tokenType !== 'DPoP') return response
  const nonce = response.headers.get('dpop-nonce')
  if (nonce === null || !/use_dpop_nonce/.test(response.headers.get('www-authenticate') ?? '')) return response
  credentials.rememberNonce(url, nonce)
  if (!body.replayable) return response
  await response.body?.cancel()
  return send(url, { ...options, body: await body.again() })
}

/** The request with the caller's headers and the Bearer credentials, redirects and all. */
function sendBearer(auth, input, init) {
  const request = input instanceof Request ? input : undefined
  if (request === undefined && init?.headers === undefined && auth.plain !== undefined) return sendWith(auth, input, { ...init, headers: auth.plain })
  const headers = new Headers(request?.headers)
  if (init?.headers !== undefined) for (const [name, value] of new Headers(init.headers)) headers.set(name, value)
  return sendWith(auth, input, { ...init, headers })
}

/** The credentials' headers for one request, as the native side makes them. */
function headersOf(credentials, method, url) {
  let auth
  try {
    auth = credentials.headersFor(method, url)
  } catch (error) {
    throw panicked(error)
  }
  return withPlainHeaders(auth)
}

/** `headersOf`, with the proof signed on libuv's thread pool. */
async function signedOffThread(credentials, method, url) {
  let auth
  try {
    auth = await credentials.headersOffThread(method, url)
  } catch (error) {
    throw panicked(error)
  }
  return withPlainHeaders(auth)
}

/** Only header values may become headers unchecked (`plain`); otherwise see presentCredentials. */
function withPlainHeaders(auth) {
  const { authorization, dpop } = auth
  if (!HEADER_VALUE.test(authorization)) return auth
  if (dpop == null) auth.plain = { authorization }
  else if (HEADER_VALUE.test(dpop)) auth.plain = { authorization, dpop }
  return auth
}

const HEADER_VALUE = /^[\x21-\x7e][\x20-\x7e]*$/

/** Sends `input` with the credentials in `init.headers`; an error that quotes them is replaced. */
async function sendWith(auth, input, init) {
  if (init.headers !== auth.plain) presentCredentials(init.headers, auth)
  try {
    return await globalThis.fetch(input, init)
  } catch (error) {
    throw carriesCredentials(error, auth) ? credentialsNotSent('the request failed with an error that quoted them') : error
  }
}

/**
 * Puts the credentials into `headers`. A token that is not a header value (CR LF in it) makes
 * `Headers` throw an error quoting it; ours does not, and has no `cause`.
 */
function presentCredentials(headers, auth) {
  try {
    headers.set('authorization', auth.authorization)
    if (auth.dpop != null) headers.set('dpop', auth.dpop)
    else headers.delete('dpop')
  } catch {
    throw credentialsNotSent('the access token or its DPoP proof is not a valid HTTP header value')
  }
}

function credentialsNotSent(why) {
  const error = new TypeError(`session.fetch: the session's credentials could not be sent: ${why}`)
  error.code = 'ERR_INVALID_CREDENTIALS_HEADER'
  return error
}

/**
 * Whether an error (message, stack or causes) quotes the credentials, as a fetch interceptor may.
 * A token with control characters may be quoted in pieces: each of 8 characters or more counts.
 */
function carriesCredentials(error, auth) {
  const secrets = [auth.authorization, auth.dpop]
    .filter((value) => typeof value === 'string')
    .flatMap((value) => value.split(/[\s\x00-\x1f\x7f"\\]+/))
    .filter((piece) => piece.length >= 8 && piece !== 'DPoP' && piece !== 'Bearer')
  const seen = new Set()
  let at = error
  for (let depth = 0; at != null && depth < 8 && !seen.has(at); depth++) {
    seen.add(at)
    if (typeof at === 'string') return secrets.some((secret) => at.includes(secret))
    if (typeof at !== 'object' && typeof at !== 'function') return false
    try {
      const texts = [at.message, at.stack].filter((text) => typeof text === 'string')
      if (texts.some((text) => secrets.some((secret) => text.includes(secret)))) return true
      at = at.cause
    } catch {
      // An error whose properties throw when read quotes nothing we can see.
      return false
    }
  }
  return false
}

/** No body: nothing to send again. */
const NO_BODY = Object.freeze({ replayable: true, again: async () => undefined })

/**
 * A request's body, for sending it again on a 307 or 308 as fetch does: one held in memory can
 * be (a Request's is copied before the first hop reads it); a stream cannot, as in fetch.
 */
function bodyOf(request, init) {
  const given = init?.body ?? null
  if (given !== null) {
    const streamed = given instanceof ReadableStream || typeof given[Symbol.asyncIterator] === 'function'
    return streamed ? { replayable: false } : { replayable: true, again: async () => given }
  }
  if (request === undefined || request.body === null || request.bodyUsed) return NO_BODY
  const copy = inMemoryCopy(request)
  if (copy === undefined) return { replayable: false }
  let bytes
  return { replayable: true, again: async () => (bytes ??= await copy.arrayBuffer()) }
}

/**
 * A copy of `request` to read its body from later when that body is held in memory; undefined
 * for a stream. Fetch does not say which, but refuses a `no-cors` Request made from a streamed
 * one before touching the body: that refusal is the test.
 */
function inMemoryCopy(request) {
  const probe = request.clone()
  try {
    return new Request(probe, { mode: 'no-cors', method: 'POST', cache: 'default' })
  } catch {
    probe.body?.cancel().catch(() => {})
    return undefined
  }
}

module.exports = { authenticatedFetch }

'use strict'
// The Session class: the reference's shape, a Node EventEmitter for events, timers, and storage
// work done by the native side.

const { EventEmitter } = require('node:events')
const { randomUUID } = require('node:crypto')
const native = require('../binding.js')
const { ConfigurationError, invalidArgument, notStoredError, panicked } = require('./errors.js')
const { defaultStorage, storageProblem, handleFor, run, checkWellFormed, InMemoryStorage, debug } = require('./storage.js')
const { authenticatedFetch } = require('./fetch.js')

const EVENTS = Object.freeze({
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
})

const stringOrUndefined = (value) => (typeof value === 'string' ? value : undefined)

const NO_REDIRECT_HANDLER = 'A redirection handler must be provided in the Node environment: pass handleRedirect, a function that sends the user to the URL it is given.'

/** The storages a session writes to (`main`) and clears (`extra` too), by the reference's precedence. */
function pickStorages(options) {
  const checked = (value, name) => {
    const problem = storageProblem(value)
    if (problem !== undefined) throw invalidArgument(`The '${name}' option must be an IStorage (an object with get, set and delete methods); ${problem}`)
    handleFor(value)
    return value
  }
  if (options.storage != null) return { main: checked(options.storage, 'storage'), extra: undefined }
  const { secureStorage, insecureStorage } = options
  if (secureStorage == null || insecureStorage == null) return { main: defaultStorage, extra: undefined }
  // The reference writes everything to the insecure storage and only ever clears the secure one.
  const main = checked(insecureStorage, 'insecureStorage')
  const extra = checked(secureStorage, 'secureStorage')
  return { main, extra: extra === main ? undefined : extra }
}

/**
 * The native form of a token set an app holds: its DPoP key exported from the `CryptoKey` to the
 * JWK JSON the reference stores.
 */
async function tokenSetInput(tokens, webId) {
  const { accessToken, idToken, refreshToken, expiresAt, clientId, issuer, dpopKey } = tokens
  const input = { accessToken, idToken, refreshToken, webId: webId ?? '', expiresAt, clientId, issuer }
  if (dpopKey?.privateKey !== undefined) {
    const { kty, crv, x, y, d } = await globalThis.crypto.subtle.exportKey('jwk', dpopKey.privateKey)
    input.privateJwk = JSON.stringify({ kty, crv, x, y, d })
    input.publicJwk = JSON.stringify(dpopKey.publicKey)
  }
  return input
}

/**
 * The reference's SessionTokenSet for native credentials (`expiresAt` in seconds). `dpopKey` is
 * the app's own key pair when it has one (refreshTokens keeps it); otherwise the credentials' key
 * is imported as an extractable WebCrypto key.
 */
async function tokenSetOf(credentials, dpopKey) {
  const parts = credentials.tokenSet()
  const tokens = {
    accessToken: parts.accessToken,
    idToken: parts.idToken ?? undefined,
    refreshToken: parts.refreshToken ?? undefined,
    webId: parts.webId,
    expiresAt: parts.expiresAt ?? undefined,
    dpopKey,
    clientId: parts.clientId,
    issuer: parts.issuer,
  }
  if (dpopKey === undefined && parts.privateJwk != null && parts.publicJwk != null) {
    const privateKey = await globalThis.crypto.subtle.importKey('jwk', JSON.parse(parts.privateJwk), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])
    tokens.dpopKey = { privateKey, publicKey: JSON.parse(parts.publicJwk) }
  }
  return tokens
}

/** Makes a session logged in with what a restore gave (set in Session's static block). */
let useRestored

/** How long before its token expires a session that is not refreshed expires (the reference's 5 s). */
const EXPIRY_MARGIN_MS = 5_000
/** The first and the longest wait before a failed background refresh is tried again. */
const RETRY_FIRST_MS = 1_000
const RETRY_MAX_MS = 60_000
/**
 * A token with less than this to live when its timer is set is not refreshed in the background:
 * the session expires with it. A provider that issues tokens expiring at once (`expires_in: 0`)
 * would otherwise be asked for a new one every second, forever.
 */
const MIN_REFRESHABLE_MS = 2_000

/** The events the background timers emit. */
const TIMER_EVENTS = new Set([EVENTS.SESSION_EXTENDED, EVENTS.SESSION_EXPIRED, EVENTS.ERROR, EVENTS.TIMEOUT_SET])

/**
 * Sessions with a timer pending and someone listening to what it will emit. A timer holds its
 * session only weakly, so that sessions an app drops (one restored per request, say) are
 * collected and stop refreshing; but a session whose events someone awaits must live to emit
 * them, even when the only path to it is through its own listeners.
 */
const awaited = new Set()

/**
 * Clears the timer of a session that was garbage-collected. A timer holds its session weakly, so
 * it would do nothing when it fires; but until then (for an hour-long token, most of an hour) it
 * is a pending timer, and a server that restores a session per request would pile them up.
 */
const abandonedTimers = new FinalizationRegistry((timer) => clearTimeout(timer))

class Session {
  /** @type {import('../index').ISessionInfo} */
  info
  /** @type {EventEmitter} */
  events
  // Arrow-function properties, as in the reference, so that destructured methods keep `this`.
  login = (loginOptions) => this.#login(loginOptions ?? {})
  handleIncomingRedirect = (url, redirectOptions) => this.#handleIncomingRedirect(url, redirectOptions)
  // The global fetch, looked up at call time (so stubs and interceptors see every request), with
  // the authentication headers computed natively.
  fetch = (input, init) => {
    const credentials = this.#credentials
    if (!this.info.isLoggedIn || credentials === undefined) return globalThis.fetch(input, init)
    return authenticatedFetch(credentials, input, init)
  }
  logout = (logoutOptions) => this.#logout(logoutOptions)

  #storages
  #keepAlive
  /** The native credentials of a logged-in session: tokens and DPoP key stay in Rust. */
  #credentials
  /** When the access token of `#credentials` expires (ms since the epoch), if known. */
  #expiresAt
  /** When it is due for renewal (ms since the epoch): the native side's rule. */
  #renewAt
  /** Whether storage holds what it takes to log this session in again (a refresh token, or a client's credentials). */
  #renewable = false
  /** The background refresh or expiry timer. */
  #timer
  /** Whether handleIncomingRedirect is running. */
  #redirecting = false
  /** Background refreshes that failed in a row (for the backoff between retries). */
  #failedRefreshes = 0

  constructor(sessionOptions = {}, sessionId = undefined) {
    const options = sessionOptions ?? {}
    if (typeof options !== 'object') throw invalidArgument('Session options must be an object')
    if (sessionId !== undefined) checkSessionId(sessionId)
    this.#storages = pickStorages(options)
    this.#keepAlive = options.keepAlive ?? true
    const given = options.sessionInfo
    this.info = given
      ? { sessionId: given.sessionId, isLoggedIn: given.isLoggedIn, webId: given.webId, clientAppId: given.clientAppId }
      : { sessionId: sessionId ?? randomUUID(), isLoggedIn: false }
    this.events = new EventEmitter()
    // An `error` with no listener would throw from a timer. Unlike the reference's own listener,
    // this one does not log the session out: a failed refresh must not cost the refresh token.
    this.events.on(EVENTS.ERROR, () => {})
    this.events.on('newListener', (event) => {
      if (TIMER_EVENTS.has(event) && this.#timer !== undefined) awaited.add(this)
    })
  }

  async #login(options) {
    if (typeof options !== 'object') throw invalidArgument('The login options must be an object')
    // Which login the options ask for is decided here; the native side reads and checks the rest
    // of a refresh-token or authorization-code login.
    const { oidcIssuer, clientSecret, redirectUrl, refreshToken, tokenType } = options
    if (typeof oidcIssuer !== 'string' || oidcIssuer === '') {
      // The reference puts the whole options object in this message, secrets included.
      throw new ConfigurationError("OidcLoginHandler requires an OIDC issuer: missing property 'oidcIssuer'")
    }
    if (tokenType !== undefined && tokenType !== 'DPoP' && tokenType !== 'Bearer') throw invalidArgument('tokenType must be "DPoP" or "Bearer"')
    if (refreshToken !== undefined) {
      const restored = await run(native.logInWithRefreshToken, this.#storages.main, this.info.sessionId, options)
      // Events in the reference's order: newRefreshToken, newTokens, timeoutSet, login.
      this.#adopt(restored.credentials, true, restored)
      if (restored.newRefreshToken != null) this.events.emit(EVENTS.NEW_REFRESH_TOKEN, restored.newRefreshToken)
      await this.#announceTokens(restored.credentials)
      this.#schedule()
      this.events.emit(EVENTS.LOGIN)
      return
    }
    if (typeof redirectUrl === 'string') return this.#startAuthorization(options)
    if (typeof clientSecret !== 'string') {
      throw new ConfigurationError('A login needs a redirectUrl (the authorization code flow), a clientSecret (client credentials) or a refreshToken')
    }
    if (typeof options.clientId !== 'string') throw invalidArgument('clientId must be a string')
    const login = { issuer: oidcIssuer, clientId: options.clientId, clientSecret, dpop: tokenType !== 'Bearer' }
    const credentials = await run(native.logInWithClientCredentials, this.#storages.main, this.info.sessionId, login)
    this.#adopt(credentials, true)
    this.#schedule()
    await this.#announceTokens(credentials)
    this.events.emit(EVENTS.LOGIN)
  }

  /** The authorization-code login: stores what the redirect needs and hands the URL over. */
  async #startAuthorization(options) {
    const { redirectUrl, handleRedirect } = options
    const parsed = URL.canParse(redirectUrl) ? new URL(redirectUrl) : undefined
    if (parsed === undefined || parsed.hash !== '' || parsed.searchParams.has('code') || parsed.searchParams.has('state')) {
      throw new Error(`${redirectUrl} is not a valid redirect URL, it is either a malformed IRI, includes a hash fragment, or reserved query parameters ('code' or 'state').`)
    }
    if (typeof handleRedirect !== 'function') throw new Error(NO_REDIRECT_HANDLER)
    const announce = this.events.listenerCount(EVENTS.AUTHORIZATION_REQUEST) > 0
    const request = await run(native.startAuthorization, this.#storages.main, this.info.sessionId, options, this.#keepAlive, announce)
    if (announce) {
      const { codeVerifier, state, issuer, clientId } = request
      this.events.emit(EVENTS.AUTHORIZATION_REQUEST, { codeVerifier, state, issuer, redirectUrl, dpopBound: options.tokenType !== 'Bearer', clientId })
    }
    handleRedirect(request.url)
    // The reference resolves undefined; apps asked for the URL (its issue #2066).
    return request.url
  }

  async #handleIncomingRedirect(url, redirectOptions) {
    if (this.info.isLoggedIn) return this.info
    let parsed
    try {
      parsed = new URL(url)
    } catch (e) {
      throw new Error(`[${native.quote(String(url))}] is not a valid URL, and cannot be used as a redirect URL: ${e}`)
    }
    const params = parsed.searchParams
    if (!params.has('state') || !(params.has('code') || params.has('error'))) {
      // Not a redirect from a login: nothing to finish (the reference also swaps in a new
      // random session ID here; this keeps the session's own).
      return { isLoggedIn: false, sessionId: this.info.sessionId }
    }
    // As the reference: a second call on this session while one runs gets undefined.
    if (this.#redirecting) return undefined
    this.#redirecting = true
    try {
      const requireIssuer = redirectOptions?.requireIssuerParameter === true
      const { sessionId, restored } = await run(native.finishAuthorization, this.#storages.main, parsed.href, requireIssuer)
      this.info.sessionId = sessionId
      this.#keepAlive = restored.keepAlive
      // Events in the reference's order: newRefreshToken, timeoutSet, newTokens, login.
      this.#adopt(restored.credentials, true, restored)
      this.info.clientAppId = restored.clientAppId ?? undefined
      if (restored.newRefreshToken != null) this.events.emit(EVENTS.NEW_REFRESH_TOKEN, restored.newRefreshToken)
      this.#schedule()
      await this.#announceTokens(restored.credentials)
      this.events.emit(EVENTS.LOGIN)
      return { isLoggedIn: true, webId: this.info.webId, sessionId: this.info.sessionId, clientAppId: this.info.clientAppId }
    } finally {
      this.#redirecting = false
    }
  }

  async #logout(logoutOptions) {
    const { main, extra } = this.#storages
    const id = this.info.sessionId
    checkSessionId(id)
    const credentials = this.#credentials
    // Storage first; then the refresh token is revoked at the provider (best effort).
    const idp = logoutOptions?.logoutType === 'idp'
    const idToken = idp ? credentials?.idToken : undefined
    const endSession =
      typeof idToken === 'string'
        ? { idTokenHint: idToken, postLogoutUrl: stringOrUndefined(logoutOptions.postLogoutUrl), state: stringOrUndefined(logoutOptions.state) }
        : undefined
    const outcome = await run(native.logOut, main, id, credentials?.issuer ?? undefined, endSession)
    if (extra !== undefined) await run(native.forgetSession, extra, id)
    if (idp) {
      if (outcome?.endSessionUrl == null) throw new Error('Cannot perform IDP logout. Did you log in using the OIDC authentication flow?')
      if (typeof logoutOptions.handleRedirect !== 'function') throw new Error(NO_REDIRECT_HANDLER)
      logoutOptions.handleRedirect(outcome.endSessionUrl)
    }
    this.info.isLoggedIn = false
    this.#credentials = undefined
    this.#renewable = false
    clearTimeout(this.#timer)
    this.#timer = undefined
    abandonedTimers.unregister(this)
    awaited.delete(this)
    this.events.emit(EVENTS.LOGOUT)
  }

  /**
   * Makes the session logged in with native credentials. `known` holds their webId, expiresAt and
   * renewAt when the caller has them already (a restore's result does), which spares native calls.
   * The caller arms the timer (`#schedule`) where the reference's order of events puts it.
   */
  #adopt(credentials, renewable, known = credentials) {
    const expiresAt = known.expiresAt ?? undefined
    this.#credentials = credentials
    this.#expiresAt = expiresAt
    this.#renewAt = known.renewAt ?? expiresAt
    this.#renewable = renewable
    this.info.isLoggedIn = true
    this.info.webId = known.webId
    this.info.expirationDate = expiresAt
  }

  /**
   * Emits `newTokens` with the reference's SessionTokenSet. The tokens leave Rust only when
   * someone listens.
   */
  async #announceTokens(credentials) {
    if (this.events.listenerCount(EVENTS.NEW_TOKENS) === 0) return
    this.events.emit(EVENTS.NEW_TOKENS, await tokenSetOf(credentials))
  }

  /**
   * Logs the session in with what a restore gave, and tells who asked about the refresh token. A
   * restore without credentials (nothing to log the session in with) changes nothing.
   */
  async #useRestored(restored) {
    if (restored.credentials == null) return
    this.#adopt(restored.credentials, true, restored)
    this.#schedule()
    const token = restored.newRefreshToken
    if (restored.notStored != null) {
      // The refresh worked but its record could not be stored: the session has the only good
      // tokens (the package writes them with the next operation on it). Say so, with the session.
      if (token != null) this.events.emit(EVENTS.NEW_REFRESH_TOKEN, token)
      await this.#announceTokens(restored.credentials)
      throw Object.assign(notStoredError(restored.notStored), { session: this })
    }
    if (debug.enabled) debug('session %s restored: %s', quoteId(this.info.sessionId), token == null ? 'its stored access token is still good' : 'refreshed')
    // Only when this restore refreshed: a stored access token used as is is nothing new.
    if (token != null) {
      this.events.emit(EVENTS.NEW_REFRESH_TOKEN, token)
      await this.#announceTokens(restored.credentials)
    }
  }

  static {
    useRestored = (session, restored) => session.#useRestored(restored)
  }
  /**
   * Arms the timer for the current credentials: a background refresh shortly before they expire
   * when the session is kept alive and can be renewed, else the expiry itself. The timer never
   * keeps the process alive, and holds the session only weakly: a session nobody holds any more
   * is not refreshed.
   */
  #schedule() {
    clearTimeout(this.#timer)
    this.#timer = undefined
    awaited.delete(this)
    const expiresAt = this.#credentials === undefined ? undefined : this.#expiresAt
    if (expiresAt === undefined || expiresAt === null) return
    const left = expiresAt - Date.now()
    const refresh = this.#keepAlive && this.#renewable && left >= MIN_REFRESHABLE_MS
    // When the native side says the token is due (the rule a restore uses too); never a tight
    // loop. Without a refresh, the session expires 5 s before its token does, as in the reference.
    const delay = refresh ? Math.max(1_000, this.#renewAt - Date.now()) : Math.max(0, left - EXPIRY_MARGIN_MS)
    this.#setTimer(delay, refresh ? 'refresh' : 'expire')
  }

  /**
   * Makes the session's timer: in `delay` ms it refreshes (`'refresh'`) or expires (`'expire'`)
   * the session, unless another timer has replaced it meanwhile. It is unref'd and holds the
   * session strongly only as `awaited` describes.
   */
  #setTimer(delay, action) {
    const timer = Session.#startTimer(new WeakRef(this), delay, action)
    timer.unref()
    this.#timer = timer
    abandonedTimers.unregister(this)
    abandonedTimers.register(this, timer, this)
    // Our own `error` listener does not count.
    const listened = [...TIMER_EVENTS].some((e) => this.events.listenerCount(e) > (e === EVENTS.ERROR ? 1 : 0))
    if (listened) awaited.add(this)
    else awaited.delete(this)
    this.events.emit(EVENTS.TIMEOUT_SET, timer)
  }

  /**
   * The timer itself, made where `this` is out of reach: V8 shares one context among the
   * closures of a function, so a callback made beside one that uses `this` would hold the
   * session strongly and it could never be collected.
   */
  static #startTimer(self, delay, action) {
    const timer = setTimeout(() => {
      const session = self.deref()
      if (session === undefined || session.#timer !== timer) return
      if (action === 'refresh') session.#onTimer()
      else session.#expire()
    }, Math.min(Math.max(0, delay), 2 ** 31 - 1))
    return timer
  }

  async #onTimer() {
    const credentials = this.#credentials
    this.#timer = undefined
    awaited.delete(this)
    const id = this.info.sessionId
    if (debug.enabled) debug('session %s: background refresh, the access token expires in %d s', quoteId(id), Math.round(((credentials.expiresAt ?? 0) - Date.now()) / 1000))
    try {
      const storage = this.#storages.main
      // An access token another session or process stored meanwhile is used as is; this
      // session's own (still just over a restore's threshold when the timer fires a little
      // early) is refreshed.
      const restored = await run((handle, parent) => credentials.renew(handle, parent, id), storage)
      if (this.#credentials !== credentials) return // logged out or in again meanwhile
      if (restored?.credentials == null) {
        // Gone from storage (logged out elsewhere), or nothing left to refresh with: this
        // session lasts as long as its token.
        this.#renewable = false
        return this.#schedule()
      }
      this.#failedRefreshes = 0
      this.#adopt(restored.credentials, true, restored)
      this.#schedule()
      const expiresAt = restored.expiresAt
      this.events.emit(EVENTS.SESSION_EXTENDED, expiresAt ? Math.round((expiresAt - Date.now()) / 1000) : 600)
      if (restored.notStored != null) {
        // Refreshed, but not stored: this session holds the only good tokens until a write works.
        const error = notStoredError(restored.notStored)
        this.events.emit(EVENTS.ERROR, error.code, error)
      }
    } catch (error) {
      if (this.#credentials !== credentials) return
      if (debug.enabled) debug('session %s: background refresh failed: %s', quoteId(id), native.quote(String(error?.message)))
      this.events.emit(EVENTS.ERROR, typeof error?.error === 'string' ? error.error : (error?.code ?? 'error'), error)
      // Again after 1 s, 2 s, 4 s … (at most a minute), while the token has time left; then the
      // session expires with it.
      const left = (credentials.expiresAt ?? 0) - Date.now()
      const backoff = Math.min(RETRY_FIRST_MS * 2 ** this.#failedRefreshes++, RETRY_MAX_MS)
      if (left - backoff >= RETRY_FIRST_MS) this.#setTimer(backoff, 'refresh')
      else this.#setTimer(Math.max(0, left - RETRY_FIRST_MS), 'expire')
    }
  }

  #expire() {
    this.#timer = undefined
    awaited.delete(this)
    this.info.isLoggedIn = false
    this.#credentials = undefined
    this.events.emit(EVENTS.SESSION_EXPIRED)
  }

  /**
   * A session from a token set the app kept (a `newTokens` payload). It is logged in when the
   * tokens have not expired and the ID token checks out; it then authenticates with the access
   * token (the reference sends the ID token, which Solid servers such as CSS refuse). Its storage
   * is its own, in memory, and it is not refreshed in the background.
   */
  static async fromTokens(tokens, sessionId) {
    if (tokens === null || typeof tokens !== 'object') throw invalidArgument('Session.fromTokens expects a token set')
    const storage = new InMemoryStorage()
    const session = new Session({ storage, keepAlive: false }, sessionId ?? randomUUID())
    session.info.clientAppId = tokens.clientId
    const expired = typeof tokens.expiresAt === 'number' && tokens.expiresAt * 1000 < Date.now()
    let verifiedWebId
    if (!expired && typeof tokens.idToken === 'string') {
      // As the reference: a token that does not check out makes a logged-out session, not an error.
      verifiedWebId = await run(native.checkIdToken, storage, tokens.issuer, tokens.clientId, tokens.idToken, undefined).then(
        (checked) => checked.webId,
        () => undefined,
      )
    }
    const webId = tokens.webId ?? verifiedWebId
    if (webId !== undefined) session.info.webId = webId
    if (expired || verifiedWebId === undefined || typeof tokens.accessToken !== 'string') return session
    const input = await tokenSetInput(tokens, webId)
    let credentials
    try {
      credentials = native.SessionCredentials.fromTokenSet(input)
    } catch (error) {
      throw panicked(error)
    }
    session.#adopt(credentials, false)
    session.#schedule()
    return session
  }

  /**
   * A session that can finish a login another process started, from the `authorizationRequest`
   * event's payload. As in the reference its storage is its own, in memory (the tokens reach the
   * app through `newTokens`), and it is not refreshed in the background. Beyond the reference, a
   * static client works too; a confidential one adds its `clientSecret` to the state.
   */
  static async fromAuthorizationRequestState(state, sessionId) {
    if (state === null || typeof state !== 'object') throw invalidArgument('Session.fromAuthorizationRequestState expects the state the authorizationRequest event gave')
    if (sessionId !== undefined) checkSessionId(sessionId)
    const storage = new InMemoryStorage()
    const session = new Session({ storage, keepAlive: false }, sessionId ?? randomUUID())
    // The reference's info has these keys, unset, from the session info it builds.
    session.info.webId = undefined
    session.info.clientAppId = undefined
    // The native side checks each field of the state.
    await run(native.resumeAuthorization, storage, session.info.sessionId, state)
    return session
  }
}

/** A session ID as a log line may quote it. */
const quoteId = (id) => native.quote(JSON.stringify(id))

/**
 * `id` when it is a string a Rust string can hold (see `checkWellFormed`), else the TypeError.
 */
function checkSessionId(id) {
  if (typeof id !== 'string') throw invalidArgument(`The session ID must be a string, got ${typeof id}`)
  checkWellFormed(id, 'The session ID')
}

module.exports = { Session, EVENTS, useRestored, checkSessionId, tokenSetInput, tokenSetOf }

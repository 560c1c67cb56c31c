'use strict'
// The Session shell: the reference's shape, its events (an EventEmitter) and its background timer
// (armed here, planned natively); storage and protocol work is the native side's.

const { EventEmitter } = require('node:events')
const { createHash, randomUUID } = require('node:crypto')
const native = require('../binding.js')
const { ConfigurationError, WebIdError, invalidArgument, notStoredError, panicked } = require('./errors.js')
const { defaultStorage, storageProblem, handleFor, checkWellFormed, InMemoryStorage, debug } = require('./storage.js')
const { run } = require('./driver.js')
const { authenticatedFetch } = require('./fetch.js')

// prettier-ignore
const EVENTS = Object.freeze({
  ERROR: 'error', LOGIN: 'login', LOGOUT: 'logout', NEW_REFRESH_TOKEN: 'newRefreshToken', NEW_TOKENS: 'newTokens',
  AUTHORIZATION_REQUEST: 'authorizationRequest', SESSION_EXPIRED: 'sessionExpired', SESSION_EXTENDED: 'sessionExtended',
  SESSION_RESTORED: 'sessionRestore', TIMEOUT_SET: 'timeoutSet',
})

const NO_REDIRECT_HANDLER = 'A redirection handler must be provided in the Node environment: pass handleRedirect, a function that sends the user to the URL it is given.'

/** The storages a session writes to (`main`) and clears (`extra` too), by the reference's precedence. */
function pickStorages({ storage, secureStorage, insecureStorage }) {
  const checked = (value, name) => {
    const problem = storageProblem(value)
    if (problem !== undefined) throw invalidArgument(`The '${name}' option must be an IStorage (an object with get, set and delete methods); ${problem}`)
    handleFor(value)
    return value
  }
  if (storage != null) return { main: checked(storage, 'storage') }
  if (secureStorage == null || insecureStorage == null) return { main: defaultStorage }
  // The reference writes everything to the insecure storage and only ever clears the secure one.
  const main = checked(insecureStorage, 'insecureStorage')
  const extra = checked(secureStorage, 'secureStorage')
  return { main, extra: extra === main ? undefined : extra }
}

/** The native form of an app's token set: its DPoP `CryptoKey` exported to the JWK JSON the reference stores. */
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

/** The reference's SessionTokenSet (`expiresAt` in seconds); the app's own `dpopKey` if given, else the credentials' key imported. */
async function tokenSetOf(credentials, dpopKey) {
  const { accessToken, idToken, refreshToken, webId, expiresAt, clientId, issuer, ...parts } = credentials.tokenSet()
  const tokens = { accessToken, idToken: idToken ?? undefined, refreshToken: refreshToken ?? undefined, webId, expiresAt: expiresAt ?? undefined, dpopKey, clientId, issuer }
  if (dpopKey === undefined && parts.privateJwk != null && parts.publicJwk != null) {
    const privateKey = await globalThis.crypto.subtle.importKey('jwk', JSON.parse(parts.privateJwk), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])
    tokens.dpopKey = { privateKey, publicKey: JSON.parse(parts.publicJwk) }
  }
  return tokens
}

/** Makes a session logged in with what a restore gave, and tells its WebID check (set in Session's static block). */
let useRestored, verifiesWebId

const TIMER_EVENTS = new Set([EVENTS.SESSION_EXTENDED, EVENTS.SESSION_EXPIRED, EVENTS.ERROR, EVENTS.TIMEOUT_SET])

/**
 * Sessions with a timer pending and a listener for what it will emit. A timer holds its session weakly, so that dropped
 * sessions are collected and stop refreshing; one whose events someone awaits must live to emit them.
 */
const awaited = new Set()

/** Clears a collected session's timer, which would otherwise stay pending (for up to an hour) and pile up. */
const abandonedTimers = new FinalizationRegistry((timer) => clearTimeout(timer))

class Session {
  /** @type {import('../index').ISessionInfo} */ info
  /** @type {EventEmitter} */ events
  // Arrow-function properties, as in the reference, so that destructured methods keep `this`.
  login = (loginOptions) => this.#login(loginOptions ?? {})
  handleIncomingRedirect = (url, redirectOptions) => this.#handleIncomingRedirect(url, redirectOptions)
  // The global fetch, looked up at call time so that stubs and interceptors see every request.
  fetch = (input, init) => (this.info.isLoggedIn && this.#credentials !== undefined ? authenticatedFetch(this.#credentials, input, init) : globalThis.fetch(input, init))
  logout = (logoutOptions) => this.#logout(logoutOptions)

  #storages
  #keepAlive
  /** Whether a login checks that its WebID's profile names the provider (the option `verifyWebIdIssuer`). */
  #verifyWebId
  /** Native credentials: the tokens and DPoP key stay in Rust. */
  #credentials
  /** Whether storage can log this session in again (a refresh token, or a client's credentials). */
  #renewable = false
  #timer
  /** Whether the timer's session is in `abandonedTimers` (and maybe `awaited`). */
  #registered = false
  #redirecting = false
  /** Background refreshes that failed in a row (the native plan backs off). */
  #failedRefreshes = 0

  constructor(sessionOptions = {}, sessionId = undefined) {
    const options = sessionOptions ?? {}
    if (typeof options !== 'object') throw invalidArgument('Session options must be an object')
    if (sessionId !== undefined) checkSessionId(sessionId)
    this.#storages = pickStorages(options)
    this.#keepAlive = options.keepAlive ?? true
    const verify = options.verifyWebIdIssuer
    if (verify !== undefined && typeof verify !== 'boolean') throw invalidArgument('verifyWebIdIssuer must be a boolean')
    this.#verifyWebId = verify !== false
    const given = options.sessionInfo
    this.info = given
      ? { sessionId: given.sessionId, isLoggedIn: given.isLoggedIn, webId: given.webId, clientAppId: given.clientAppId }
      : { sessionId: sessionId ?? randomUUID(), isLoggedIn: false }
    this.events = new EventEmitter()
    // An `error` with no listener would throw from a timer. Unlike the reference's own listener,
    // this one does not log the session out: a failed refresh must not cost the refresh token.
    this.events.on(EVENTS.ERROR, () => {})
    this.events.on('newListener', (event) => TIMER_EVENTS.has(event) && this.#timer !== undefined && awaited.add(this))
  }

  async #login(options) {
    if (typeof options !== 'object') throw invalidArgument('The login options must be an object')
    // Which login the options ask for is decided here; the native side reads and checks the rest.
    const { oidcIssuer, clientSecret, redirectUrl, refreshToken, tokenType, webId } = options
    // A login by WebID finds its provider in the profile (an interactive login only).
    const byWebId = typeof webId === 'string' && webId !== '' && typeof redirectUrl === 'string' && refreshToken === undefined
    // The reference puts the whole options object in this message, secrets included.
    if (!byWebId && (typeof oidcIssuer !== 'string' || oidcIssuer === '')) throw new ConfigurationError("OidcLoginHandler requires an OIDC issuer: missing property 'oidcIssuer'")
    options = { ...options, verifyWebIdIssuer: this.#verifyWebId && options.verifyWebIdIssuer !== false }
    if (tokenType !== undefined && tokenType !== 'DPoP' && tokenType !== 'Bearer') throw invalidArgument('tokenType must be "DPoP" or "Bearer"')
    if (refreshToken !== undefined) {
      const restored = await run(native.logInWithRefreshToken, this.#storages.main, this.info.sessionId, options)
      await this.#adopt(restored.credentials, restored, ['newRefreshToken', 'newTokens', 'timer'])
      return void this.events.emit(EVENTS.LOGIN)
    }
    if (typeof redirectUrl === 'string') return this.#startAuthorization(options)
    if (typeof clientSecret !== 'string') throw new ConfigurationError('A login needs a redirectUrl (the authorization code flow), a clientSecret (client credentials) or a refreshToken')
    if (typeof options.clientId !== 'string') throw invalidArgument('clientId must be a string')
    const login = { issuer: oidcIssuer, clientId: options.clientId, clientSecret, dpop: tokenType !== 'Bearer', verifyWebIdIssuer: options.verifyWebIdIssuer }
    const credentials = await run(native.logInWithClientCredentials, this.#storages.main, this.info.sessionId, login)
    await this.#adopt(credentials, credentials, ['timer', 'newTokens'])
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
    const { codeVerifier, state, issuer, clientId, url } = request
    if (announce) this.events.emit(EVENTS.AUTHORIZATION_REQUEST, { codeVerifier, state, issuer, redirectUrl, dpopBound: options.tokenType !== 'Bearer', clientId })
    handleRedirect(url)
    return url // the reference resolves undefined; apps asked for the URL (its issue #2066)
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
    // Not a login's redirect (the reference also swaps in a new random session ID here).
    if (!params.has('state') || !(params.has('code') || params.has('error'))) return { isLoggedIn: false, sessionId: this.info.sessionId }
    // As the reference: a second call on this session while one runs gets undefined.
    if (this.#redirecting) return undefined
    this.#redirecting = true
    try {
      const requireIssuer = redirectOptions?.requireIssuerParameter === true
      const { sessionId, restored } = await run(native.finishAuthorization, this.#storages.main, parsed.href, requireIssuer, this.#verifyWebId)
      this.info.sessionId = sessionId
      this.#keepAlive = restored.keepAlive
      this.info.clientAppId = restored.clientAppId ?? undefined
      await this.#adopt(restored.credentials, restored, ['newRefreshToken', 'timer', 'newTokens'])
      this.events.emit(EVENTS.LOGIN)
      return { isLoggedIn: true, webId: this.info.webId, sessionId: this.info.sessionId, clientAppId: this.info.clientAppId }
    } finally {
      this.#redirecting = false
    }
  }

  async #logout(options) {
    const { main, extra } = this.#storages
    const id = this.info.sessionId
    checkSessionId(id)
    const credentials = this.#credentials
    const idp = options?.logoutType === 'idp'
    const idToken = idp ? credentials?.idToken : undefined
    const text = (value) => (typeof value === 'string' ? value : undefined)
    const endSession = typeof idToken === 'string' ? { idTokenHint: idToken, postLogoutUrl: text(options.postLogoutUrl), state: text(options.state) } : undefined
    // Storage first; then the refresh token is revoked at the provider (best effort).
    const outcome = await run(native.logOut, main, id, credentials?.issuer ?? undefined, endSession)
    if (extra !== undefined) await run(native.forgetSession, extra, id)
    if (idp) {
      if (outcome?.endSessionUrl == null) throw new Error('Cannot perform IDP logout. Did you log in using the OIDC authentication flow?')
      if (typeof options.handleRedirect !== 'function') throw new Error(NO_REDIRECT_HANDLER)
      options.handleRedirect(outcome.endSessionUrl)
    }
    this.info.isLoggedIn = false
    this.#credentials = undefined
    this.#renewable = false
    this.#schedule()
    this.events.emit(EVENTS.LOGOUT)
  }

  /**
   * Makes the session logged in, then arms the timer and emits what came with `known` (the login's
   * or restore's result, or the credentials themselves) in the reference's order for the flow.
   */
  async #adopt(credentials, known, steps, renewable = true) {
    this.#credentials = credentials
    this.#renewable = renewable
    // New credentials start a new count: a re-login does not back off for its predecessor's failures.
    this.#failedRefreshes = 0
    this.info.isLoggedIn = true
    this.info.webId = known.webId
    this.info.expirationDate = known.expiresAt ?? undefined
    // Planned by a restore, for its record's keepAlive; asked for again once an await made it stale.
    let planned = known.keepAlive === this.#keepAlive ? known.timer : undefined
    for (const step of steps) {
      if (step === 'timer') this.#schedule(planned)
      else if (step === 'newRefreshToken') {
        if (known.newRefreshToken != null) this.events.emit(EVENTS.NEW_REFRESH_TOKEN, known.newRefreshToken)
      } else if (this.events.listenerCount(EVENTS.NEW_TOKENS) > 0) {
        // The tokens leave Rust only when someone listens.
        planned = undefined
        this.events.emit(EVENTS.NEW_TOKENS, await tokenSetOf(credentials))
      }
    }
  }

  /** Logs the session in with what a restore gave, if it gave credentials. */
  async #useRestored(restored) {
    if (restored.credentials == null) return
    const { notStored, newRefreshToken } = restored
    if (debug.enabled && notStored == null) debug('session %s restored: %s', sessionTag(this.info.sessionId), newRefreshToken == null ? 'its stored access token is still good' : 'refreshed')
    // A stored access token used as is brings nothing new.
    await this.#adopt(restored.credentials, restored, newRefreshToken != null || notStored != null ? ['timer', 'newRefreshToken', 'newTokens'] : ['timer'])
    // Refreshed but not stored: this session holds the only good tokens (the next operation on it writes them).
    if (notStored != null) throw Object.assign(notStoredError(notStored), { session: this })
  }

  static {
    useRestored = (session, restored) => session.#useRestored(restored)
    verifiesWebId = (session) => session.#verifyWebId
  }

  /** Arms the timer the native side plans (`plan`, when the caller has it), or none; it never keeps the process alive. */
  #schedule(plan = this.#credentials?.timerPlan(this.#keepAlive, this.#renewable, 0)) {
    clearTimeout(this.#timer)
    this.#timer = undefined
    // A new session (every restore's) has nothing to undo here: each is a runtime call or more.
    if (this.#registered) {
      awaited.delete(this)
      abandonedTimers.unregister(this)
      this.#registered = false
    }
    if (this.#credentials === undefined || plan == null) return
    const timer = Session.#startTimer(new WeakRef(this), plan.delayMs, plan.refresh)
    timer.unref()
    this.#timer = timer
    abandonedTimers.register(this, timer, this)
    this.#registered = true
    // Our own `error` listener does not count.
    let listened = false
    for (const event of TIMER_EVENTS) listened ||= this.events.listenerCount(event) > (event === EVENTS.ERROR ? 1 : 0)
    if (listened) awaited.add(this)
    this.events.emit(EVENTS.TIMEOUT_SET, timer)
  }

  /**
   * The timer itself, made where `this` is out of reach: V8 shares one context among the
   * closures of a function, so a callback made beside one that uses `this` would hold the
   * session strongly and it could never be collected.
   */
  static #startTimer(self, delay, refresh) {
    const timer = setTimeout(() => {
      const session = self.deref()
      if (session === undefined || session.#timer !== timer) return
      if (refresh) session.#onTimer()
      else session.#expire()
    }, Math.min(Math.max(0, delay), 2 ** 31 - 1))
    return timer
  }

  async #onTimer() {
    const credentials = this.#credentials
    this.#timer = undefined
    awaited.delete(this)
    const id = this.info.sessionId
    if (debug.enabled) debug('session %s: background refresh, the access token expires in %d s', sessionTag(id), Math.round(((credentials.expiresAt ?? 0) - Date.now()) / 1000))
    try {
      // Takes an access token stored meanwhile by another session or process, else refreshes.
      const restored = await run((handle, parent) => credentials.renew(handle, parent, id, this.#verifyWebId), this.#storages.main)
      if (this.#credentials !== credentials) return // logged out or in again meanwhile
      if (restored?.credentials == null) {
        // Gone from storage, or nothing left to refresh with: the session lasts as long as its token.
        this.#renewable = false
        return this.#schedule()
      }
      await this.#adopt(restored.credentials, restored, ['timer'])
      const expiresAt = restored.expiresAt
      this.events.emit(EVENTS.SESSION_EXTENDED, expiresAt ? Math.round((expiresAt - Date.now()) / 1000) : 600)
      const notStored = restored.notStored == null ? undefined : notStoredError(restored.notStored)
      if (notStored !== undefined) this.events.emit(EVENTS.ERROR, notStored.code, notStored)
    } catch (error) {
      if (this.#credentials !== credentials) return
      if (debug.enabled) debug('session %s: background refresh failed: %s', sessionTag(id), native.quote(String(error?.message)))
      this.events.emit(EVENTS.ERROR, typeof error?.error === 'string' ? error.error : (error?.code ?? 'error'), error)
      this.#schedule(credentials.timerPlan(this.#keepAlive, this.#renewable, ++this.#failedRefreshes))
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
   * A session from a kept token set (a `newTokens` payload), logged in if unexpired and its ID token checks out. It sends
   * the access token (the reference sends the ID token, which CSS refuses); its storage is its own, in memory; no refresh.
   */
  static async fromTokens(tokens, sessionId) {
    if (tokens === null || typeof tokens !== 'object') throw invalidArgument('Session.fromTokens expects a token set')
    const storage = new InMemoryStorage()
    const session = new Session({ storage, keepAlive: false }, sessionId ?? randomUUID())
    session.info.clientAppId = tokens.clientId
    const expired = typeof tokens.expiresAt === 'number' && tokens.expiresAt * 1000 < Date.now()
    // As the reference: a token that does not check out makes a logged-out session, not an error.
    const checking = !expired && typeof tokens.idToken === 'string' ? run(native.checkIdToken, storage, tokens.issuer, tokens.clientId, tokens.idToken, undefined, true) : undefined
    // But a WebID whose profile does not name the provider is refused, as at every login.
    const verifiedWebId = await checking?.then(
      (checked) => checked.webId,
      (error) => {
        if (error instanceof WebIdError) throw error
      },
    )
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
    await session.#adopt(credentials, credentials, ['timer'], false)
    return session
  }

  /**
   * A session that can finish a login another process started (the `authorizationRequest` payload; a confidential static
   * client adds its `clientSecret`). As in the reference its storage is its own, in memory; no refresh.
   */
  static async fromAuthorizationRequestState(state, sessionId) {
    if (state === null || typeof state !== 'object') throw invalidArgument('Session.fromAuthorizationRequestState expects the state the authorizationRequest event gave')
    if (sessionId !== undefined) checkSessionId(sessionId)
    const session = new Session({ storage: new InMemoryStorage(), keepAlive: false }, sessionId ?? randomUUID())
    // The reference's info has these keys, unset, from the session info it builds.
    Object.assign(session.info, { webId: undefined, clientAppId: undefined })
    // The native side checks each field of the state.
    await run(native.resumeAuthorization, session.#storages.main, session.info.sessionId, state)
    return session
  }
}

/**
 * A session in a log line: a digest of its ID, never the ID, which is often the cookie that holds
 * the session (the README's own flow); the same ID gives the same tag, so lines can be matched.
 */
const sessionTag = (id) => `#${createHash('sha256').update(id).digest('base64url').slice(0, 10)}`

/** Throws the TypeError unless `id` is a string a Rust string can hold (see `checkWellFormed`). */
function checkSessionId(id) {
  if (typeof id !== 'string') throw invalidArgument(`The session ID must be a string, got ${typeof id}`)
  checkWellFormed(id, 'The session ID')
}

module.exports = { Session, EVENTS, useRestored, verifiesWebId, checkSessionId, tokenSetInput, tokenSetOf }

'use strict'
// The Session class: the reference's shape, a Node EventEmitter for events, and storage work done
// by the native side.

const { EventEmitter } = require('node:events')
const { randomUUID } = require('node:crypto')
const native = require('../binding.js')
const { NotImplementedError, invalidArgument } = require('./errors.js')
const { defaultStorage, isStorage, handleFor, run, checkWellFormed } = require('./storage.js')

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

const IDP_LOGOUT_UNAVAILABLE = 'Cannot perform IDP logout. Did you log in using the OIDC authentication flow?'

/** The storages a session writes to and clears, by the reference's precedence. */
function pickStorages(options) {
  const checked = (value, name) => {
    if (!isStorage(value)) throw invalidArgument(`The '${name}' option must be an IStorage (an object with get, set and delete methods)`)
    handleFor(value)
    return value
  }
  if (options.storage !== undefined && options.storage !== null) {
    const storage = checked(options.storage, 'storage')
    return { main: storage, extra: undefined }
  }
  const { secureStorage, insecureStorage } = options
  if (secureStorage != null && insecureStorage != null) {
    // The reference writes everything to the insecure storage and only ever clears the secure one.
    const main = checked(insecureStorage, 'insecureStorage')
    const extra = checked(secureStorage, 'secureStorage')
    return { main, extra: extra === main ? undefined : extra }
  }
  return { main: defaultStorage, extra: undefined }
}

class Session {
  /** @type {import('../index').ISessionInfo} */
  info
  /** @type {EventEmitter} */
  events
  #storages
  #keepAlive

  constructor(sessionOptions = {}, sessionId = undefined) {
    const options = sessionOptions ?? {}
    if (typeof options !== 'object') throw invalidArgument('Session options must be an object')
    if (sessionId !== undefined && typeof sessionId !== 'string') throw invalidArgument('The session ID must be a string')
    if (sessionId !== undefined) checkWellFormed(sessionId, 'The session ID')
    this.#storages = pickStorages(options)
    this.#keepAlive = options.keepAlive ?? true
    const given = options.sessionInfo
    this.info = given
      ? { sessionId: given.sessionId, isLoggedIn: given.isLoggedIn, webId: given.webId, clientAppId: given.clientAppId }
      : { sessionId: sessionId ?? randomUUID(), isLoggedIn: false }
    this.events = new EventEmitter()

    // Arrow-function properties, as in the reference, so that destructured methods keep `this`.
    this.login = async (loginOptions) => {
      throw new NotImplementedError('Session.login')
    }
    this.handleIncomingRedirect = async (url) => {
      if (this.info.isLoggedIn) return this.info
      throw new NotImplementedError('Session.handleIncomingRedirect')
    }
    this.fetch = (url, init) => globalThis.fetch(url, init)
    this.logout = async (logoutOptions) => {
      const { main, extra } = this.#storages
      const id = this.info.sessionId
      if (typeof id !== 'string') throw invalidArgument('The session ID must be a string')
      checkWellFormed(id, 'The session ID')
      await run(native.forgetSession, main, id)
      if (extra !== undefined) await run(native.forgetSession, extra, id)
      if (logoutOptions?.logoutType === 'idp') throw new Error(IDP_LOGOUT_UNAVAILABLE)
      this.info.isLoggedIn = false
      this.events.emit(EVENTS.LOGOUT)
    }
  }

  static async fromTokens(tokens, sessionId) {
    throw new NotImplementedError('Session.fromTokens')
  }

  static async fromAuthorizationRequestState(state, sessionId) {
    throw new NotImplementedError('Session.fromAuthorizationRequestState')
  }
}

module.exports = { Session, EVENTS }

'use strict'
// getSessionFromStorage and the other storage-wide functions. They read and write through the
// native side; this file only sorts out arguments and builds Session objects.

const native = require('../binding.js')
const { invalidArgument, notStoredError, quote } = require('./errors.js')
const { isStorage, handleFor, run, runOn, defaultStorage, checkWellFormed, InMemoryStorage } = require('./storage.js')
const { Session, EVENTS, adopt, announceTokens, tokenSetInput, tokenSetOf } = require('./session.js')
const { randomUUID } = require('node:crypto')
const { restoreOnce } = require('./restore.js')
const { debug } = require('./debug.js')

/**
 * Makes `session` logged in with what a restore gave, and tells who asked about the refresh
 * token. A restore without credentials (nothing to log the session in with) changes nothing.
 */
async function useRestored(session, restored) {
  if (restored.credentials == null) return
  adopt(session, restored.credentials, true, true, restored)
  if (restored.notStored != null) {
    // The refresh worked but its record could not be stored: the session has the only good
    // tokens (the package writes them with the next operation on it). Say so, with the session.
    const token = restored.newRefreshToken
    if (token !== null && token !== undefined) session.events.emit(EVENTS.NEW_REFRESH_TOKEN, token)
    await announceTokens(session, restored.credentials)
    const error = notStoredError(restored.notStored)
    error.session = session
    throw error
  }
  if (debug.enabled) {
    debug('session %s restored: %s', quote(JSON.stringify(session.info.sessionId)), restored.newRefreshToken == null ? 'its stored access token is still good' : 'refreshed')
  }
  const token = restored.newRefreshToken
  // Only when this restore refreshed: a stored access token used as is is nothing new.
  if (token !== null && token !== undefined) {
    session.events.emit(EVENTS.NEW_REFRESH_TOKEN, token)
    await announceTokens(session, restored.credentials)
  }
}

/**
 * Sorts out both call forms: (sessionId, storage?, onNewRefreshToken?, refresh?) from the original
 * API, and (sessionId, { storage?, onNewRefreshToken?, refreshSession? }). Anything with get, set
 * and delete functions is a storage.
 */
function readArguments(second, third, fourth) {
  let storage
  let onNewRefreshToken
  let refresh
  if (second === undefined || second === null || isStorage(second)) {
    storage = second ?? undefined
    onNewRefreshToken = third
    refresh = fourth
  } else if (typeof second === 'object') {
    storage = second.storage ?? undefined
    onNewRefreshToken = second.onNewRefreshToken
    refresh = second.refreshSession ?? second.refresh
    if (storage !== undefined && !isStorage(storage)) {
      throw invalidArgument("The 'storage' option must be an IStorage (an object with get, set and delete methods)")
    }
  } else {
    throw invalidArgument(`The second argument of getSessionFromStorage must be an IStorage or an options object, got ${typeof second}`)
  }
  if (onNewRefreshToken != null && typeof onNewRefreshToken !== 'function') {
    throw invalidArgument('onNewRefreshToken must be a function')
  }
  if (refresh != null && typeof refresh !== 'boolean') {
    throw invalidArgument('refreshSession must be a boolean')
  }
  return { storage, onNewRefreshToken: onNewRefreshToken ?? undefined, refresh: refresh ?? true }
}

function checkSessionId(sessionId) {
  if (typeof sessionId !== 'string') throw invalidArgument(`The session ID must be a string, got ${typeof sessionId}`)
  checkWellFormed(sessionId, 'The session ID')
}

async function getSessionFromStorage(sessionId, storageOrOptions, onNewRefreshToken, refresh) {
  checkSessionId(sessionId)
  const args = readArguments(storageOrOptions, onNewRefreshToken, refresh)
  const handle = handleFor(args.storage)
  // With refreshing (the default), the restore reads the record and logs the session in in one
  // go; without, the record is only read.
  const stored = args.refresh
    ? await restoreOnce(handle, args.storage, sessionId, false)
    : await runOn(handle, args.storage, native.loadSession, sessionId)
  if (stored === undefined || stored === null) return undefined
  const session = new Session({
    storage: args.storage ?? defaultStorage,
    sessionInfo: { sessionId, isLoggedIn: false, webId: stored.webId ?? undefined, clientAppId: stored.clientAppId ?? undefined },
    keepAlive: stored.keepAlive,
  })
  if (args.onNewRefreshToken !== undefined) session.events.on(EVENTS.NEW_REFRESH_TOKEN, args.onNewRefreshToken)
  if (args.refresh) await useRestored(session, stored)
  return session
}

// Per store, the last list array built and its generation. The native side checks the stored
// text and only sends it when it changed; V8's JSON.parse builds arrays faster than napi can.
const listCache = new WeakMap()

async function getSessionIdFromStorageAll(storage) {
  const handle = handleFor(storage ?? undefined)
  const cached = listCache.get(handle)
  const answer = await runOn(handle, storage ?? undefined, native.listSessionIds, cached?.generation)
  if (answer === true) return cached.ids.slice()
  const ids = JSON.parse(answer.json)
  listCache.set(handle, { generation: answer.generation, ids })
  return ids.slice()
}

async function clearSessionFromStorageAll(storage) {
  await run(native.clearAllSessions, storage ?? undefined)
}

async function refreshSession(session, options) {
  if (!(session instanceof Session)) throw invalidArgument('refreshSession expects a Session')
  const storage = options?.storage ?? undefined
  const restored = await restoreOnce(handleFor(storage), storage, session.info.sessionId, true)
  if (restored !== null && restored !== undefined) await useRestored(session, restored)
}

/**
 * Refreshes a token set the app kept, with its refresh token and the same DPoP key, and resolves
 * the new set. A public client's (a Solid-OIDC Client ID document's): the set has no secret.
 */
async function refreshTokens(tokenSet) {
  if (tokenSet === null || typeof tokenSet !== 'object') throw invalidArgument('refreshTokens expects a token set')
  if (typeof tokenSet.refreshToken !== 'string') throw new Error('Could not refresh the session.')
  const input = await tokenSetInput(tokenSet, tokenSet.webId)
  const restored = await run(native.logInWithRefreshToken, new InMemoryStorage(), randomUUID(), {
    issuer: tokenSet.issuer,
    clientId: tokenSet.clientId,
    refreshToken: tokenSet.refreshToken,
    dpop: tokenSet.dpopKey !== undefined,
    publicJwk: input.publicJwk,
    privateJwk: input.privateJwk,
  })
  // Its refresh token is the one the provider sent, or the same one when it does not rotate (the
  // reference then gives undefined, and the next refresh fails); its key is the app's own.
  return tokenSetOf(restored.credentials, tokenSet.dpopKey)
}

/** Logs the token set's user out of the identity provider: the end-session URL goes to `redirectHandler`. */
async function logout(tokenSet, redirectHandler, postLogoutUrl) {
  if (typeof tokenSet?.idToken !== 'string') throw new Error('Logging out of the Identity Provider requires a valid ID token.')
  if (typeof redirectHandler !== 'function') throw invalidArgument('logout needs a redirect handler')
  const checked = await run(native.checkIdToken, undefined, tokenSet.issuer, tokenSet.clientId, tokenSet.idToken, postLogoutUrl ? String(postLogoutUrl) : undefined)
  if (checked.endSessionUrl == null) throw new Error('The Identity Provider does not support RP-initiated logout.')
  redirectHandler(checked.endSessionUrl)
}

module.exports = {
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
  refreshSession,
  refreshTokens,
  logout,
}

'use strict'
// getSessionFromStorage and the other storage-wide functions: arguments sorted out and Session
// objects built here; reads, writes and restores are the native side's.

const native = require('../binding.js')
const { invalidArgument } = require('./errors.js')
const { isStorage, storageProblem, handleFor, defaultStorage, InMemoryStorage } = require('./storage.js')
const { run, runOn, runThen } = require('./driver.js')
const { Session, EVENTS, useRestored, verifiesWebId, checkSessionId, tokenSetInput, tokenSetOf } = require('./session.js')
const { randomUUID } = require('node:crypto')

/**
 * Sorts out both call forms: (sessionId, storage?, onNewRefreshToken?, refresh?) from the original API, and (sessionId,
 * { storage?, onNewRefreshToken?, refreshSession? }). Anything with get, set and delete functions is a storage.
 */
function readArguments(second, third, fourth) {
  const positional = second == null || isStorage(second)
  if (!positional && typeof second !== 'object') throw invalidArgument(`The second argument of getSessionFromStorage must be an IStorage or an options object, got ${typeof second}`)
  const options = positional ? { storage: second, onNewRefreshToken: third, refreshSession: fourth } : second
  const storage = options.storage ?? undefined
  const { onNewRefreshToken } = options
  const refresh = options.refreshSession ?? options.refresh
  const problem = !positional && storage !== undefined ? storageProblem(storage) : undefined
  if (problem !== undefined) throw invalidArgument(`The 'storage' option must be an IStorage (an object with get, set and delete methods); ${problem}`)
  if (onNewRefreshToken != null && typeof onNewRefreshToken !== 'function') throw invalidArgument('onNewRefreshToken must be a function')
  if (refresh != null && typeof refresh !== 'boolean') throw invalidArgument('refreshSession must be a boolean')
  const verify = options.verifyWebIdIssuer
  if (verify !== undefined && typeof verify !== 'boolean') throw invalidArgument('verifyWebIdIssuer must be a boolean')
  return { storage, onNewRefreshToken: onNewRefreshToken ?? undefined, refresh: refresh ?? true, verifyWebIdIssuer: verify }
}

function getSessionFromStorage(sessionId, storageOrOptions, onNewRefreshToken, refresh) {
  // An anonymous visitor's `req.session.sessionId`: no session, as the reference answers.
  if (sessionId === undefined || sessionId === null) return Promise.resolve(undefined)
  let options
  try {
    checkSessionId(sessionId)
    options = readArguments(storageOrOptions, onNewRefreshToken, refresh)
  } catch (error) {
    return Promise.reject(error)
  }
  const { storage, refresh: refreshing, onNewRefreshToken: listener, verifyWebIdIssuer } = options
  // A restore reads the record and logs the session in, in one go (joining one under way).
  if (refreshing) return restored(sessionId, storage, listener, verifyWebIdIssuer)
  // Without refreshing, a read, whose [webId, clientAppId, keepAlive] (an array costs the native
  // side less to make) becomes the Session as the read ends, with no await between them.
  return runThen((stored) => (stored == null ? undefined : sessionOf(sessionId, storage, stored[0], stored[1], stored[2], listener, verifyWebIdIssuer)), native.loadSession, storage, sessionId)
}

/** A Session, not logged in, for what was read of its record. */
function sessionOf(sessionId, storage, webId, clientAppId, keepAlive, listener, verifyWebIdIssuer) {
  const sessionInfo = { sessionId, isLoggedIn: false, webId: webId ?? undefined, clientAppId: clientAppId ?? undefined }
  const session = new Session({ storage: storage ?? defaultStorage, sessionInfo, keepAlive, verifyWebIdIssuer })
  if (listener !== undefined) session.events.on(EVENTS.NEW_REFRESH_TOKEN, listener)
  return session
}

async function restored(sessionId, storage, listener, verifyWebIdIssuer) {
  const stored = await run(native.restoreSession, storage, sessionId, false, verifyWebIdIssuer)
  if (stored == null) return undefined
  const session = sessionOf(sessionId, storage, stored.webId, stored.clientAppId, stored.keepAlive, listener, verifyWebIdIssuer)
  await useRestored(session, stored)
  return session
}

// Per store, the last list built and its generation: the native side sends the stored text only when it changed (or
// only the entries that changed), and V8's JSON.parse builds arrays faster than napi can.
const listCache = new WeakMap()

async function getSessionIdFromStorageAll(storage) {
  const handle = handleFor(storage ?? undefined)
  const cached = listCache.get(handle)
  const answer = await runOn(handle, storage ?? undefined, native.listSessionIds, cached?.generation)
  if (answer === true) return cached.ids.slice()
  // A patch is what changed since the array this call started from (a login, a logout): parsing
  // only that is what keeps a list that changes between calls as cheap as one that does not.
  const ids = answer.at === undefined ? JSON.parse(answer.json) : cached.ids.slice(0, answer.at).concat(JSON.parse(answer.json), cached.ids.slice(answer.at + answer.remove))
  listCache.set(handle, { generation: answer.generation, ids })
  return ids.slice()
}

async function clearSessionFromStorageAll(storage) {
  await run(native.clearAllSessions, storage ?? undefined)
}

async function refreshSession(session, options) {
  if (!(session instanceof Session)) throw invalidArgument('refreshSession expects a Session')
  const storage = options?.storage ?? undefined
  const restored = await run(native.restoreSession, storage, session.info.sessionId, true, verifiesWebId(session))
  if (restored != null) await useRestored(session, restored)
}

/**
 * Refreshes a token set the app kept, with its refresh token and the same DPoP key, and resolves
 * the new set. A public client's (a Solid-OIDC Client ID document's): the set has no secret.
 */
async function refreshTokens(tokenSet) {
  if (tokenSet === null || typeof tokenSet !== 'object') throw invalidArgument('refreshTokens expects a token set')
  if (typeof tokenSet.refreshToken !== 'string') throw new Error('Could not refresh the session.')
  const input = await tokenSetInput(tokenSet, tokenSet.webId)
  const { issuer: oidcIssuer, clientId, refreshToken, dpopKey } = tokenSet
  const login = { oidcIssuer, clientId, refreshToken, tokenType: dpopKey === undefined ? 'Bearer' : 'DPoP', publicJwk: input.publicJwk, privateJwk: input.privateJwk }
  const restored = await run(native.logInWithRefreshToken, new InMemoryStorage(), randomUUID(), login)
  // Its refresh token is the one the provider sent, or the same one when it does not rotate (the
  // reference then gives undefined, and the next refresh fails); its key is the app's own.
  return tokenSetOf(restored.credentials, tokenSet.dpopKey)
}

/** The identity providers the profile of `webId` names (`solid:oidcIssuer`), for an app's picker. */
async function getWebIdIssuers(webId) {
  if (typeof webId !== 'string' || webId === '') throw invalidArgument('getWebIdIssuers expects a WebID (a URL)')
  return run(native.webIdIssuers, undefined, webId)
}

/** Logs the token set's user out of the identity provider: the end-session URL goes to `redirectHandler`. */
async function logout(tokenSet, redirectHandler, postLogoutUrl) {
  if (typeof tokenSet?.idToken !== 'string') throw new Error('Logging out of the Identity Provider requires a valid ID token.')
  if (typeof redirectHandler !== 'function') throw invalidArgument('logout needs a redirect handler')
  // Who the token speaks for does not matter to a logout: no WebID check.
  const checked = await run(native.checkIdToken, undefined, tokenSet.issuer, tokenSet.clientId, tokenSet.idToken, postLogoutUrl ? String(postLogoutUrl) : undefined, false)
  if (checked.endSessionUrl == null) throw new Error('The Identity Provider does not support RP-initiated logout.')
  redirectHandler(checked.endSessionUrl)
}

module.exports = { getSessionFromStorage, getSessionIdFromStorageAll, clearSessionFromStorageAll, refreshSession, refreshTokens, getWebIdIssuers, logout }

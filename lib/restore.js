'use strict'
// Restores in flight, per storage handle and session ID: concurrent restores of one session
// share one (a second refresh would waste a request, and with a provider that rotates refresh
// tokens and detects reuse, revoke the grant). Used by getSessionFromStorage, refreshSession
// and the background refresh.

const native = require('../binding.js')
const { runOn } = require('./storage.js')

const restoring = new WeakMap()

/** The pending `run()` for `key` on `handle`, or a new one. */
function once(handle, key, run) {
  let byKey = restoring.get(handle)
  if (byKey === undefined) restoring.set(handle, (byKey = new Map()))
  let pending = byKey.get(key)
  if (pending === undefined) {
    pending = run().finally(() => byKey.delete(key))
    byKey.set(key, pending)
  }
  return pending
}

/** The native restore of `sessionId` (`force`: refresh even if the stored access token is good). */
function restoreOnce(handle, storage, sessionId, force) {
  return once(handle, force ? `force:${sessionId}` : sessionId, () => runOn(handle, storage, native.restoreSession, sessionId, force))
}

/**
 * The native renewal of `credentials` (a `SessionCredentials` whose timer says they are due):
 * the stored access token if it is another one with life left, else a refresh.
 */
function renewOnce(handle, storage, sessionId, credentials) {
  return once(handle, `renew:${sessionId}`, () =>
    runOn(handle, storage, (storageHandle, parent, id) => credentials.renew(storageHandle, parent, id), sessionId),
  )
}

module.exports = { restoreOnce, renewOnce }

'use strict'
// Restores in flight, per storage handle and session ID: concurrent restores of one session
// share one (a second refresh would waste a request, and with a provider that rotates refresh
// tokens and detects reuse, revoke the grant). Used by getSessionFromStorage, refreshSession
// and the background refresh.

const native = require('../binding.js')
const { runOn } = require('./storage.js')

const restoring = new WeakMap()

/** The native restore of `sessionId` (`force`: refresh even if the stored access token is good). */
function restoreOnce(handle, storage, sessionId, force) {
  let bySession = restoring.get(handle)
  if (bySession === undefined) restoring.set(handle, (bySession = new Map()))
  const key = force ? `force:${sessionId}` : sessionId
  let pending = bySession.get(key)
  if (pending === undefined) {
    pending = runOn(handle, storage, native.restoreSession, sessionId, force).finally(() => bySession.delete(key))
    bySession.set(key, pending)
  }
  return pending
}

module.exports = { restoreOnce }

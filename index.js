'use strict'
// Public entry point (CommonJS). index.mjs re-exports this module, so both entry points share one
// default storage. Every export is a name in the object literal below, which is how Node finds
// the names `import` sees (cjs-module-lexer).

const { Session, EVENTS } = require('./lib/session.js')
const { getSessionFromStorage, getSessionIdFromStorageAll, clearSessionFromStorageAll, refreshSession, refreshTokens, logout } = require('./lib/multi-session.js')
const { InMemoryStorage, setStorageTimeout, setIdentityProviderTimeout, setBlockPrivateNetworks } = require('./lib/storage.js')
const { ConfigurationError, NotImplementedError, StorageError, StorageCorruptedError, IdentityProviderError, OAuthError, RedirectError } = require('./lib/errors.js')

module.exports = {
  Session,
  EVENTS,
  InMemoryStorage,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
  refreshSession,
  refreshTokens,
  logout,
  ConfigurationError,
  NotImplementedError,
  StorageError,
  StorageCorruptedError,
  IdentityProviderError,
  OAuthError,
  RedirectError,
  setStorageTimeout,
  setIdentityProviderTimeout,
  setBlockPrivateNetworks,
}

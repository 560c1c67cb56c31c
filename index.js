'use strict'
// Public entry point (CommonJS). index.mjs re-exports this module, so both entry points share one
// default storage.

const { Session, EVENTS } = require('./lib/session.js')
const multiSession = require('./lib/multi-session.js')
const { InMemoryStorage, setStorageTimeout, setIdentityProviderTimeout, setBlockPrivateNetworks } = require('./lib/storage.js')
const { RedisStorage } = require('./lib/redis-storage.js')
const errors = require('./lib/errors.js')

module.exports = {
  Session,
  EVENTS,
  InMemoryStorage,
  RedisStorage,
  getSessionFromStorage: multiSession.getSessionFromStorage,
  getSessionIdFromStorageAll: multiSession.getSessionIdFromStorageAll,
  clearSessionFromStorageAll: multiSession.clearSessionFromStorageAll,
  refreshSession: multiSession.refreshSession,
  refreshTokens: multiSession.refreshTokens,
  getWebIdIssuers: multiSession.getWebIdIssuers,
  logout: multiSession.logout,
  ConfigurationError: errors.ConfigurationError,
  NotImplementedError: errors.NotImplementedError,
  StorageError: errors.StorageError,
  StorageCorruptedError: errors.StorageCorruptedError,
  IdentityProviderError: errors.IdentityProviderError,
  OAuthError: errors.OAuthError,
  RedirectError: errors.RedirectError,
  WebIdError: errors.WebIdError,
  setStorageTimeout,
  setIdentityProviderTimeout,
  setBlockPrivateNetworks,
}

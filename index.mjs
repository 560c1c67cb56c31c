// ESM entry point: the CommonJS module re-exported, so that `import` and `require` share one
// module instance and one default storage.
import api from './index.js'

export const {
  Session,
  EVENTS,
  InMemoryStorage,
  RedisStorage,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
  refreshSession,
  refreshTokens,
  getWebIdIssuers,
  logout,
  ConfigurationError,
  NotImplementedError,
  StorageError,
  StorageCorruptedError,
  IdentityProviderError,
  OAuthError,
  RedirectError,
  WebIdError,
  setStorageTimeout,
  setIdentityProviderTimeout,
  setBlockPrivateNetworks,
} = api

'use strict'
// Error classes. ConfigurationError and NotImplementedError are the reference's; the others are
// ours. Native errors arrive as plain Errors with a `code` and a `kind`, and are rebuilt here as
// the class `kind` names (src/binding/errors.rs holds the one table of codes and classes).

const native = require('../binding.js')

/** The classes below: each instance has its class's name, and a `code` when it has one. */
class TypedError extends Error {
  constructor(message, code, options) {
    super(message, options)
    this.name = new.target.name
    if (code !== undefined) this.code = code
  }
}

class ConfigurationError extends TypedError {
  constructor(message) {
    super(message)
  }
}

class NotImplementedError extends TypedError {
  constructor(methodName) {
    super(`[${methodName}] is not implemented`)
  }
}

/**
 * A storage method threw, rejected, answered with a non-string, or did not settle in time
 * (`ERR_STORAGE_FAILED`, `ERR_STORAGE_TIMEOUT`), or another operation on the same storage held a
 * key this one needed for longer than the storage timeout (`ERR_STORAGE_LOCK_TIMEOUT`). `key` is the
 * key (not enumerable); the message names a key that holds a session ID or a login state by its kind.
 */
class StorageError extends TypedError {}

/** Data in storage is not in the layout the reference defines. `key` is the key, as for `StorageError`. */
class StorageCorruptedError extends TypedError {
  constructor(message) {
    super(message, 'ERR_STORAGE_CORRUPTED')
  }
}

/**
 * The identity provider could not be reached (`ERR_IDP_UNREACHABLE`), was not contacted because
 * its address is on a private network and those are blocked (`ERR_IDP_BLOCKED_ADDRESS`), did not
 * answer in time (`ERR_IDP_TIMEOUT`), or answered something unusable (`ERR_IDP_RESPONSE`). The
 * message says which URL and what was wrong, and never quotes what the provider sent.
 */
class IdentityProviderError extends TypedError {}

/**
 * The identity provider refused a request with an OAuth error. `error` and `errorDescription`
 * are what it said; `code` is `ERR_OAUTH_INVALID_CLIENT` (wrong client credentials),
 * `ERR_OAUTH_INVALID_GRANT` (say, a refresh token it no longer accepts) or `ERR_OAUTH`.
 */
class OAuthError extends TypedError {
  constructor(message, code, error, errorDescription) {
    super(message, code)
    this.error = error
    if (errorDescription !== undefined) this.errorDescription = errorDescription
  }
}

/**
 * A redirect back from the identity provider that cannot finish a login
 * (`ERR_INVALID_REDIRECT`): a state nobody issued or one used already, an `iss` that is not the
 * issuer, or no code. Nothing in storage has changed.
 */
class RedirectError extends TypedError {
  constructor(message) {
    super(message, 'ERR_INVALID_REDIRECT')
  }
}

/**
 * `error`, or the typed error (`code` `ERR_INTERNAL`) for it when it is what napi made of a panic
 * in a native entry point: napi's message is the panic's own, which may quote a value. The native
 * side remembers where the panic happened; its message says only that.
 */
function panicked(error) {
  const message = error?.code === 'GenericFailure' ? native.takePanicError() : null
  return message == null ? error : Object.assign(new Error(message), { code: 'ERR_INTERNAL' })
}

function invalidArgument(message) {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' })
}

// Each class by the name the native side gives as `kind`; `thrown`, when given, is what the JS
// storage threw or rejected with, the `cause` of a failed storage call.
const BUILDERS = {
  __proto__: null,
  StorageError: (e, thrown) =>
    new StorageError(e.message, e.code, e.code === 'ERR_STORAGE_FAILED' && thrown.length > 0 ? { cause: thrown[0] } : undefined),
  StorageCorruptedError: (e) => new StorageCorruptedError(e.message),
  IdentityProviderError: (e) => new IdentityProviderError(e.message, e.code),
  OAuthError: (e) => new OAuthError(e.message, e.code, e.error, e.errorDescription),
  RedirectError: (e) => new RedirectError(e.message),
  ConfigurationError: (e) => new ConfigurationError(e.message),
  TypeError: (e) => Object.assign(new TypeError(e.message), { code: e.code }),
}

/** Rebuilds an error thrown by the native side as its class. */
function fromNative(error, ...thrown) {
  const build = error == null ? undefined : BUILDERS[error.kind]
  if (build === undefined) return panicked(error)
  const rebuilt = build(error, thrown)
  // The storage key the error is about (never the value stored under it). Not enumerable: it
  // may hold a session ID, which console.error and util.inspect would otherwise print beside a
  // message written not to.
  if (typeof error.key === 'string') {
    Object.defineProperty(rebuilt, 'key', { value: error.key, enumerable: false, writable: true, configurable: true })
  }
  return rebuilt
}

/** The error of a write that failed inside an operation that succeeded (`notStored`), with its cause. */
function notStoredError(notStored) {
  return 'thrown' in notStored ? fromNative(notStored, notStored.thrown) : fromNative(notStored)
}

module.exports = {
  ConfigurationError,
  NotImplementedError,
  StorageError,
  StorageCorruptedError,
  IdentityProviderError,
  OAuthError,
  RedirectError,
  invalidArgument,
  fromNative,
  notStoredError,
  panicked,
}

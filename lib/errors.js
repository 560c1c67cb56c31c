'use strict'
// Error classes. ConfigurationError and NotImplementedError are the reference's; the storage
// errors are ours. Native errors arrive as plain Errors with a `code` and a `kind`, and are
// rebuilt here as the class `kind` names.

const native = require('../binding.js')

class ConfigurationError extends Error {
  constructor(message) {
    super(message)
    this.name = 'ConfigurationError'
  }
}

class NotImplementedError extends Error {
  constructor(methodName) {
    super(`[${methodName}] is not implemented`)
    this.name = 'NotImplementedError'
  }
}

/**
 * A storage method threw, rejected, answered with a non-string, or did not settle in time
 * (`ERR_STORAGE_FAILED`, `ERR_STORAGE_TIMEOUT`), or another operation on the same storage held a
 * key this one needed for longer than the storage timeout (`ERR_STORAGE_LOCK_TIMEOUT`). `key` names the key.
 */
class StorageError extends Error {
  constructor(message, code, options) {
    super(message, options)
    this.name = 'StorageError'
    this.code = code
  }
}

/** Data in storage is not in the layout the reference defines. `key` (and the message) name the key. */
class StorageCorruptedError extends Error {
  constructor(message) {
    super(message)
    this.name = 'StorageCorruptedError'
    this.code = 'ERR_STORAGE_CORRUPTED'
  }
}

/**
 * The identity provider could not be reached (`ERR_IDP_UNREACHABLE`), was not contacted because
 * its address is on a private network and those are blocked (`ERR_IDP_BLOCKED_ADDRESS`), did not
 * answer in time (`ERR_IDP_TIMEOUT`), or answered something unusable (`ERR_IDP_RESPONSE`). The
 * message says which URL and what was wrong, and never quotes what the provider sent.
 */
class IdentityProviderError extends Error {
  constructor(message, code) {
    super(message)
    this.name = 'IdentityProviderError'
    this.code = code
  }
}

/**
 * The identity provider refused a request with an OAuth error. `error` and `errorDescription`
 * are what it said; `code` is `ERR_OAUTH_INVALID_CLIENT` (wrong client credentials),
 * `ERR_OAUTH_INVALID_GRANT` (say, a refresh token it no longer accepts) or `ERR_OAUTH`.
 */
class OAuthError extends Error {
  constructor(message, code, error, errorDescription) {
    super(message)
    this.name = 'OAuthError'
    this.code = code
    this.error = error
    if (errorDescription !== undefined) this.errorDescription = errorDescription
  }
}

/**
 * A redirect back from the identity provider that cannot finish a login
 * (`ERR_INVALID_REDIRECT`): a state nobody issued or one used already, an `iss` that is not the
 * issuer, or no code. Nothing in storage has changed.
 */
class RedirectError extends Error {
  constructor(message) {
    super(message)
    this.name = 'RedirectError'
    this.code = 'ERR_INVALID_REDIRECT'
  }
}

// Text from outside (a URL from a request, a session id from a cookie) as a message or a log line
// may quote it: at most QUOTE_MAX_CHARS characters, control characters (and the ones that end or
// reorder a line) escaped. The native side does the same for its messages (crates/core/src/quote.rs).
const QUOTE_MAX_CHARS = 200
const NEEDS_ESCAPE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

function quote(text) {
  const value = String(text)
  // The first QUOTE_MAX_CHARS code points, without splitting a surrogate pair.
  const head = Array.from(value.slice(0, QUOTE_MAX_CHARS * 2)).slice(0, QUOTE_MAX_CHARS).join('')
  const shown = head.replace(NEEDS_ESCAPE, (c) => `\\u{${c.codePointAt(0).toString(16)}}`)
  return head.length === value.length ? shown : `${shown}… (${value.length - head.length} more characters)`
}

/**
 * `error`, or the typed error (`code` `ERR_INTERNAL`) for it when it is what napi made of a panic
 * in a native entry point: napi's message is the panic's own, which may quote a value. The native
 * side remembers where the panic happened; its message says only that.
 */
function panicked(error) {
  if (error?.code !== 'GenericFailure') return error
  const message = native.takePanicError()
  if (message == null) return error
  const internal = new Error(message)
  internal.code = 'ERR_INTERNAL'
  return internal
}

function invalidArgument(message) {
  const error = new TypeError(message)
  error.code = 'ERR_INVALID_ARG_TYPE'
  return error
}

/**
 * Rebuilds an error thrown by the native side as its class. `thrown`, when given, is what the JS
 * storage threw or rejected with; it becomes the `cause` of a StorageError.
 */
function fromNative(error, ...thrown) {
  const build = error == null ? undefined : BUILDERS[error.kind]
  if (build === undefined) return panicked(error)
  const rebuilt = build(error, thrown)
  // The storage key the error is about (never the value stored under it).
  if (typeof error.key === 'string') rebuilt.key = error.key
  return rebuilt
}

// Each class by the name the native side gives as `kind` (src/binding/errors.rs holds the one
// table of codes and classes).
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

/** The error of a write that failed inside an operation that succeeded (`notStored`), with its cause. */
function notStoredError(notStored) {
  return 'thrown' in notStored ? fromNative(notStored, notStored.thrown) : fromNative(notStored)
}

module.exports = {
  notStoredError,
  ConfigurationError,
  NotImplementedError,
  StorageError,
  StorageCorruptedError,
  IdentityProviderError,
  OAuthError,
  RedirectError,
  invalidArgument,
  fromNative,
  panicked,
  quote,
}

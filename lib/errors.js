'use strict'
// The error classes (index.d.ts documents each). Native errors arrive as plain Errors with a
// `code` and a `kind`, and are rebuilt here as the class `kind` names: src/binding/errors.rs
// holds the one table of codes and classes.

const native = require('../binding.js')

/** Each instance has its class's name, and a `code` when it has one. */
class TypedError extends Error {
  constructor(message, code, options) {
    super(message, options)
    this.name = new.target.name
    if (code !== undefined) this.code = code
  }
}

// The reference's two.
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

class StorageError extends TypedError {}

class StorageCorruptedError extends TypedError {
  constructor(message) {
    super(message, 'ERR_STORAGE_CORRUPTED')
  }
}

class IdentityProviderError extends TypedError {}

class OAuthError extends TypedError {
  constructor(message, code, error, errorDescription) {
    super(message, code)
    this.error = error
    if (errorDescription !== undefined) this.errorDescription = errorDescription
  }
}

class RedirectError extends TypedError {
  constructor(message) {
    super(message, 'ERR_INVALID_REDIRECT')
  }
}

class WebIdError extends TypedError {
  constructor(message, code, details = {}) {
    super(message, code)
    for (const name of ['webId', 'issuer', 'issuers']) if (details[name] !== undefined) this[name] = details[name]
  }
}

/**
 * The typed error (`ERR_INTERNAL`) for what napi made of a panic in a native entry point, whose
 * message is the panic's own and may quote a value; any other error as it is.
 */
function panicked(error) {
  const message = error?.code === 'GenericFailure' ? native.takePanicError() : null
  return message == null ? error : Object.assign(new Error(message), { code: 'ERR_INTERNAL' })
}

function invalidArgument(message) {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' })
}

// Each class by its `kind`; `thrown` is what a JS storage threw, the cause of a failed call.
const BUILDERS = {
  __proto__: null,
  StorageError: (e, thrown) =>
    new StorageError(e.message, e.code, e.code === 'ERR_STORAGE_FAILED' && thrown.length > 0 ? { cause: thrown[0] } : undefined),
  StorageCorruptedError: (e) => new StorageCorruptedError(e.message),
  IdentityProviderError: (e) => new IdentityProviderError(e.message, e.code),
  OAuthError: (e) => new OAuthError(e.message, e.code, e.error, e.errorDescription),
  RedirectError: (e) => new RedirectError(e.message),
  ConfigurationError: (e) => new ConfigurationError(e.message),
  WebIdError: (e) => new WebIdError(e.message, e.code, e),
  TypeError: (e) => Object.assign(new TypeError(e.message), { code: e.code }),
}

/** Rebuilds an error thrown by the native side as its class. */
function fromNative(error, ...thrown) {
  const build = error == null ? undefined : BUILDERS[error.kind]
  if (build === undefined) return panicked(error)
  const rebuilt = build(error, thrown)
  // The storage key it is about. Not enumerable: it may hold a session ID, which console.error
  // would otherwise print beside a message written not to.
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
  WebIdError,
  invalidArgument,
  fromNative,
  notStoredError,
  panicked,
}

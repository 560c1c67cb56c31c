'use strict'
// Error classes. ConfigurationError and NotImplementedError are the reference's; the storage
// errors are ours. Native errors arrive as plain Errors with a `code` and are rebuilt here as
// the class that code stands for.

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

/** A storage method threw, rejected, answered with a non-string, or did not settle in time. */
class StorageError extends Error {
  constructor(message, code, options) {
    super(message, options)
    this.name = 'StorageError'
    this.code = code
  }
}

/** Data in storage is not in the layout the reference defines. The message names the key. */
class StorageCorruptedError extends Error {
  constructor(message) {
    super(message)
    this.name = 'StorageCorruptedError'
    this.code = 'ERR_STORAGE_CORRUPTED'
  }
}

function invalidArgument(message) {
  const error = new TypeError(message)
  error.code = 'ERR_INVALID_ARG_TYPE'
  return error
}

/** Rebuilds an error thrown by the native side as its class; `cause` is the JS storage error behind it, if any. */
function fromNative(error, cause) {
  switch (error && error.code) {
    case 'ERR_STORAGE_FAILED':
      return new StorageError(error.message, error.code, cause === undefined ? undefined : { cause })
    case 'ERR_STORAGE_TIMEOUT':
      return new StorageError(error.message, error.code)
    case 'ERR_STORAGE_CORRUPTED':
      return new StorageCorruptedError(error.message)
    case 'ERR_INVALID_ARG_VALUE':
      return invalidArgument(error.message)
    default:
      return error
  }
}

module.exports = {
  ConfigurationError,
  NotImplementedError,
  StorageError,
  StorageCorruptedError,
  invalidArgument,
  fromNative,
}

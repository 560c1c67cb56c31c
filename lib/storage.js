'use strict'
// The storage edge: InMemoryStorage (native), the handle for a JS store, and the driver that makes
// the calls a native operation asks for. The driver knows no keys and no layout: it only carries
// calls and answers between Rust and the store, on the JS thread.

const native = require('../binding.js')
const { fromNative, invalidArgument } = require('./errors.js')

let storageTimeoutMs = 10_000

/** How long a storage call may take before it counts as failed (default 10 s). */
function setStorageTimeout(ms) {
  if (typeof ms !== 'number' || !(ms > 0) || ms > 2 ** 31 - 1) {
    throw invalidArgument(`The storage timeout must be a number of milliseconds between 1 and ${2 ** 31 - 1}, got ${typeof ms === 'number' ? ms : typeof ms}`)
  }
  storageTimeoutMs = ms
}

let nativeOf

/** A storage kept in this process's memory, in Rust. Implements IStorage. */
class InMemoryStorage {
  #native = native.NativeStorage.memory()

  async get(key) {
    return this.#native.getEntry(String(key)) ?? undefined
  }

  async set(key, value) {
    this.#native.setEntry(String(key), String(value))
  }

  async delete(key) {
    this.#native.deleteEntry(String(key))
  }

  static {
    const { get, set, delete: del } = InMemoryStorage.prototype
    // A subclass that overrides a method gets its own method called, through the JS path.
    nativeOf = (storage) =>
      #native in storage && storage.get === get && storage.set === set && storage.delete === del
        ? storage.#native
        : undefined
  }
}

/** The process-wide default storage, made once when the module loads. */
const defaultStorage = new InMemoryStorage()
const hostHandles = new WeakMap()

function isStorage(value) {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof value.get === 'function' &&
    typeof value.set === 'function' &&
    typeof value.delete === 'function'
  )
}

/** The native handle for a storage; undefined and null mean the default storage. */
function handleFor(storage) {
  if (storage === undefined || storage === null) return nativeOf(defaultStorage)
  if (typeof storage === 'object' && storage !== null) {
    const own = nativeOf(storage)
    if (own !== undefined) return own
  }
  if (!isStorage(storage)) {
    throw invalidArgument('A storage must be an object with get, set and delete methods (the IStorage interface)')
  }
  let handle = hostHandles.get(storage)
  if (handle === undefined) {
    handle = native.NativeStorage.host()
    hostHandles.set(storage, handle)
  }
  return handle
}

function describeThrown(value) {
  if (value instanceof Error) return value.message || value.name || 'an error with no message'
  if (typeof value === 'string') return value
  if (value === null || ['undefined', 'number', 'boolean', 'bigint'].includes(typeof value)) return `${String(value)} was thrown`
  return `a non-Error ${typeof value} was thrown`
}

function typeName(value) {
  if (Array.isArray(value)) return 'an array'
  const t = typeof value
  return t === 'object' ? 'an object' : `a ${t}`
}

function invoke(storage, request) {
  switch (request.method) {
    case 'get':
      return storage.get(request.key)
    case 'set':
      return storage.set(request.key, request.value)
    default:
      return storage.delete(request.key)
  }
}

/** Makes one batch of calls at once and collects the answers, failures and the first thrown value. */
function callAll(storage, requests) {
  const count = requests.length
  const values = new Array(count)
  const settled = new Uint8Array(count)
  let failures = null
  let cause
  let pending = count
  return new Promise((resolve) => {
    const limit = storageTimeoutMs
    const timer = setTimeout(() => {
      for (let i = 0; i < count; i++) {
        if (!settled[i]) {
          settled[i] = 1
          ;(failures ??= []).push({ index: i, timedOutMs: limit })
        }
      }
      resolve({ values, failures, cause })
    }, limit)
    // A store that never answers must not keep the process alive: a script whose only pending
    // work is such a call exits. Anything else that keeps the loop alive (a server) lets the
    // timeout fire and the caller get the error.
    timer.unref()
    const done = () => {
      if (--pending === 0) {
        clearTimeout(timer)
        resolve({ values, failures, cause })
      }
    }
    const fail = (i, error) => {
      if (settled[i]) return
      settled[i] = 1
      if (cause === undefined) cause = error
      ;(failures ??= []).push({ index: i, message: describeThrown(error) })
      done()
    }
    const succeed = (i, value) => {
      if (settled[i]) return
      settled[i] = 1
      // Only `get` answers carry a value; whatever set and delete return is ignored.
      if (requests[i].method === 'get') {
        if (value == null) values[i] = undefined
        else if (typeof value === 'string') values[i] = value
        else (failures ??= []).push({ index: i, wrongType: typeName(value) })
      }
      done()
    }
    for (let i = 0; i < count; i++) {
      let result
      try {
        result = invoke(storage, requests[i])
      } catch (error) {
        fail(i, error)
        continue
      }
      if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
        result.then(
          (value) => succeed(i, value),
          (error) => fail(i, error),
        )
      } else {
        succeed(i, result)
      }
    }
  })
}

async function drive(operation, storage) {
  let values = []
  let failures = null
  let cause
  for (;;) {
    let requests
    try {
      requests = operation.resume(values, failures)
    } catch (error) {
      throw fromNative(error, cause)
    }
    if (requests === null) {
      await new Promise((resolve) => {
        if (operation.wait(resolve)) resolve()
      })
      values = []
      failures = null
      continue
    }
    if (requests.length === 0) break
    const answers = await callAll(storage, requests)
    values = answers.values
    failures = answers.failures
    cause ??= answers.cause
  }
  try {
    return operation.output()
  } catch (error) {
    throw fromNative(error, cause)
  }
}

/**
 * Runs a native operation on `storage` (default storage when undefined). `start(handle, ...args)`
 * either finishes at once (the native store) or returns an Operation to drive.
 */
function run(start, storage, ...args) {
  return runOn(handleFor(storage), storage, start, ...args)
}

/** `run`, for a caller that already holds the storage's handle. */
function runOn(handle, storage, start, ...args) {
  let outcome
  try {
    outcome = start(handle, ...args)
  } catch (error) {
    return Promise.reject(fromNative(error))
  }
  if (outcome instanceof native.Operation) return drive(outcome, storage)
  return Promise.resolve(outcome)
}

module.exports = { InMemoryStorage, defaultStorage, isStorage, handleFor, run, runOn, setStorageTimeout }

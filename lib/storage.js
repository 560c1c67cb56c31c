'use strict'
// The storage edge: InMemoryStorage (native), the handle for a JS store, the process-wide
// settings, and the driver that makes the calls a native operation asks for on the store, and
// awaits the HTTP requests the native side sent for it. The driver knows no keys, no layout and no
// protocol: it only carries calls and answers between Rust and the store, on the JS thread.

const native = require('../binding.js')
const { fromNative, invalidArgument } = require('./errors.js')
const { isPromise } = require('node:util').types

// Debug logs the Node way: NODE_DEBUG=solid-client-authn-native. Each request to an identity
// provider (method, URL, status, time), each restore and background refresh and why, each storage
// failure. Never a token, secret, code or key: what is logged is chosen field by field, and
// outside text goes through `native.quote`.
const debug = require('node:util').debuglog('solid-client-authn-native')

// The HTTP requests' Promises then resolve with their debug log lines.
if (debug.enabled) native.logHttpRequests(true)

let storageTimeoutMs = 10_000

/** `ms` when it is a number of milliseconds a timer can wait for, else the TypeError. */
function checkedMillis(ms, what) {
  if (typeof ms === 'number' && ms >= 1 && ms <= 2 ** 31 - 1) return ms
  throw invalidArgument(`The ${what} timeout must be a number of milliseconds between 1 and ${2 ** 31 - 1}, got ${typeof ms === 'number' ? ms : typeof ms}`)
}

/** How long a storage call (or a wait for another operation's lock) may take (default 10 s). */
function setStorageTimeout(ms) {
  storageTimeoutMs = checkedMillis(ms, 'storage')
}

/** How long a request to an identity provider may take (default 3,500 ms, as the reference). */
function setIdentityProviderTimeout(ms) {
  native.setIdpTimeout(Math.round(checkedMillis(ms, 'identity provider')))
}

/**
 * Refuses (true) or allows (false, the default) requests to identity providers whose host is, or
 * resolves to, an address off the public internet. For servers whose users name their own
 * provider.
 */
function setBlockPrivateNetworks(block) {
  if (typeof block !== 'boolean') throw invalidArgument(`setBlockPrivateNetworks expects true or false, got ${typeof block}`)
  native.setBlockPrivateNetworks(block)
}

/** A UTF-16 surrogate without its other half. */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * Rust strings cannot hold unpaired UTF-16 surrogates; converting one would turn it into U+FFFD
 * and make two distinct keys one. So keys and IDs that hold one are refused before anything is
 * read or written.
 */
function checkWellFormed(text, what) {
  if (text.isWellFormed()) return
  throw invalidArgument(`${what} holds an unpaired UTF-16 surrogate (at index ${text.search(UNPAIRED_SURROGATE)}), which this package does not support`)
}

let nativeOf

/** A storage kept in this process's memory, in Rust. Implements IStorage. */
class InMemoryStorage {
  #native = native.NativeStorage.memory()

  async get(key) {
    const k = String(key)
    // No key that holds an unpaired surrogate can have been stored.
    if (!k.isWellFormed()) return undefined
    return this.#native.getEntry(k) ?? undefined
  }

  async set(key, value) {
    const k = String(key)
    // The reference stores what it is given; a non-string would come back as something else.
    if (typeof value !== 'string') throw invalidArgument(`An InMemoryStorage value must be a string, got ${value === null ? 'null' : typeof value}`)
    checkWellFormed(k, 'An InMemoryStorage key')
    checkWellFormed(value, 'An InMemoryStorage value')
    this.#native.setEntry(k, value)
  }

  async delete(key) {
    const k = String(key)
    if (k.isWellFormed()) this.#native.deleteEntry(k)
  }

  static {
    const { get, set, delete: del } = InMemoryStorage.prototype
    // A subclass that overrides a method gets its own method called, through the JS path.
    nativeOf = (storage) => {
      try {
        return #native in storage && storage.get === get && storage.set === set && storage.delete === del
          ? storage.#native
          : undefined
      } catch {
        return undefined
      }
    }
  }
}

/** The process-wide default storage, made once when the module loads. */
const defaultStorage = new InMemoryStorage()
const hostHandles = new WeakMap()

/**
 * What keeps `value` from being an IStorage (get, set and delete functions), in words for an
 * error message; undefined when nothing does. Never throws: a throwing accessor means no.
 */
function storageProblem(value) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return `it is ${value === null ? 'null' : `a ${typeof value}`}`
  try {
    const missing = ['get', 'set', 'delete'].filter((name) => typeof value[name] !== 'function')
    return missing.length === 0 ? undefined : `it has no ${missing.join(', no ')} function`
  } catch {
    return 'looking up its methods threw'
  }
}

const isStorage = (value) => storageProblem(value) === undefined

/** The native handle for a storage; undefined and null mean the default storage. */
function handleFor(storage) {
  if (storage === undefined || storage === null) return nativeOf(defaultStorage)
  if (typeof storage === 'object') {
    const own = nativeOf(storage)
    if (own !== undefined) return own
  }
  // A store seen before is taken as it is: what its methods do now is for the calls to find out.
  let handle = hostHandles.get(storage)
  if (handle !== undefined) return handle
  const problem = storageProblem(storage)
  if (problem !== undefined) {
    throw invalidArgument(`A storage must be an object with get, set and delete methods (the IStorage interface); ${problem}`)
  }
  // The optional atomic setIfAbsent(key, value, ttlMs) makes refresh leases exact across processes.
  let atomic = false
  try {
    atomic = typeof storage.setIfAbsent === 'function'
  } catch {
    // An accessor that throws: the method is not there to use.
  }
  handle = native.NativeStorage.host(atomic)
  hostHandles.set(storage, handle)
  return handle
}

/**
 * What kind of value a storage call failed with, for the error message and the debug log. Never
 * the value's own text: a storage's message may quote the value it was given (a record with a
 * refresh token and a private key). The value itself becomes the error's `cause`. Never throws,
 * whatever the value does when looked at.
 */
function kindOf(value) {
  try {
    if (value === undefined || value === null) return String(value)
    if (typeof value === 'string') return 'a string'
    if (typeof value !== 'object' && typeof value !== 'function') return `a ${typeof value}`
    if (value instanceof Error) {
      const name = value.name
      // A class name only: anything else a name holds is not ours to repeat.
      if (typeof name === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(name)) return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`
      return 'an Error'
    }
    return typeof value === 'function' ? 'a function' : 'a non-Error object'
  } catch {
    return 'a value that throws when looked at'
  }
}

function typeName(value) {
  try {
    if (Array.isArray(value)) return 'an array'
  } catch {
    // A revoked proxy: an object all the same.
  }
  const t = typeof value
  return t === 'object' ? 'an object' : `a ${t}`
}

/** The text a String object holds, or undefined for anything else. */
function stringObjectText(value) {
  try {
    return String.prototype.valueOf.call(value)
  } catch {
    return undefined
  }
}

/**
 * Whether a batch entry stands for an HTTP request: the native side sent it, and the entry is
 * a Promise that settles once the response has reached the operation. The request, and its
 * response, stay in Rust. A native Promise whatever `globalThis.Promise` is now (an app may have
 * replaced it).
 */
const isHttp = (entry) => isPromise(entry)

function invoke(storage, request) {
  if (isHttp(request)) {
    if (!debug.enabled) return request
    return request.then((line) => {
      if (line != null) debug('%s', line)
    })
  }
  if (request.method === 'sleep') return new Promise((resolve) => setTimeout(resolve, request.ttlMs))
  return STORAGE_CALLS[request.method](storage, request.keyIsJson ? JSON.parse(request.key) : request.key, request)
}

/** Each storage call a native operation asks for, as the app's storage method it is. */
const STORAGE_CALLS = {
  __proto__: null,
  get: (storage, key) => storage.get(key),
  set: (storage, key, { value }) => storage.set(key, value),
  setIfAbsent: (storage, key, { value, ttlMs }) => storage.setIfAbsent(key, value, ttlMs),
  delete: (storage, key) => storage.delete(key),
}

/** The operation whose storage calls are being made right now, synchronously; null when none. */
let invoking = null

/**
 * Makes one batch of calls at once and collects the answers, failures and the first thrown value.
 * `handle` is the store's native handle, whose key locks a timed-out write keeps (see below).
 */
function callAll(storage, requests, operationId, handle) {
  const count = requests.length
  const values = new Array(count)
  const settled = new Uint8Array(count)
  let failures = null
  let thrown = null
  let pending = count
  let finish
  const answers = new Promise((resolve) => {
    finish = () => resolve({ values, failures, thrown })
  })
  const report = (failure) => {
    ;(failures ??= []).push(failure)
  }
  const limit = storageTimeoutMs
  // A write that timed out may still land. Until it settles, or a second timeout has passed and
  // it counts as lost, its key stays locked: an operation that read the key and wrote it back
  // meanwhile would be undone by it.
  let lateWriteEnds = null
  const beginLateWrite = (i) => {
    const key = requests[i].key
    handle.beginLateWrite(key)
    let open = true
    const end = () => {
      if (!open) return
      open = false
      clearTimeout(grace)
      handle.endLateWrite(key)
    }
    const grace = setTimeout(end, limit)
    grace.unref()
    ;(lateWriteEnds ??= [])[i] = end
  }
  // HTTP requests have timeouts of their own, in Rust; a sleep is not a storage call.
  const timed = (request) => !isHttp(request) && request.method !== 'sleep'
  const timer = setTimeout(() => {
    for (let i = 0; i < count; i++) {
      if (!settled[i] && timed(requests[i])) {
        const { method } = requests[i]
        settled[i] = 1
        report({ index: i, timedOutMs: limit })
        if (debug.enabled) debug('storage.%s(%s) did not settle within %d ms', method, native.quote(JSON.stringify(requests[i].key)), limit)
        if (method !== 'get') beginLateWrite(i)
        done()
      }
    }
  }, limit)
  // A store that never answers must not keep the process alive: a script whose only pending
  // work is such a call exits. Anything else that keeps the loop alive (a server) lets the
  // timeout fire and the caller get the error.
  timer.unref()
  if (!requests.some(timed)) clearTimeout(timer)
  const done = () => {
    if (--pending === 0) {
      clearTimeout(timer)
      finish()
    }
  }
  const settledLate = (i) => {
    if (lateWriteEnds !== null && lateWriteEnds[i] !== undefined) lateWriteEnds[i]()
  }
  const fail = (i, how, error) => {
    if (settled[i]) return settledLate(i)
    settled[i] = 1
    thrown ??= { value: error }
    const message = `${how} ${kindOf(error)} (kept as this error's cause)`
    if (debug.enabled && !isHttp(requests[i])) debug('storage.%s(%s) failed: %s', requests[i].method, native.quote(JSON.stringify(requests[i].key)), message)
    report({ index: i, message })
    done()
  }
  const succeed = (i, value) => {
    if (settled[i]) return settledLate(i)
    settled[i] = 1
    // Only `get` answers carry a value; whatever set and delete return (and an HTTP request's
    // Promise) is ignored. A setIfAbsent that stored its value says so with true.
    const { method } = requests[i]
    if (method === 'get') accept(i, value)
    else if (method === 'setIfAbsent' && value === true) values[i] = 'set'
    done()
  }
  const accept = (i, value) => {
    if (value === undefined || value === null) return
    const text = typeof value === 'string' ? value : stringObjectText(value)
    // Text with unpaired surrogates is made JSON the native side can read there (StoredText).
    if (text === undefined) report({ index: i, wrongType: typeName(value) })
    else values[i] = text
  }
  // Thenables of any kind are unwrapped as `await` would; anything else is the answer.
  const settle = (i, result) => {
    if (result === null || (typeof result !== 'object' && typeof result !== 'function')) return succeed(i, result)
    let then
    try {
      then = result.then
    } catch (error) {
      return fail(i, 'its answer could not be read: looking for its then method threw', error)
    }
    if (typeof then !== 'function') return succeed(i, result)
    Promise.resolve(result).then(
      (value) => succeed(i, value),
      (error) => fail(i, 'it rejected with', error),
    )
  }
  // Whatever the store does in these calls, synchronously, happens inside this operation: an
  // operation it starts on the same store joins this one's family (see crates/core/src/storage/locks.rs).
  const outer = invoking
  invoking = operationId
  try {
    for (let i = 0; i < count; i++) {
      try {
        settle(i, invoke(storage, requests[i]))
      } catch (error) {
        fail(i, 'it threw', error)
      }
    }
  } finally {
    invoking = outer
  }
  return answers
}

/**
 * Resolves true once the operation's lock wait may be over, or false after the storage timeout.
 * The timer keeps the process alive: a lock is only ever waited for while its holder runs, and
 * a Promise the user awaits must settle rather than vanish when the process exits.
 */
function lockReleased(id) {
  return new Promise((resolve) => {
    let timer
    const woken = () => {
      clearTimeout(timer)
      resolve(true)
    }
    if (native.waitForOperation(id, woken)) return resolve(true)
    timer = setTimeout(resolve, storageTimeoutMs, false)
  })
}

/**
 * Whether a native start or resume returned an operation still under way (a `PendingOperation`:
 * its id and the calls it waits for) rather than its value. No value an operation ends with has
 * an `operationId`.
 */
function isPending(progress) {
  return typeof progress === 'object' && progress !== null && typeof progress.operationId === 'number'
}

async function drive(pending, storage, handle) {
  const id = pending.operationId
  let calls = pending.calls
  let thrown = null
  let finished = false
  try {
    for (;;) {
      let values = []
      let failures = null
      let gaveUpWaitingMs = null
      if (calls.length === 0) {
        // No calls: the operation waits for a key lock another operation holds.
        if (!(await lockReleased(id))) gaveUpWaitingMs = storageTimeoutMs
      } else {
        const answers = await callAll(storage, calls, id, handle)
        values = answers.values
        failures = answers.failures
        // The cause of a failure is what the storage threw in the batch that failed, not one an
        // earlier batch threw and the operation got past (a best-effort delete, say).
        if (answers.failures !== null) thrown = answers.thrown
      }
      const progress = native.resumeOperation(id, values, failures, gaveUpWaitingMs)
      if (isPending(progress)) {
        calls = progress.calls
        continue
      }
      // The operation has finished, and left the native table.
      finished = true
      // An operation that succeeded though a write failed (a refreshed record it could not store)
      // hands its error back in `notStored`; what the storage threw goes with it, as its cause.
      if (thrown !== null && progress?.notStored != null) progress.notStored.thrown = thrown.value
      return progress
    }
  } catch (error) {
    throw thrown === null ? fromNative(error) : fromNative(error, thrown.value)
  } finally {
    // However the driving ended, the operation goes, and with it every lock it holds.
    if (!finished) {
      try {
        native.cancelOperation(id)
      } catch {
        // Nothing left to release.
      }
    }
  }
}

/**
 * Runs a native operation on `storage` (default storage when undefined). `start(handle, parent,
 * ...args)` either finishes at once (the native store, or nothing to wait for) or returns the
 * operation under way, with its first batch of calls, to drive.
 */
function run(start, storage, ...args) {
  return runOn(handleFor(storage), storage, start, ...args)
}

/** `run`, for a caller that already holds the storage's handle. */
function runOn(handle, storage, start, ...args) {
  let outcome
  try {
    outcome = start(handle, invoking, ...args)
  } catch (error) {
    return Promise.reject(fromNative(error))
  }
  if (isPending(outcome)) return drive(outcome, storage, handle)
  return Promise.resolve(outcome)
}

/** Runs in flight, per storage handle and key (see `runOnce`). */
const inFlight = new WeakMap()

/**
 * `runOn`, joined to the run under `key` on the same storage when one is in flight. Concurrent
 * restores of one session share one: a second refresh would waste a request, and with a provider
 * that rotates refresh tokens and detects reuse, revoke the grant.
 */
function runOnce(key, handle, storage, start, ...args) {
  let byKey = inFlight.get(handle)
  if (byKey === undefined) inFlight.set(handle, (byKey = new Map()))
  let pending = byKey.get(key)
  if (pending === undefined) {
    pending = runOn(handle, storage, start, ...args).finally(() => byKey.delete(key))
    byKey.set(key, pending)
  }
  return pending
}

module.exports = {
  InMemoryStorage,
  defaultStorage,
  isStorage,
  storageProblem,
  handleFor,
  run,
  runOn,
  runOnce,
  debug,
  setStorageTimeout,
  setIdentityProviderTimeout,
  setBlockPrivateNetworks,
  checkWellFormed,
}

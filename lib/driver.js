'use strict'
// The driver: runs a native operation on a storage, making on a JS store, on the JS thread, the
// calls the operation asks for and handing the answers back; timing them out, and keeping a
// timed-out write's key locked until it settles. It knows no keys, no layout and no protocol: it
// carries calls and answers. (Why this loop is JS and not Rust: docs/design.md, "How an
// operation runs".)

const native = require('../binding.js')
const { fromNative } = require('./errors.js')
const { handleFor, storageTimeout, debug } = require('./storage.js')
const { isPromise } = require('node:util').types

/**
 * What kind of value a storage call failed with, for the message: never the value's own text,
 * which may quote what it was given (a record with a refresh token). Never throws.
 */
function kindOf(value) {
  try {
    if (value == null) return String(value)
    if (typeof value !== 'object' && typeof value !== 'function') return `a ${typeof value}`
    if (!(value instanceof Error)) return typeof value === 'function' ? 'a function' : 'a non-Error object'
    // A class name only: anything else a name holds is not ours to repeat.
    const name = value.name
    if (typeof name === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(name)) return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`
    return 'an Error'
  } catch {
    return 'a value that throws when looked at'
  }
}

/** The text of a String object (which `get` may answer with), else the value as it is. */
function unboxed(value) {
  if (typeof value !== 'object' || value === null) return value
  try {
    return String.prototype.valueOf.call(value)
  } catch {
    return value
  }
}

/**
 * A batch, as the binding hands it out (`PendingOperation`): one flat array, `[operationId,
 * ...calls]`, each call in CALL_SLOTS slots, `[what, key, value, ttlMs]`. `what` is a storage
 * method's number (below; KEY_IS_JSON added when the key is a JSON string literal to decode: it
 * holds an unpaired UTF-16 surrogate, which a Rust string cannot), or the Promise of an HTTP
 * request, or of a RedisStorage's calls, that the native side sent (the answers stay in Rust;
 * the Promise resolves with its debug log line).
 */
const CALL_SLOTS = 4
const KEY_IS_JSON = 8
const GET = 0
const SLEEP = 4
const METHODS = ['get', 'set', 'setIfAbsent', 'delete', 'sleep']
const STORAGE_CALLS = [
  (storage, key) => storage.get(key),
  (storage, key, value) => storage.set(key, value),
  (storage, key, value, ttlMs) => storage.setIfAbsent(key, value, ttlMs),
  (storage, key) => storage.delete(key),
  (storage, key, value, ttlMs) => new Promise((resolve) => setTimeout(resolve, ttlMs)),
]

/** How many calls `batch` holds. */
const callCount = (batch) => (batch.length - 1) / CALL_SLOTS

/**
 * Makes the call at slot `at` of `batch`. `isPromise` is true for native Promises only,
 * whatever `globalThis.Promise` is now.
 */
function invoke(storage, batch, at) {
  const what = batch[at]
  if (!isPromise(what)) return STORAGE_CALLS[what & 7](storage, what & KEY_IS_JSON ? JSON.parse(batch[at + 1]) : batch[at + 1], batch[at + 2], batch[at + 3])
  // A chain of native batches resolves with one line per batch.
  return debug.enabled ? what.then((lines) => lines != null && lines.split('\n').forEach((line) => debug('%s', line))) : what
}

/** A storage call, for the debug log: a key holding a session ID or a login state by its kind. */
const described = (batch, at) => `storage.${METHODS[batch[at] & 7]}(${native.storageKeyName(batch[at + 1])})`

/** Whether the call at slot `at` is a storage call, which the storage timeout bounds: no HTTP request, no sleep. */
const timed = (batch, at) => !isPromise(batch[at]) && (batch[at] & 7) !== SLEEP

/** The operation whose storage calls are being made right now, synchronously; null when none. */
let invoking = null

/** Makes the call at slot `at` as one of operation `operationId` (what the store does synchronously happens inside it). */
function invokeFor(operationId, storage, batch, at) {
  // An operation the store starts on the same store, synchronously, joins this one's lock family
  // (crates/core/src/storage/locks.rs).
  const outer = invoking
  invoking = operationId
  try {
    return invoke(storage, batch, at)
  } finally {
    invoking = outer
  }
}

/** The `then` of native Promises: a storage's Promise that has it is awaited without a Promise of ours. */
const promiseThen = Promise.prototype.then

/**
 * One batch of calls, made at once; once each has settled (or the storage timeout passed), the
 * answers go back to the drive: the values as given (the native side reads them), the failures,
 * and the first value thrown. Storage calls are timed out; HTTP requests have timeouts of their
 * own, and a sleep is no storage call. A call's Promise is followed as it is, with no Promise of
 * ours between the store and the native side.
 */
class Batch {
  constructor(drive, batch) {
    const count = callCount(batch)
    this.drive = drive
    this.batch = batch
    this.limit = storageTimeout()
    this.values = new Array(count)
    // True at a call's index once it settled. A plain array: a typed array's buffer is an
    // allocation of its own, on every batch.
    this.settled = new Array(count)
    this.late = undefined
    this.failures = null
    this.thrown = null
    this.pending = count
    this.timer = undefined
  }

  start() {
    const { drive, batch } = this
    const count = this.settled.length
    let anyTimed = false
    for (let i = 0; i < count; i++) anyTimed ||= timed(batch, 1 + i * CALL_SLOTS)
    // Set before the calls: a lock wait a call itself starts (a store that re-enters) is timed
    // after it, for as long, so this one ends first. Unref'd: a store that never answers does not
    // keep a script alive; a server gets the error.
    if (anyTimed) this.timer = setTimeout(() => this.timedOut(), this.limit).unref()
    for (let i = 0; i < count; i++) {
      let result, then
      try {
        result = invokeFor(drive.id, drive.storage, batch, 1 + i * CALL_SLOTS)
      } catch (error) {
        this.later(i, 'it threw', error)
        continue
      }
      try {
        then = result?.then
      } catch (error) {
        this.later(i, 'its answer could not be read: looking for its then method threw', error)
        continue
      }
      // A value given at once is handed on a turn later, as `await` would.
      if (typeof then !== 'function') {
        this.later(i, undefined, result)
        continue
      }
      const succeeded = (value) => this.succeeded(i, value)
      const failed = (error) => this.failed(i, 'it rejected with', error)
      // A native Promise is followed as it is; any other thenable is unwrapped as `await` would.
      try {
        if (then === promiseThen && isPromise(result)) promiseThen.call(result, succeeded, failed)
        else Promise.resolve(result).then(succeeded, failed)
      } catch (error) {
        this.later(i, 'it threw', error)
      }
    }
  }

  /** An outcome known at once, handed on a turn later: a failure (`how`), or the value. */
  later(i, how, value) {
    queueMicrotask(() => (how === undefined ? this.succeeded(i, value) : this.failed(i, how, value)))
  }

  succeeded(i, value) {
    if (this.settled[i] === true) return this.late?.[i]?.()
    this.values[i] = unboxed(value)
    this.done(i)
  }

  failed(i, how, error) {
    if (this.settled[i] === true) return this.late?.[i]?.()
    this.thrown ??= { value: error }
    // How it failed and the kind of value, never the value's own text.
    const failure = { index: i, message: `${how} ${kindOf(error)} (kept as this error's cause)` }
    if (debug.enabled && !isPromise(this.batch[1 + i * CALL_SLOTS])) debug('%s failed: %s', described(this.batch, 1 + i * CALL_SLOTS), failure.message)
    this.done(i, failure)
  }

  timedOut() {
    const { batch, limit } = this
    for (let i = 0; i < this.settled.length; i++) {
      const at = 1 + i * CALL_SLOTS
      if (this.settled[i] === true || !timed(batch, at)) continue
      if (debug.enabled) debug('%s did not settle within %d ms', described(batch, at), limit)
      // A write that timed out may still land: until it settles, or a second timeout passes and
      // it counts as lost, its key stays locked, lest it undo a later read-modify-write.
      if ((batch[at] & 7) !== GET) (this.late ??= [])[i] = lateWrite(this.drive.handle, batch[at + 1], limit)
      this.done(i, { index: i, timedOutMs: limit })
    }
  }

  done(i, failure) {
    this.settled[i] = true
    if (failure !== undefined) (this.failures ??= []).push(failure)
    if (--this.pending > 0) return
    clearTimeout(this.timer)
    this.drive.resume(this.values, this.failures, this.thrown)
  }
}

/** Locks `key` while a timed-out write may still land; the function it returns ends that. */
function lateWrite(handle, key, limit) {
  handle.beginLateWrite(key)
  const end = () => {
    clearTimeout(grace)
    if (grace !== undefined) handle.endLateWrite(key)
    grace = undefined
  }
  let grace = setTimeout(end, limit).unref()
  return end
}

/**
 * Resolves true once the operation's lock wait may be over, false after the storage timeout. The
 * timer keeps the process alive: a lock is only waited for while its holder runs.
 */
function lockReleased(id) {
  return new Promise((resolve) => {
    let timer
    const woken = () => {
      clearTimeout(timer)
      resolve(true)
    }
    if (native.waitForOperation(id, woken)) return resolve(true)
    timer = setTimeout(resolve, storageTimeout(), false)
  })
}

/**
 * A native start or resume returned an operation under way (its id and calls), not its value: no
 * operation ends with an array whose first element is a number.
 */
const isPending = (progress) => Array.isArray(progress) && typeof progress[0] === 'number'

/**
 * Drives an operation under way to its end: makes each batch of calls it hands out, and hands
 * the answers back. `then` makes the value the Promise resolves with from the operation's value
 * (in the same turn, saving the caller an `await`).
 */
class Drive {
  constructor(id, storage, handle, then, resolve, reject) {
    this.id = id
    this.storage = storage
    this.handle = handle
    this.then = then
    this.resolve = resolve
    this.reject = reject
    // A failure's cause is what the storage threw in the batch that failed, not in an earlier
    // one the operation got past (a best-effort delete).
    this.thrown = null
    this.finished = false
  }

  /** Makes the calls of `batch`, the next batch. */
  next(batch) {
    try {
      const count = callCount(batch)
      // No calls: the operation waits for a key lock, or for a restore it joined.
      if (count === 0) {
        lockReleased(this.id).then(
          (released) => this.resume([], null, null, released ? null : storageTimeout()),
          (error) => this.fail(error),
        )
      } else {
        new Batch(this, batch).start()
      }
    } catch (error) {
      this.fail(error)
    }
  }

  /** Hands the answers of the last batch back (`thrown` the first value thrown in it). */
  resume(values, failures, thrown, gaveUpWaitingMs = null) {
    if (this.finished) return
    let progress
    try {
      if (failures !== null) this.thrown = thrown
      progress = native.resumeOperation(this.id, values, failures, gaveUpWaitingMs)
    } catch (error) {
      return this.fail(error)
    }
    if (isPending(progress)) return this.next(progress)
    this.finished = true
    // A write that failed inside an operation that succeeded: its error, with the cause.
    if (this.thrown !== null && progress?.notStored != null) progress.notStored.thrown = this.thrown.value
    if (this.then === undefined) return this.resolve(progress)
    try {
      this.resolve(this.then(progress))
    } catch (error) {
      this.reject(error)
    }
  }

  /** However the driving ended, the operation goes, and with it every lock it holds. */
  fail(error) {
    if (this.finished) return
    this.finished = true
    try {
      native.cancelOperation(this.id)
    } catch {
      // Nothing left to release.
    }
    this.reject(this.thrown === null ? fromNative(error) : fromNative(error, this.thrown.value))
  }
}

/**
 * Runs a native operation on `storage` (the default storage when undefined): `start(handle,
 * parent, ...args)` finishes at once or returns the operation under way, to drive.
 */
const run = (start, storage, ...args) => started(undefined, storage, start, args, undefined)

/**
 * `run`, resolving with `then(value)`, made as soon as the operation ends: one Promise hop
 * fewer than awaiting `run` and then making it. What `then` throws rejects.
 */
const runThen = (then, start, storage, ...args) => started(undefined, storage, start, args, then)

/** `run`, for a caller that already holds the storage's handle. */
const runOn = (handle, storage, start, ...args) => started(handle, storage, start, args, undefined)

function started(handle, storage, start, args, then) {
  let outcome
  try {
    handle ??= handleFor(storage)
    outcome = start(handle, invoking, ...args)
  } catch (error) {
    return Promise.reject(fromNative(error))
  }
  if (isPending(outcome)) return new Promise((resolve, reject) => new Drive(outcome[0], storage, handle, then, resolve, reject).next(outcome))
  try {
    return Promise.resolve(then === undefined ? outcome : then(outcome))
  } catch (error) {
    return Promise.reject(error)
  }
}

module.exports = { run, runOn, runThen }

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
 * How a storage call that failed is told to the native side: how it failed and the kind of value,
 * never the value's own text.
 */
const failureOf = (index, how, error) => ({ index, message: `${how} ${kindOf(error)} (kept as this error's cause)` })

/**
 * Makes one batch of calls at once; resolves with the answers (the values as given: the native
 * side reads them), the failures, and the first value thrown. Storage calls are timed out;
 * HTTP requests have timeouts of their own, and a sleep is no storage call.
 */
function callAll(storage, batch, operationId, handle) {
  const count = callCount(batch)
  const limit = storageTimeout()
  const values = new Array(count)
  // A plain array: a typed array's buffer is an allocation of its own, on every batch.
  const settled = new Array(count).fill(false)
  const late = []
  let failures = null
  let thrown = null
  let pending = count
  let finish
  const answers = new Promise((resolve) => (finish = resolve))
  const done = (i, failure) => {
    settled[i] = true
    if (failure !== undefined) (failures ??= []).push(failure)
    if (--pending > 0) return
    clearTimeout(timer)
    finish({ values, failures, thrown })
  }
  let anyTimed = false
  for (let i = 0; i < count; i++) anyTimed ||= timed(batch, 1 + i * CALL_SLOTS)
  // Unref'd: a store that never answers does not keep a script alive; a server gets the error.
  const timer = anyTimed && setTimeout(() => {
    for (let i = 0; i < count; i++) {
      const at = 1 + i * CALL_SLOTS
      if (settled[i] || !timed(batch, at)) continue
      if (debug.enabled) debug('%s did not settle within %d ms', described(batch, at), limit)
      // A write that timed out may still land: until it settles, or a second timeout passes and
      // it counts as lost, its key stays locked, lest it undo a later read-modify-write.
      if ((batch[at] & 7) !== GET) late[i] = lateWrite(handle, batch[at + 1], limit)
      done(i, { index: i, timedOutMs: limit })
    }
  }, limit).unref()
  const fail = (i, how, error) => {
    if (settled[i]) return late[i]?.()
    thrown ??= { value: error }
    const failure = failureOf(i, how, error)
    if (debug.enabled && !isPromise(batch[1 + i * CALL_SLOTS])) debug('%s failed: %s', described(batch, 1 + i * CALL_SLOTS), failure.message)
    done(i, failure)
  }
  const succeed = (i, value) => {
    if (settled[i]) return late[i]?.()
    values[i] = unboxed(value)
    done(i)
  }
  // Thenables of any kind are unwrapped as `await` would; anything else is the answer.
  const settle = (i, result) => {
    let then
    try {
      then = result?.then
    } catch (error) {
      return fail(i, 'its answer could not be read: looking for its then method threw', error)
    }
    if (typeof then !== 'function') return succeed(i, result)
    Promise.resolve(result).then(
      (value) => succeed(i, value),
      (error) => fail(i, 'it rejected with', error),
    )
  }
  for (let i = 0; i < count; i++) {
    try {
      settle(i, invokeFor(operationId, storage, batch, 1 + i * CALL_SLOTS))
    } catch (error) {
      fail(i, 'it threw', error)
    }
  }
  return answers
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
 * The one storage call of a batch, made and awaited without a batch of ours: the store's own
 * Promise is followed directly (one Promise hop), and a timer of its own times it.
 */
class SingleCall {
  /** The call in the first slots of `batch`. */
  constructor(drive, batch) {
    this.drive = drive
    this.batch = batch
    this.settled = false
    this.late = undefined
    this.limit = storageTimeout()
    this.timer = undefined
  }

  /** Makes the call; the drive hears of its outcome once. */
  start() {
    const { drive, batch } = this
    // Set before the call, as the batch's timer is: a lock wait the call itself starts (a store
    // that re-enters) is timed after it, for as long, so this one ends first. Unref'd: a store
    // that never answers does not keep a script alive; a server gets the error.
    this.timer = setTimeout(() => this.timedOut(), this.limit).unref()
    let result
    try {
      result = invokeFor(drive.id, drive.storage, batch, 1)
    } catch (error) {
      return this.failLater('it threw', error)
    }
    let then
    try {
      then = result?.then
    } catch (error) {
      return this.failLater('its answer could not be read: looking for its then method threw', error)
    }
    // A value given at once is handed on a turn later, as `await` would.
    if (typeof then !== 'function') return queueMicrotask(() => this.succeeded(result))
    // A native Promise is followed as it is; any other thenable is unwrapped as `await` would.
    const succeeded = (value) => this.succeeded(value)
    const failed = (error) => this.failed('it rejected with', error)
    try {
      if (then === promiseThen && isPromise(result)) promiseThen.call(result, succeeded, failed)
      else Promise.resolve(result).then(succeeded, failed)
    } catch (error) {
      this.failLater('it threw', error)
    }
  }

  /** A failure known at once, handed on a turn later, as `await` would. */
  failLater(how, error) {
    queueMicrotask(() => this.failed(how, error))
  }

  succeeded(value) {
    if (this.settled) return this.late?.()
    this.settled = true
    clearTimeout(this.timer)
    this.drive.resume([unboxed(value)], null, null)
  }

  failed(how, error) {
    if (this.settled) return this.late?.()
    this.settled = true
    clearTimeout(this.timer)
    const failure = failureOf(0, how, error)
    if (debug.enabled) debug('%s failed: %s', described(this.batch, 1), failure.message)
    this.drive.resume([undefined], [failure], { value: error })
  }

  timedOut() {
    if (this.settled) return
    this.settled = true
    const { batch, limit } = this
    if (debug.enabled) debug('%s did not settle within %d ms', described(batch, 1), limit)
    // A write that timed out may still land: until it settles, or a second timeout passes and
    // it counts as lost, its key stays locked, lest it undo a later read-modify-write.
    if ((batch[1] & 7) !== GET) this.late = lateWrite(this.drive.handle, batch[2], limit)
    this.drive.resume([undefined], [{ index: 0, timedOutMs: limit }], null)
  }
}

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
      } else if (count === 1 && timed(batch, 1)) {
        new SingleCall(this, batch).start()
      } else {
        callAll(this.storage, batch, this.id, this.handle).then(
          (answers) => this.resume(answers.values, answers.failures, answers.thrown),
          (error) => this.fail(error),
        )
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

function drive(batch, storage, handle, then) {
  return new Promise((resolve, reject) => new Drive(batch[0], storage, handle, then, resolve, reject).next(batch))
}

/**
 * Runs a native operation on `storage` (the default storage when undefined): `start(handle,
 * parent, ...args)` finishes at once or returns the operation under way, to drive.
 */
function run(start, storage, ...args) {
  return runOn(handleFor(storage), storage, start, ...args)
}

/** `run`, for a caller that already holds the storage's handle. */
function runOn(handle, storage, start, ...args) {
  return started(handle, storage, start, args, undefined)
}

/**
 * `run`, resolving with `then(value)`, made as soon as the operation ends: one Promise hop
 * fewer than awaiting `run` and then making it. What `then` throws rejects.
 */
function runThen(then, start, storage, ...args) {
  let handle
  try {
    handle = handleFor(storage)
  } catch (error) {
    return Promise.reject(error)
  }
  return started(handle, storage, start, args, then)
}

function started(handle, storage, start, args, then) {
  let outcome
  try {
    outcome = start(handle, invoking, ...args)
  } catch (error) {
    return Promise.reject(fromNative(error))
  }
  if (isPending(outcome)) return drive(outcome, storage, handle, then)
  if (then === undefined) return Promise.resolve(outcome)
  try {
    return Promise.resolve(then(outcome))
  } catch (error) {
    return Promise.reject(error)
  }
}

module.exports = { run, runOn, runThen }

'use strict'
// The storage edge: InMemoryStorage (native), the handle for a JS store and the process-wide
// settings. The driver that makes on a store the calls a native operation asks for is
// driver.js. Neither knows keys, a layout or the protocol.

const native = require('../binding.js')
const { invalidArgument } = require('./errors.js')

// NODE_DEBUG=solid-client-authn-native: requests to providers, restores, storage failures. Never
// a token, secret, code or key: fields are chosen one by one, outside text goes through quote().
const debug = require('node:util').debuglog('solid-client-authn-native')
if (debug.enabled) native.logHttpRequests(true)

// The binding makes its hot arrays (a batch of calls, a restore's summary) with this: V8 builds
// an array from a call's arguments faster than Node-API fills one (src/binding/arrays.rs).
native.setArrayMaker((...items) => items)

let storageTimeoutMs = 10_000

function checkedMillis(ms, what) {
  if (typeof ms === 'number' && ms >= 1 && ms <= 2 ** 31 - 1) return ms
  throw invalidArgument(`The ${what} timeout must be a number of milliseconds between 1 and ${2 ** 31 - 1}, got ${typeof ms === 'number' ? ms : typeof ms}`)
}

/** How long a storage call (or a wait for another operation's lock) may take (default 10 s). */
function setStorageTimeout(ms) {
  storageTimeoutMs = checkedMillis(ms, 'storage')
  // RedisStorage's calls are timed natively, by the same limit.
  native.setNativeStorageTimeout(Math.ceil(storageTimeoutMs))
}

/** How long a request to an identity provider may take (default 3,500 ms, as the reference). */
function setIdentityProviderTimeout(ms) {
  native.setIdpTimeout(Math.round(checkedMillis(ms, 'identity provider')))
}

/** Refuses (true) or allows (false, the default) identity providers off the public internet. */
function setBlockPrivateNetworks(block) {
  if (typeof block !== 'boolean') throw invalidArgument(`setBlockPrivateNetworks expects true or false, got ${typeof block}`)
  native.setBlockPrivateNetworks(block)
}

const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** Refuses text with an unpaired surrogate: a Rust string would make it U+FFFD, two IDs one. */
function checkWellFormed(text, what) {
  if (text.isWellFormed()) return
  throw invalidArgument(`${what} holds an unpaired UTF-16 surrogate (at index ${text.search(UNPAIRED_SURROGATE)}), which this package does not support`)
}

let nativeOf

/** A storage kept in this process's memory, in Rust. Implements IStorage. */
class InMemoryStorage {
  #native = native.NativeStorage.memory()

  async get(key) {
    return this.#native.getEntry(String(key)) ?? undefined
  }

  async set(key, value) {
    this.#native.setEntry(String(key), value)
  }

  async delete(key) {
    this.#native.deleteEntry(String(key))
  }

  static {
    const { get, set, delete: del } = InMemoryStorage.prototype
    // A subclass that overrides a method gets its own method called, through the JS path.
    nativeOf = (storage) => {
      try {
        if (#native in storage && storage.get === get && storage.set === set && storage.delete === del) return storage.#native
      } catch {
        // A proxy that throws: a JS store like any other.
      }
    }
  }
}

/** Other storages implemented natively (RedisStorage): each recogniser answers its handle. */
const recognisers = []

function recogniseNative(recogniser) {
  recognisers.push(recogniser)
}

function nativeHandle(storage) {
  if (typeof storage !== 'object') return undefined
  const handle = nativeOf(storage)
  if (handle !== undefined) return handle
  for (const recognise of recognisers) {
    try {
      const found = recognise(storage)
      if (found !== undefined) return found
    } catch {
      // A proxy that throws: a JS store like any other.
    }
  }
}

/** The process-wide default storage, made once when the module loads. */
const defaultStorage = new InMemoryStorage()
const hostHandles = new WeakMap()

/**
 * The `typeof` of `value`'s get, set and delete, each looked up once, in that order; undefined
 * when `value` is no object or looking one up threw.
 */
function methodTypes(value) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined
  try {
    return [typeof value.get, typeof value.set, typeof value.delete]
  } catch {
    return undefined
  }
}

/** What keeps `value` from being an IStorage, in words; undefined when nothing does. Never throws. */
function storageProblem(value) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return `it is ${value === null ? 'null' : `a ${typeof value}`}`
  const types = methodTypes(value)
  if (types === undefined) return 'looking up its methods threw'
  if (types[0] === 'function' && types[1] === 'function' && types[2] === 'function') return undefined
  const missing = ['get', 'set', 'delete'].filter((_, i) => types[i] !== 'function')
  return missing.length === 0 ? undefined : `it has no ${missing.join(', no ')} function`
}

/** Whether `value` is an IStorage: `storageProblem` without the words (an options object is not one, on every call). */
const isStorage = (value) => {
  const types = methodTypes(value)
  return types !== undefined && types[0] === 'function' && types[1] === 'function' && types[2] === 'function'
}

/** The native handle for a storage; undefined and null mean the default storage. */
function handleFor(storage) {
  if (storage == null) return nativeOf(defaultStorage)
  let handle = nativeHandle(storage) ?? hostHandles.get(storage)
  if (handle !== undefined) return handle
  const problem = storageProblem(storage)
  if (problem !== undefined) throw invalidArgument(`A storage must be an object with get, set and delete methods (the IStorage interface); ${problem}`)
  let atomic = false
  try {
    // The optional atomic setIfAbsent(key, value, ttlMs) makes refresh leases exact across processes.
    atomic = typeof storage.setIfAbsent === 'function'
  } catch {
    // An accessor that throws: the method is not there to use.
  }
  handle = native.NativeStorage.host(atomic)
  hostHandles.set(storage, handle)
  return handle
}

module.exports = {
  InMemoryStorage,
  recogniseNative,
  defaultStorage,
  isStorage,
  storageProblem,
  handleFor,
  storageTimeout: () => storageTimeoutMs,
  debug,
  setStorageTimeout,
  setIdentityProviderTimeout,
  setBlockPrivateNetworks,
  checkWellFormed,
}

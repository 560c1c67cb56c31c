'use strict'
// RedisStorage: sessions in Redis, with the calls made in Rust (src/redis_engine.rs). Operations
// on it never call into JS for a storage call: the binding sends each batch of an operation's
// calls as one pipeline and hands JS a Promise to await in its place. The methods below are for
// JS code that calls the IStorage methods itself; the keys and values are those any IStorage
// sees, so a node-redis adapter on the same Redis and prefix reads what this one writes.

const native = require('../binding.js')
const { fromNative, invalidArgument } = require('./errors.js')
const { recogniseNative } = require('./storage.js')

const MAX_MS = 2 ** 31 - 1

function checkedOptions(options) {
  if (options === null || typeof options !== 'object') throw invalidArgument(`new RedisStorage(options) expects an object with a url, got ${options === null ? 'null' : typeof options}`)
  const { url, keyPrefix = '', commandTimeoutMs, connectTimeoutMs } = options
  if (typeof url !== 'string' && !(url instanceof URL)) throw invalidArgument(`RedisStorage's url must be a string such as "redis://localhost:6379", got ${typeof url}`)
  if (typeof keyPrefix !== 'string') throw invalidArgument(`RedisStorage's keyPrefix must be a string, got ${typeof keyPrefix}`)
  const millis = (value, name) => {
    if (value === undefined) return undefined
    if (Number.isInteger(value) && value >= 1 && value <= MAX_MS) return value
    throw invalidArgument(`RedisStorage's ${name} must be a whole number of milliseconds between 1 and ${MAX_MS}, got ${typeof value === 'number' ? value : typeof value}`)
  }
  return [String(url), keyPrefix, millis(commandTimeoutMs, 'commandTimeoutMs'), millis(connectTimeoutMs, 'connectTimeoutMs')]
}

/** What a direct call resolved with: its value, or the StorageError it failed with. */
function answered(result) {
  if (result !== null && typeof result === 'object') throw fromNative(result)
  return result
}

function checkedValue(value) {
  if (typeof value !== 'string') throw invalidArgument(`A RedisStorage value must be a string, got ${value === null ? 'null' : typeof value}`)
  return value
}

/** An IStorage in Redis (standalone), whose calls this package makes natively. */
class RedisStorage {
  #native

  constructor(options) {
    this.#native = native.NativeStorage.redis(...checkedOptions(options))
  }

  async get(key) {
    return answered(await this.#native.redisCall('get', String(key))) ?? undefined
  }

  async set(key, value) {
    answered(await this.#native.redisCall('set', String(key), checkedValue(value)))
  }

  async delete(key) {
    answered(await this.#native.redisCall('delete', String(key)))
  }

  /** Stores `value` unless `key` holds one (SET NX PX); resolves true when it stored. */
  async setIfAbsent(key, value, ttlMs) {
    if (typeof ttlMs !== 'number' || !(ttlMs > 0)) throw invalidArgument(`setIfAbsent's ttlMs must be a positive number, got ${typeof ttlMs === 'number' ? ttlMs : typeof ttlMs}`)
    return answered(await this.#native.redisCall('setIfAbsent', String(key), checkedValue(value), ttlMs)) !== null
  }

  /** Closes the connection: later calls reject with a StorageError. */
  async close() {
    this.#native.closeRedis()
  }

  static {
    const { get, set, delete: del, setIfAbsent } = RedisStorage.prototype
    // As for InMemoryStorage: a subclass that overrides a method is a JS store, called as one.
    recogniseNative((storage) => {
      if (#native in storage && storage.get === get && storage.set === set && storage.delete === del && storage.setIfAbsent === setIfAbsent) return storage.#native
    })
  }
}

module.exports = { RedisStorage }

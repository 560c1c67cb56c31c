'use strict'
// RedisStorage: sessions in Redis, a Redis Cluster or behind Redis Sentinel, with the calls made
// in Rust (src/redis/). Operations on it never call into JS for a storage
// call: the binding sends each batch of an operation's calls as one pipeline (on a cluster, one
// per slot, together) and hands JS a Promise to await in its place. The methods below are for JS
// code that calls the IStorage methods itself; the keys and values are those any IStorage sees,
// so a node-redis adapter on the same Redis (or cluster) and prefix reads what this one writes.

const native = require('../binding.js')
const { fromNative, invalidArgument } = require('./errors.js')
const { recogniseNative } = require('./storage.js')

const MAX_MS = 2 ** 31 - 1

const isUrl = (value) => typeof value === 'string' || value instanceof URL

/** The `sentinel` option, checked: where the sentinels are and what they call the master. */
function sentinelOf(sentinel) {
  if (sentinel === null || typeof sentinel !== 'object' || Array.isArray(sentinel)) throw invalidArgument(`RedisStorage's sentinel must be an object such as { nodes: ["redis://10.0.0.1:26379"], masterName: "mymaster" }, got ${sentinel === null ? 'null' : Array.isArray(sentinel) ? 'an array' : typeof sentinel}`)
  const { nodes, masterName, username, password, db } = sentinel
  if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(isUrl)) throw invalidArgument('RedisStorage\'s sentinel.nodes must be a non-empty array of sentinel urls such as "redis://10.0.0.1:26379"')
  if (typeof masterName !== 'string' || masterName === '') throw invalidArgument(`RedisStorage's sentinel.masterName must be the non-empty name the sentinels monitor the master under, got ${typeof masterName === 'string' ? 'an empty string' : typeof masterName}`)
  for (const [name, value] of [['username', username], ['password', password]]) {
    if (value !== undefined && typeof value !== 'string') throw invalidArgument(`RedisStorage's sentinel.${name} must be a string, got ${value === null ? 'null' : typeof value}`)
  }
  if (db !== undefined && !(Number.isInteger(db) && db >= 0 && db <= MAX_MS)) throw invalidArgument(`RedisStorage's sentinel.db must be a whole number of at least 0, got ${typeof db === 'number' ? db : typeof db}`)
  return { nodes: nodes.map(String), masterName, username, password, db }
}

/** The native handle for `options`: one Redis (`url`), a Redis Cluster (`cluster`) or the master behind Redis Sentinel (`sentinel`). */
function nativeFor(options) {
  if (options === null || typeof options !== 'object') throw invalidArgument(`new RedisStorage(options) expects an object with a url, a cluster or a sentinel, got ${options === null ? 'null' : typeof options}`)
  const { url, cluster, sentinel, keyPrefix = '', commandTimeoutMs, connectTimeoutMs } = options
  const given = [url, cluster, sentinel].filter((value) => value !== undefined).length
  if (given > 1) throw invalidArgument('RedisStorage takes one of a url (one Redis), a cluster (a list of its nodes\' urls) or a sentinel (its sentinels and master name), not several')
  if (given === 0) throw invalidArgument('RedisStorage needs a url (one Redis), a cluster (a list of its nodes\' urls) or a sentinel (its sentinels and master name)')
  if (typeof keyPrefix !== 'string') throw invalidArgument(`RedisStorage's keyPrefix must be a string, got ${typeof keyPrefix}`)
  const millis = (value, name) => {
    if (value === undefined) return undefined
    if (Number.isInteger(value) && value >= 1 && value <= MAX_MS) return value
    throw invalidArgument(`RedisStorage's ${name} must be a whole number of milliseconds between 1 and ${MAX_MS}, got ${typeof value === 'number' ? value : typeof value}`)
  }
  const rest = [keyPrefix, millis(commandTimeoutMs, 'commandTimeoutMs'), millis(connectTimeoutMs, 'connectTimeoutMs')]
  if (sentinel !== undefined) return native.NativeStorage.redis(sentinelOf(sentinel), ...rest)
  if (cluster !== undefined) {
    // A single URL is taken as a list of one: the client learns the other nodes from it.
    const nodes = isUrl(cluster) ? [cluster] : cluster
    if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(isUrl)) throw invalidArgument('RedisStorage\'s cluster must be a non-empty array of node urls such as "redis://10.0.0.1:6379"')
    return native.NativeStorage.redis(nodes.map(String), ...rest)
  }
  if (!isUrl(url)) throw invalidArgument(`RedisStorage's url must be a string such as "redis://localhost:6379", got ${typeof url}`)
  return native.NativeStorage.redis(String(url), ...rest)
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

/** An IStorage in Redis (one server, a cluster, or the master behind Sentinel), whose calls this package makes natively. */
class RedisStorage {
  #native

  constructor(options) {
    this.#native = nativeFor(options)
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

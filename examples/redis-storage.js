'use strict'
// Sessions in Redis, so that every process of an app (cluster workers, several hosts) sees the
// same logins. This is an IStorage for solid-client-authn-native over a node-redis (v5 or v6)
// client that you create, connect and close yourself; the package itself does not depend on
// Redis. Copy this file into your app. From CommonJS: require('./redis-storage.js'); from ESM:
// import { createRedisStorage, redisClientOptions } from './redis-storage.js'.
//
//   const { createClient } = require('redis')
//   const client = createClient(redisClientOptions(process.env.REDIS_URL))
//   // Without an 'error' listener, node-redis's first disconnect crashes the process.
//   client.on('error', (err) => console.warn('redis:', err.message))
//   await client.connect()
//   const storage = createRedisStorage(client, { prefix: 'myapp:' })
//   // Create the storage once and pass this same object everywhere: the package serialises its
//   // updates per storage object.
//   const session = await getSessionFromStorage(sessionId, { storage })

/**
 * createClient options for a server whose sessions live in Redis. While Redis is down, every
 * storage call rejects at once, so a request fails with the package's StorageError instead of
 * hanging; the client reconnects by itself, and calls succeed again as soon as Redis is back.
 */
function redisClientOptions(url) {
  return {
    url,
    // By default node-redis holds commands made while disconnected until it reconnects, however
    // long that takes. Rejecting them lets the request fail now, with an error that says why.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      // Never give up (a strategy that returns an Error closes the client for good): retry soon
      // after a blip, then every 2 s for as long as the outage lasts.
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000),
    },
    // A Redis that keeps the connection open but stops answering (frozen, or a network that
    // drops packets) is not caught here: node-redis's command timeout only covers commands not
    // yet sent. The package's storage timeout (setStorageTimeout, 10 s by default) rejects such
    // calls with StorageError ERR_STORAGE_TIMEOUT; lower it if your requests cannot wait that long.
  }
}

/**
 * An IStorage over a connected node-redis client. `prefix` is put before every key, so that
 * several apps (or tests) can share one Redis database.
 */
function createRedisStorage(client, { prefix = '' } = {}) {
  return {
    async get(key) {
      // Redis answers null for a missing key; IStorage says undefined.
      return (await client.get(prefix + key)) ?? undefined
    },
    async set(key, value) {
      await client.set(prefix + key, value)
    },
    async delete(key) {
      await client.del(prefix + key)
    },
    /**
     * Optional: the package uses it, when a storage has it, for leases that let one process of
     * many refresh a session while the others wait for its result. SET NX is atomic, so of many
     * processes asking at once exactly one gets true; PX makes the lease lapse by itself if its
     * holder dies. Resolves true when the key was set, false when it already existed.
     */
    async setIfAbsent(key, value, ttlMs) {
      const reply = await client.set(prefix + key, value, {
        condition: 'NX',
        expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttlMs)) },
      })
      return reply !== null
    },
  }
}

module.exports = { createRedisStorage, redisClientOptions }

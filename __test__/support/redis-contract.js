'use strict'
// What every Redis store must do with the multi-session functions, checked the same way for
// RedisStorage (redis-storage.test.js) and the node-redis adapter (redis.test.js).

const assert = require('node:assert/strict')
const lib = require('../..')
const binding = require('../../binding.js')
const { LIST_KEY, RECORD_PREFIX, loggedInRecord, seed } = require('../helpers.js')

/**
 * Sessions stored, listed, restored, logged out and cleared on `storage`, whose keys go under the
 * prefix `app1:` of the Redis that `client` (node-redis) reads; `other` is a store under another
 * prefix of it. `logIn(storage, id)` logs a session in with `op`'s client credentials.
 */
async function checkMultiSessionFunctions({ storage, other, client, op, logIn }) {
  await seed(storage, { s1: loggedInRecord(), s2: loggedInRecord({ webId: 'https://bob.example/#me' }) })
  await logIn(storage, 'cc-a')
  const b = await logIn(storage, 'cc-b')
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['s1', 's2', 'cc-a', 'cc-b'])
  assert.deepEqual(await lib.getSessionIdFromStorageAll(other), [], 'another prefix is another store')

  // The reference's layout, under the prefix, as any IStorage gets it.
  assert.deepEqual(JSON.parse(await client.get(`app1:${LIST_KEY}`)), ['s1', 's2', 'cc-a', 'cc-b'])
  const record = JSON.parse(await client.get(`app1:${RECORD_PREFIX}cc-a`))
  assert.equal(record.issuer, op.issuer)
  assert.equal(record.webId, op.webId)
  assert.ok(record.accessToken && record.privateKey)
  assert.equal(await client.get(LIST_KEY), null, 'nothing is written outside the prefix')

  const bob = await lib.getSessionFromStorage('s2', { storage, refreshSession: false })
  assert.equal(bob.info.webId, 'https://bob.example/#me')
  // A client-credentials session restores with its stored access token: nothing is sent.
  const sent = binding.httpRequestsSent()
  const a = await lib.getSessionFromStorage('cc-a', { storage })
  assert.equal(binding.httpRequestsSent() - sent, 0, 'the stored access token is used')
  assert.equal(a.info.isLoggedIn, true)
  assert.equal(a.info.webId, op.webId)
  assert.equal((await a.fetch(op.privateResource)).status, 200)
  // Redis answers null for a missing key; the store says undefined, and so nobody is there.
  assert.equal(await storage.get('missing'), undefined)
  assert.equal(await lib.getSessionFromStorage('nobody', { storage }), undefined)

  await b.logout()
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['s1', 's2', 'cc-a'])
  assert.equal(await client.get(`app1:${RECORD_PREFIX}cc-b`), null)
  await lib.clearSessionFromStorageAll(storage)
  assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), [])
  const left = await client.keys('app1:*')
  assert.deepEqual(left.filter((key) => key.includes(RECORD_PREFIX)), [], `left: ${left.join(', ')}`)
}

module.exports = { checkMultiSessionFunctions }

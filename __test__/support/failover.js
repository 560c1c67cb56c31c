'use strict'
// Sessions used through a failover, for the tests of RedisStorage on a Redis Cluster and behind
// Redis Sentinel: restores of stored sessions and logins of new ones, in two loops, until the
// failover is over.

const assert = require('node:assert/strict')
const { setTimeout: sleep } = require('node:timers/promises')
const { StorageError, getSessionFromStorage } = require('../..')

/**
 * Restores the sessions `ids` from `storage` and logs new ones in with `login(storage, id)`
 * until `failingOver` resolves. Every call must settle within `commandTimeoutMs` (and a second),
 * logged in or with a StorageError whose message does not hold `secret`. Resolves with what
 * happened meanwhile: restores logged in, the IDs of the logins that resolved, StorageErrors,
 * their messages, and the slowest call.
 */
async function throughFailover(t, { storage, ids, login, failingOver, commandTimeoutMs, secret }) {
  let over = false
  const done = failingOver.finally(() => (over = true))
  const during = { loggedIn: 0, storageErrors: 0, slowest: 0, logins: [], errors: new Set() }
  const timed = async (call) => {
    const started = Date.now()
    try {
      return await call()
    } finally {
      during.slowest = Math.max(during.slowest, Date.now() - started)
    }
  }
  const settled = (error) => {
    assert.ok(error instanceof StorageError, `a call during the failover rejected with ${error?.stack ?? error}`)
    if (secret !== undefined) assert.ok(!error.message.includes(secret), error.message)
    during.storageErrors++
    during.errors.add(error.message.replace(/"[^"]*"/, '…'))
    return sleep(20)
  }
  const restores = (async () => {
    for (let i = 0; !over; i++) {
      try {
        const session = await timed(() => getSessionFromStorage(ids[i % ids.length], { storage }))
        assert.equal(session?.info.isLoggedIn, true)
        during.loggedIn++
      } catch (error) {
        await settled(error)
      }
    }
  })()
  const logins = (async () => {
    for (let i = 0; !over; i++) {
      try {
        await timed(() => login(storage, `during-${i}`))
        during.logins.push(`during-${i}`)
      } catch (error) {
        await settled(error)
      }
    }
  })()
  await Promise.all([restores, logins, done])
  t.diagnostic(
    `during the failover: ${during.loggedIn} restores logged in, ${during.logins.length} logins, ${during.storageErrors} StorageErrors (${[...during.errors].join('; ')}); slowest call ${during.slowest} ms (command timeout ${commandTimeoutMs} ms)`,
  )
  assert.ok(during.slowest < commandTimeoutMs + 1_000, `a call took ${during.slowest} ms`)
  return during
}

module.exports = { throughFailover }

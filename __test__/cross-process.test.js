'use strict'
// Many processes, one Redis: four processes restore and use the same sessions concurrently for
// over five access-token lifetimes, against an oidc-provider that rotates refresh tokens and
// revokes the whole grant when a used one comes back. Without coordination two processes refresh
// a session at once and the second revokes it; with the refresh lease (crates/core/src/storage/lease.rs) one process
// refreshes and the others use what it stores. Run with the optional atomic setIfAbsent
// (Redis SET NX PX) and with a plain IStorage.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { createClient } = require('redis')
const { Session, getSessionFromStorage, refreshSession } = require('..')
const { startOp } = require('./support/servers.js')
const { startRedis } = require('./support/redis.js')
const { createRedisStorage, redisClientOptions } = require('../examples/redis-storage.js')

const PROCESSES = 4
const SESSIONS = 50
const AT_TTL_S = 10
const DURATION_MS = 5 * AT_TTL_S * 1000 + 1000
const REDIRECT = 'http://localhost:9/callback'
const WORKER = path.join(__dirname, 'support', 'cross-process-worker.js')
const REFERENCE_WORKER = path.join(__dirname, 'support', 'cross-process-reference-worker.mjs')

let op
let redis
let client
let opLogin
test.before(async () => {
  ;[op, redis] = await Promise.all([startOp({ rotate: true, atTtl: AT_TTL_S }), startRedis()])
  client = createClient(redisClientOptions(redis.url))
  client.on('error', () => {})
  await client.connect()
  ;({ opLogin } = await import('./support/op-login.mjs'))
})
test.after(async () => {
  await client?.quit()
  await Promise.all([op?.stop(), redis?.stop()])
})

/** Logs the sessions in (authorization code, refresh tokens that rotate) into `storage`. */
async function logIn(storage, ids) {
  for (const id of ids) {
    // keepAlive false: the sessions are refreshed by the restores alone, which the test counts.
    const session = new Session({ storage, keepAlive: false }, id)
    const url = await session.login({ oidcIssuer: op.issuer, redirectUrl: REDIRECT, clientName: 'cross-process test', handleRedirect: () => {} })
    await session.handleIncomingRedirect(await opLogin(url, { redirectUrl: REDIRECT }))
    assert.equal(session.info.isLoggedIn, true)
  }
}

function runWorker(env, script = WORKER) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { env: { ...process.env, ...env }, timeout: DURATION_MS + 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? reject(new Error(`a worker failed: ${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    )
  })
}

for (const [variant, atomic] of [
  ['with setIfAbsent (SET NX PX)', true],
  ['with a plain IStorage (leases written and read back)', false],
]) {
  test(`${PROCESSES} processes share ${SESSIONS} sessions ${variant}: no grant revoked, no refresh token lost`, { timeout: 300_000 }, async () => {
    const prefix = `cp-${atomic ? 'atomic' : 'plain'}:`
    const storage = createRedisStorage(client, { prefix })
    const ids = Array.from({ length: SESSIONS }, (_, i) => `s${i}`)
    await logIn(storage, ids)
    const before = await op.stats()

    const reports = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        runWorker({ REDIS_URL: redis.url, PREFIX: prefix, IDS: ids.join(','), RESOURCE: op.privateResource, DURATION_MS: String(DURATION_MS), ATOMIC: atomic ? '1' : '0' }),
      ),
    )
    const after = await op.stats()

    const failures = reports.flatMap((r) => r.failures)
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} restores or fetches failed`)
    const restores = reports.reduce((n, r) => n + r.restores, 0)
    assert.equal(reports.reduce((n, r) => n + r.fetched, 0), restores, 'every restore fetched the resource')
    assert.deepEqual(after.grantErrors, before.grantErrors, 'no token request was refused: no refresh token was used twice')

    // Token requests: each one a refresh that some process saw through onNewRefreshToken, and
    // per session no more than one per access token (a token is refreshed when a fifth of its
    // lifetime is left, so at most one every 4/5 of a lifetime).
    const refreshRequests = (after.tokenByGrant.refresh_token ?? 0) - (before.tokenByGrant.refresh_token ?? 0)
    const perSession = Object.fromEntries(ids.map((id) => [id, reports.reduce((n, r) => n + (r.refreshes[id] ?? 0), 0)]))
    assert.equal(Object.values(perSession).reduce((a, b) => a + b, 0), refreshRequests, 'every token request is a refresh some process made')
    const bound = Math.floor(DURATION_MS / (0.8 * AT_TTL_S * 1000)) + 1
    for (const [id, count] of Object.entries(perSession)) {
      assert.ok(count >= 4, `session ${id} was refreshed ${count} times in ${DURATION_MS} ms`)
      assert.ok(count <= bound, `session ${id} sent ${count} token requests; at most ${bound} expected`)
    }
    console.log(`# ${variant}: ${restores} restores and fetches, ${refreshRequests} token requests, ${(refreshRequests / SESSIONS).toFixed(1)} per session over ${DURATION_MS / 1000} s (${AT_TTL_S} s tokens)`)

    // Nothing lost: every session still restores, and its grant still refreshes.
    for (const id of ids) {
      const session = await getSessionFromStorage(id, { storage })
      assert.equal(session?.info.isLoggedIn, true, id)
      await refreshSession(session, { storage })
      assert.equal(session.info.isLoggedIn, true, `${id} refreshes`)
    }
  })
}

test('a process running the reference beside ours on the same storage does not make ours fail', { timeout: 300_000 }, async () => {
  // Without rotation: with it, the reference's uncoordinated refreshes revoke grants, ours
  // included, whatever ours does. The reference rewrites the record at every restore (refresh
  // token, keys, isLoggedIn) and carries our access-token fields through; ours keeps working.
  const plainOp = await startOp({ atTtl: AT_TTL_S })
  try {
    const prefix = 'cp-with-reference:'
    const storage = createRedisStorage(client, { prefix })
    const ids = Array.from({ length: 20 }, (_, i) => `r${i}`)
    for (const id of ids) {
      const session = new Session({ storage, keepAlive: false }, id)
      const url = await session.login({ oidcIssuer: plainOp.issuer, redirectUrl: REDIRECT, clientName: 'beside the reference', handleRedirect: () => {} })
      await session.handleIncomingRedirect(await opLogin(url, { redirectUrl: REDIRECT }))
    }
    const env = { REDIS_URL: redis.url, PREFIX: prefix, IDS: ids.join(','), RESOURCE: plainOp.privateResource, DURATION_MS: String(3 * AT_TTL_S * 1000), ATOMIC: '1' }
    const [theirs, ...ours] = await Promise.all([runWorker(env, REFERENCE_WORKER), runWorker(env), runWorker(env), runWorker(env)])
    const failures = ours.flatMap((r) => r.failures)
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of our restores or fetches failed`)
    assert.ok(theirs.restores > 0, 'the reference ran')
    console.log(`# beside the reference: ours ${ours.reduce((n, r) => n + r.fetched, 0)} fetches, 0 failures; the reference ${theirs.fetched} fetches, ${theirs.failures.length} failures`)
    // The reference still reads what ours left.
    const reference = await import('@inrupt/solid-client-authn-node')
    const session = await reference.getSessionFromStorage(ids[0], { storage: { get: storage.get, set: storage.set, delete: storage.delete } })
    assert.equal(session?.info.isLoggedIn, true)
    await session.logout()
  } finally {
    await plainOp.stop()
  }
})

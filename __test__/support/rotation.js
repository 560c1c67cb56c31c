'use strict'
// Refresh with rotation across processes on one Redis (standalone or a cluster), for the tests of
// RedisStorage: sessions logged in through `storage` against an oidc-provider that rotates refresh
// tokens every `atTtlS`-second access token and revokes the grant when a used one comes back, then
// one cross-process-worker.js process per entry of `workers` restoring and using them all for 2.5
// token lifetimes. Checks what must hold whatever the storage: no failure, no grant revoked, every
// token request a refresh some process reported, each session refreshed about once a lifetime.
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const lib = require('../..')
const { startOp } = require('./servers.js')

const REDIRECT = 'http://localhost:9/callback'

/**
 * @param {object} options
 * @param {object} options.storage the storage the sessions are logged in through (this process)
 * @param {string} options.prefix its key prefix, which the workers use too
 * @param {object[]} options.workers one entry per process: the environment it adds (STORAGE,
 *   REDIS_URL)
 * @param {number} [options.sessions=20]
 * @param {number} [options.atTtlS=10] the access tokens' lifetime
 * @returns {Promise<{ reports: object[], refreshRequests: number, ids: string[] }>}
 */
async function rotationAcrossProcesses({ storage, prefix, workers, sessions = 20, atTtlS = 10 }) {
  const durationMs = 2.5 * atTtlS * 1000
  const rotating = await startOp({ rotate: true, atTtl: atTtlS })
  try {
    const { opLogin } = await import('./op-login.mjs')
    const ids = Array.from({ length: sessions }, (_, i) => `rotating-${i}`)
    for (const id of ids) {
      const session = new lib.Session({ storage, keepAlive: false }, id)
      const url = await session.login({ oidcIssuer: rotating.issuer, redirectUrl: REDIRECT, clientName: 'rotation test', handleRedirect: () => {} })
      await session.handleIncomingRedirect(await opLogin(url, { redirectUrl: REDIRECT }))
    }
    const before = await rotating.stats()
    const run = (extra) =>
      new Promise((resolve, reject) => {
        const env = { ...process.env, PREFIX: prefix, IDS: ids.join(','), RESOURCE: rotating.privateResource, DURATION_MS: String(durationMs), ATOMIC: '1', ...extra }
        execFile(process.execPath, [path.join(__dirname, 'cross-process-worker.js')], { env, timeout: durationMs + 60_000 }, (error, stdout, stderr) =>
          error ? reject(new Error(`a worker failed: ${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
        )
      })
    const reports = await Promise.all(workers.map(run))
    const after = await rotating.stats()
    const failures = reports.flatMap((r) => r.failures)
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} restores or fetches failed`)
    assert.deepEqual(after.grantErrors, before.grantErrors, 'no refresh token was used twice')
    const refreshRequests = (after.tokenByGrant.refresh_token ?? 0) - (before.tokenByGrant.refresh_token ?? 0)
    const perSession = ids.map((id) => reports.reduce((n, r) => n + (r.refreshes[id] ?? 0), 0))
    assert.equal(perSession.reduce((a, b) => a + b, 0), refreshRequests, 'every token request is a refresh some process made')
    const bound = Math.floor(durationMs / (0.8 * atTtlS * 1000)) + 1
    for (const [i, count] of perSession.entries()) assert.ok(count >= 2 && count <= bound, `session ${ids[i]}: ${count} refreshes`)
    // Still logged in, and each can still be refreshed: no grant was lost on the way.
    for (const id of ids) {
      const session = await lib.getSessionFromStorage(id, { storage })
      assert.equal(session?.info.isLoggedIn, true, id)
      await lib.refreshSession(session, { storage })
      assert.equal(session.info.isLoggedIn, true, `${id} refreshes`)
    }
    return { reports, refreshRequests, ids }
  } finally {
    await rotating.stop()
  }
}

module.exports = { rotationAcrossProcesses }

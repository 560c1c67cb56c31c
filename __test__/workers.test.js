'use strict'
// Logins in worker threads: each Node environment has its own operations, caches and nonces,
// and a worker terminated in the middle of a request takes nothing down with it.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { startFakeIdp } = require('./support/fake-idp.js')

const script = `
  const { parentPort, workerData } = require('node:worker_threads')
  const lib = require(${JSON.stringify(path.join(__dirname, '..'))})
  const session = new lib.Session()
  session.login({ oidcIssuer: workerData.issuer, clientId: 'worker-client', clientSecret: 'worker-secret' }).then(
    () => parentPort.postMessage({ loggedIn: session.info.isLoggedIn, webId: session.info.webId }),
    (e) => parentPort.postMessage({ error: e.code }),
  )
`

function runWorker(issuer) {
  const worker = new Worker(script, { eval: true, workerData: { issuer } })
  const message = new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  return { worker, message }
}

let idp
test.before(async () => {
  idp = await startFakeIdp()
})
test.after(() => idp.close())

test('four workers log in at once, each in its own environment', async () => {
  idp.answer('normal')
  const runs = Array.from({ length: 4 }, () => runWorker(idp.issuer))
  const results = await Promise.all(runs.map((r) => r.message))
  for (const result of results) assert.deepEqual(result, { loggedIn: true, webId: idp.webId })
  await Promise.all(runs.map((r) => r.worker.terminate()))
})

test('terminating workers in the middle of their requests leaves this thread working', async () => {
  idp.answer('hang')
  for (let i = 0; i < 5; i++) {
    const { worker } = runWorker(idp.issuer)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await worker.terminate()
  }
  idp.answer('normal')
  const lib = require('..')
  const session = new lib.Session()
  await session.login({ oidcIssuer: idp.issuer, clientId: 'main-client', clientSecret: 'main-secret' })
  assert.equal(session.info.isLoggedIn, true)
  await session.logout()
})

test('workers terminated mid-refresh and mid-storage-call crash nothing; the other workers go on', async () => {
  const refreshing = `
    const { parentPort, workerData } = require('node:worker_threads')
    const lib = require(${JSON.stringify(path.join(__dirname, '..'))})
    // A storage that answers late: the refresh is in flight at the provider or in storage.
    const map = new Map()
    const storage = {
      get: (k) => new Promise((r) => setTimeout(() => r(map.get(k)), workerData.storageDelay)),
      set: (k, v) => new Promise((r) => setTimeout(() => r(map.set(k, v)), workerData.storageDelay)),
      delete: (k) => new Promise((r) => setTimeout(() => r(map.delete(k)), workerData.storageDelay)),
    }
    const session = new lib.Session({ storage })
    session.login({ oidcIssuer: workerData.issuer, clientId: 'worker-client', clientSecret: 'worker-secret', refreshToken: 'RT-worker' }).then(
      () => parentPort.postMessage({ loggedIn: session.info.isLoggedIn }),
      (e) => parentPort.postMessage({ error: e.code }),
    )
  `
  const start = (storageDelay) => {
    const worker = new Worker(refreshing, { eval: true, workerData: { issuer: idp.issuer, storageDelay } })
    const message = new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    return { worker, message }
  }
  idp.answer('normal')
  // Two that finish, while others are terminated in the middle of a storage call or of the
  // refresh request itself (slowed down by a slow storage around it).
  const survivors = [start(30), start(30)]
  for (const delay of [0, 5, 200, 200, 1000]) {
    const { worker } = start(delay)
    await new Promise((resolve) => setTimeout(resolve, 40))
    await worker.terminate()
  }
  const results = await Promise.all(survivors.map((s) => s.message))
  assert.deepEqual(results, [{ loggedIn: true }, { loggedIn: true }])
  await Promise.all(survivors.map((s) => s.worker.terminate()))
  const grants = idp.tokenRequests().map((r) => r.form.grant_type)
  assert.ok(grants.includes('refresh_token'), 'the workers refreshed')
})

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

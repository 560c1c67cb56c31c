'use strict'
// The background refresh (keepAlive): scheduled from the token's real lifetime, its outcomes
// emitted (sessionExtended, error, sessionExpired), cancelled by logout, and never keeping the
// process alive. Against oidc-provider with 3-second client-credentials tokens.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { once } = require('node:events')
const lib = require('..')
const { startOp } = require('./support/servers.js')
const { asyncMapStorage } = require('./helpers.js')

const { Session, EVENTS } = lib
const TTL = 3

let op
test.before(async () => {
  op = await startOp({ ccTtl: TTL })
})
test.after(() => op?.stop())

/**
 * Waits for an event. The package's timers never keep the process alive (a script that logs in
 * and never logs out must exit), so a test that waits on them holds the loop open itself.
 */
async function waitFor(emitter, event) {
  const hold = setInterval(() => {}, 1_000)
  try {
    return await once(emitter, event)
  } finally {
    clearInterval(hold)
  }
}

const login = (session) => session.login({ oidcIssuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret })
const tokenRequests = async () => (await op.stats()).token

test('a kept-alive session is refreshed before its token expires, and logout stops it', async () => {
  const session = new Session({ storage: asyncMapStorage() })
  await login(session)
  const firstExpiry = session.info.expirationDate
  assert.ok(firstExpiry - Date.now() <= TTL * 1000)
  const before = await tokenRequests()
  const [expiresIn] = await waitFor(session.events, EVENTS.SESSION_EXTENDED)
  assert.ok(expiresIn > 0 && expiresIn <= TTL, `sessionExtended(${expiresIn})`)
  assert.equal((await tokenRequests()) - before, 1)
  assert.ok(session.info.expirationDate > firstExpiry)
  assert.equal(session.info.isLoggedIn, true)
  assert.equal((await session.fetch(op.privateResource)).status, 200)

  await session.logout()
  const after = await tokenRequests()
  await new Promise((resolve) => setTimeout(resolve, TTL * 1000 + 500))
  assert.equal(await tokenRequests(), after, 'no refresh after logout')
})

test('a due session\'s renewal refreshes its own stored token and takes a token stored since as it is', async () => {
  // What the background refresh calls: SessionCredentials.renew, told which token the session holds.
  const binding = require('../binding.js')
  const { handleFor } = require('../lib/storage.js')
  const { runOn } = require('../lib/driver.js')
  const RECORD = 'solidClientAuthenticationUser:renewed'
  const storage = asyncMapStorage()
  const options = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret, dpop: true }
  const held = await runOn(handleFor(storage), storage, binding.logInWithClientCredentials, 'renewed', options)
  const renew = () => runOn(handleFor(storage), storage, (h, parent, id) => held.renew(h, parent, id), 'renewed')

  // The stored token is the session's own, with most of its life left: a restore from storage
  // would hand it back, but the session's timer says it is due, so it is refreshed.
  let before = await tokenRequests()
  const refreshed = await renew()
  assert.equal((await tokenRequests()) - before, 1, 'its own token is renewed with a request')
  assert.notEqual(JSON.parse(storage.map.get(RECORD)).accessToken, undefined)

  // The stored token is now another one (stored by that renewal, as another process would):
  // handed back as it is, without a request.
  before = await tokenRequests()
  const stored = JSON.parse(storage.map.get(RECORD)).accessToken
  const again = await renew()
  assert.equal((await tokenRequests()) - before, 0, 'another\'s fresh token is used as it is')
  assert.equal(again.credentials.expiresAt, refreshed.credentials.expiresAt)
  assert.equal(JSON.parse(storage.map.get(RECORD)).accessToken, stored)
})

test('without keepAlive the session expires 5 s before its token does, as the reference', async () => {
  const session = new Session({ storage: asyncMapStorage(), keepAlive: false })
  // With 3-second tokens that is at once: listen before logging in.
  const expired = waitFor(session.events, EVENTS.SESSION_EXPIRED)
  const before = (await tokenRequests()) + 1
  await login(session)
  const expiry = session.info.expirationDate
  await expired
  assert.ok(Date.now() < expiry, 'before the token itself expires')
  assert.equal(session.info.isLoggedIn, false)
  assert.equal(await tokenRequests(), before, 'nothing was refreshed')
  assert.equal((await session.fetch(op.privateResource)).status, 401, 'requests go out without credentials')
})

test('a background refresh that fails is emitted as an error, then the session expires', async () => {
  const broken = await startOp({ ccTtl: TTL })
  const session = new Session({ storage: asyncMapStorage() })
  await session.login({ oidcIssuer: broken.issuer, clientId: broken.clientId, clientSecret: broken.clientSecret })
  await broken.stop()
  const [code, error] = await waitFor(session.events, EVENTS.ERROR)
  assert.equal(code, 'ERR_IDP_UNREACHABLE')
  assert.equal(error.name, 'IdentityProviderError')
  await waitFor(session.events, EVENTS.SESSION_EXPIRED)
  assert.equal(session.info.isLoggedIn, false)
})

test('a script that logs in and never logs out exits by itself', async () => {
  const script = `
    const lib = require(${JSON.stringify(path.join(__dirname, '..'))})
    const session = new lib.Session()
    session.login({ oidcIssuer: process.argv[1], clientId: process.argv[2], clientSecret: process.argv[3] })
      .then(() => console.log('logged in', session.info.isLoggedIn))
  `
  const started = Date.now()
  const out = await new Promise((resolve, reject) =>
    execFile(process.execPath, ['-e', script, op.issuer, op.clientId, op.clientSecret], { timeout: 20_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr || error.message)) : resolve(stdout.trim()),
    ),
  )
  assert.equal(out, 'logged in true')
  assert.ok(Date.now() - started < TTL * 1000, 'it did not wait for the refresh timer')
})

test('a session the app drops is collected and stops refreshing (no timer keeps it)', async () => {
  const script = `
    const lib = require(${JSON.stringify(path.join(__dirname, '..'))})
    const collected = new FinalizationRegistry(() => console.log('collected'))
    const hold = setInterval(() => {}, 1000)
    ;(async () => {
      let session = new lib.Session()
      await session.login({ oidcIssuer: process.argv[1], clientId: process.argv[2], clientSecret: process.argv[3] })
      collected.register(session, 'session')
      session = undefined
      for (let i = 0; i < 10; i++) { await new Promise((r) => setTimeout(r, 50)); global.gc() }
      await new Promise((r) => setTimeout(r, ${TTL * 1000 + 1000}))
      clearInterval(hold)
    })()
  `
  const before = await tokenRequests()
  const out = await new Promise((resolve, reject) =>
    execFile(process.execPath, ['--expose-gc', '-e', script, op.issuer, op.clientId, op.clientSecret], { timeout: 20_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr || error.message)) : resolve(stdout.trim()),
    ),
  )
  assert.equal(out, 'collected')
  assert.equal((await tokenRequests()) - before, 1, 'the login, and no background refresh')
})

test('a background refresh that keeps failing is retried with backoff, then the session expires', async () => {
  const { startFakeIdp } = require('./support/fake-idp.js')
  const idp = await startFakeIdp({ expiresIn: 30 })
  try {
    const session = new Session({ storage: asyncMapStorage() })
    await session.login({ oidcIssuer: idp.issuer, clientId: 'app', clientSecret: 'app-secret' })
    const expiry = session.info.expirationDate
    idp.answer('status', { status: 503 })
    const errors = []
    session.events.on(EVENTS.ERROR, (code, error) => errors.push({ at: Date.now(), code, error }))
    // Not events.once: it rejects on the first `error`, which here is expected.
    const hold = setInterval(() => {}, 1_000)
    await new Promise((resolve) => session.events.once(EVENTS.SESSION_EXPIRED, resolve)).finally(() => clearInterval(hold))
    assert.ok(errors.length >= 2, `${errors.length} failed refreshes were reported`)
    assert.ok(errors.every((e) => e.code === 'ERR_IDP_RESPONSE' && e.error instanceof lib.IdentityProviderError))
    assert.ok(errors[1].at - errors[0].at >= 900, 'the retry waited a second')
    assert.ok(Date.now() < expiry, 'it expired before its token did')
    assert.equal(session.info.isLoggedIn, false)
    assert.equal(idp.tokenRequests().length, 1 + errors.length, 'one token request per attempt')
  } finally {
    await idp.close()
  }
})

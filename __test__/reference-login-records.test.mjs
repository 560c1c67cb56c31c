// Storage written by the reference's own login code is read by us. The reference's
// authorization-code login writes the session list, the client record, the session record (with
// its issuer, so it is restorable) and a state-mapping record before it hands the user to the
// identity provider; for that it needs only discovery (and registration for a dynamic client),
// which a small local server provides here. Logins all the way through, against a real Solid
// server, come with our own logins.
import test from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import * as ours from '../index.mjs'
import * as reference from '@inrupt/solid-client-authn-node'
import helpers from './helpers.js'

const { LIST_KEY, RECORD_PREFIX, asyncMapStorage } = helpers

function startIssuer() {
  const server = http.createServer((req, res) => {
    const base = `http://127.0.0.1:${server.address().port}`
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: `${base}/`,
        authorization_endpoint: `${base}/auth`,
        token_endpoint: `${base}/token`,
        jwks_uri: `${base}/jwks`,
        registration_endpoint: `${base}/reg`,
        claims_supported: ['sub', 'webid'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        scopes_supported: ['openid', 'webid', 'offline_access'],
        grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types_supported: ['code'],
      })
    }
    if (req.method === 'POST' && req.url === '/reg') {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        const asked = JSON.parse(body)
        json(201, { ...asked, client_id: 'dyn-client-1', client_secret: 'DYN-SECRET', client_secret_expires_at: 0 })
      })
      return
    }
    json(404, { error: 'not_found' })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const logins = {
  dynamic: { clientName: 'Demo app' },
  solidOidc: { clientId: 'https://app.example/id' },
  static: { clientId: 'app-7', clientSecret: 'STATIC-SECRET' },
}

test('records written by the reference during its logins read back the same through us', async (t) => {
  const server = await startIssuer()
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  const issuer = `http://127.0.0.1:${server.address().port}`

  for (const storage of [new ours.InMemoryStorage(), new reference.InMemoryStorage(), asyncMapStorage()]) {
    const states = []
    for (const [id, options] of Object.entries(logins)) {
      let authorizationUrl
      await new reference.Session({ storage }, id).login({
        oidcIssuer: issuer,
        redirectUrl: 'http://localhost:3002/redirect',
        handleRedirect: (url) => (authorizationUrl = url),
        ...options,
      })
      states.push(new URL(authorizationUrl).searchParams.get('state'))
    }
    const ids = Object.keys(logins)
    assert.deepEqual(await ours.getSessionIdFromStorageAll(storage), ids)
    for (const state of states) assert.ok(await storage.get(RECORD_PREFIX + state), 'the reference wrote a state mapping')

    for (const id of ids) {
      const theirs = await reference.getSessionFromStorage(id, { storage, refreshSession: false })
      const mine = await ours.getSessionFromStorage(id, { storage, refreshSession: false })
      assert.ok(theirs, `the reference restores ${id}`)
      assert.deepEqual(Object.entries(mine.info), Object.entries(theirs.info), id)
      // No refresh token yet, so refreshing is a no-op for both: still no network I/O from us.
      const refreshedByUs = await ours.getSessionFromStorage(id, { storage })
      assert.equal(refreshedByUs.info.isLoggedIn, false)
    }

    await ours.clearSessionFromStorageAll(storage)
    assert.deepEqual(await reference.getSessionIdFromStorageAll(storage), [])
    assert.equal(await storage.get(LIST_KEY), '[]')
    for (const id of ids) assert.equal(await storage.get(RECORD_PREFIX + id), undefined)
    // The native store can list its keys, so the reference's state mappings go too; a JS store
    // cannot, and the reference never recorded them anywhere we could find them.
    const leftover = await Promise.all(states.map((s) => storage.get(RECORD_PREFIX + s)))
    if (storage instanceof ours.InMemoryStorage) assert.deepEqual(leftover, [undefined, undefined, undefined])
  }
})

test('secrets the reference stored never appear in our errors about that storage', async (t) => {
  const server = await startIssuer()
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  const storage = asyncMapStorage()
  await new reference.Session({ storage }, 's').login({
    oidcIssuer: `http://127.0.0.1:${server.address().port}`,
    redirectUrl: 'http://localhost:3002/redirect',
    handleRedirect: () => {},
  })
  // Corrupt the record the reference wrote (it holds the dynamic client's secret) by cutting it short.
  const key = RECORD_PREFIX + 's'
  storage.map.set(key, storage.map.get(key).slice(0, -1))
  const error = await ours.getSessionFromStorage('s', { storage, refreshSession: false }).catch((e) => e)
  assert.ok(error instanceof ours.StorageCorruptedError)
  assert.ok(!error.message.includes('DYN-SECRET'))
  assert.ok(!error.message.includes('codeVerifier'))
})

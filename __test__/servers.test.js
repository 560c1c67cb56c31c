'use strict'
// Proves the test-server harness (__test__/support/servers.js) with the reference library:
// real Community Solid Server and oidc-provider on localhost, client-credentials logins.
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { startCss, startOp } = require('./support/servers.js')

// The reference v5 is ESM-first; its ESM entry works on Node 20 (its CJS entry needs require(esm)).
const reference = () => import('@inrupt/solid-client-authn-node')

async function text(res) {
  return { status: res.status, body: await res.text() }
}

describe('Community Solid Server', () => {
  let css
  before(async () => {
    css = await startCss()
  })
  after(() => css?.stop())

  test('is seeded and advertises localhost', async () => {
    assert.equal(css.base, `http://localhost:${css.port}/`)
    assert.equal(css.issuer, css.base)
    assert.equal(css.podRoot, `${css.base}alice/`)
    assert.equal(css.webId, `${css.base}alice/profile/card#me`)
    assert.ok(css.privateResource.startsWith(css.podRoot))
    const config = await (await fetch(`${css.base}.well-known/openid-configuration`)).json()
    assert.equal(config.issuer, css.issuer)
    // The seeded password login works.
    const login = await fetch(`${css.base}.account/login/password/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ email: css.email, password: css.password }),
    })
    assert.equal(login.status, 200, await login.text())
  })

  test('an anonymous fetch of the private resource gets 401', async () => {
    const res = await text(await fetch(css.privateResource))
    assert.equal(res.status, 401)
  })

  for (const tokenType of ['DPoP', 'Bearer']) {
    test(`reference client-credentials login (${tokenType}) reads the private resource`, async () => {
      const { Session } = await reference()
      const session = new Session({ keepAlive: false })
      try {
        await session.login({
          clientId: css.clientId,
          clientSecret: css.clientSecret,
          oidcIssuer: css.issuer,
          tokenType,
        })
        assert.equal(session.info.isLoggedIn, true)
        assert.equal(session.info.webId, css.webId)
        assert.deepEqual(await text(await session.fetch(css.privateResource)), { status: 200, body: css.privateText })
        assert.equal((await fetch(css.privateResource)).status, 401)
      } finally {
        // The reference's timers keep Node alive until the session logs out.
        await session.logout()
      }
      assert.equal(session.info.isLoggedIn, false)
    })
  }
})

describe('oidc-provider with token-endpoint DPoP nonces', () => {
  let op
  before(async () => {
    op = await startOp({ nonce: true })
  })
  after(() => op?.stop())

  test('reference client-credentials login retries with the nonce and reads /private', async () => {
    assert.deepEqual(await op.stats(), {
      token: 0,
      tokenByGrant: {},
      grantErrors: {},
      discovery: 0,
      jwks: 0,
      registration: 0,
    })
    const { Session } = await reference()
    const session = new Session({ keepAlive: false })
    try {
      await session.login({ clientId: op.clientId, clientSecret: op.clientSecret, oidcIssuer: op.issuer })
      assert.equal(session.info.isLoggedIn, true)
      assert.equal(session.info.webId, op.webId)
      const res = await text(await session.fetch(op.privateResource))
      assert.equal(res.status, 200, res.body)
      assert.equal(res.body, `hello ${op.webId} (DPoP)`)
      assert.equal((await fetch(op.privateResource)).status, 401)
    } finally {
      await session.logout()
    }
    const stats = await op.stats()
    // The first token request is refused with use_dpop_nonce, the retry carries the nonce.
    assert.equal(stats.token, 2, JSON.stringify(stats))
    assert.deepEqual(stats.tokenByGrant, { client_credentials: 1 })
    assert.deepEqual(stats.grantErrors, { use_dpop_nonce: 1 })
    assert.ok(stats.discovery >= 1, JSON.stringify(stats))
  })
})

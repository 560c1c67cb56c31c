'use strict'
// The network edge toward identity providers: what a provider's URL may hold, and which addresses
// may be contacted at all. In Solid a user names their own provider, so its URLs are input.
const test = require('node:test')
const assert = require('node:assert/strict')
const lib = require('..')
const { startFakeIdp } = require('./support/fake-idp.js')
const { asyncMapStorage } = require('./helpers.js')

const { Session, ConfigurationError, IdentityProviderError } = lib

const login = (issuer) => new Session({ storage: asyncMapStorage() }).login({ oidcIssuer: issuer, clientId: 'edge-client', clientSecret: 'edge-secret' })

test('an issuer with a user name or password is refused before any request, and is never sent', async () => {
  const idp = await startFakeIdp()
  try {
    const withCredentials = idp.issuer.replace('http://', 'http://alice:hunter2@')
    await assert.rejects(login(withCredentials), (error) => {
      assert.ok(error instanceof ConfigurationError, String(error))
      assert.doesNotMatch(`${error.message}\n${error.stack}`, /hunter2/)
      return true
    })
    assert.deepEqual(idp.requests, [])
  } finally {
    await idp.close()
  }
})

test("a discovery document naming an endpoint with a user name or password is refused, and the endpoint never contacted", async () => {
  for (const member of ['jwks_uri', 'token_endpoint']) {
    const idp = await startFakeIdp()
    try {
      idp.discovery[member] = idp.discovery[member].replace('http://', 'http://alice:hunter2@')
      await assert.rejects(login(idp.issuer), (error) => {
        assert.ok(error instanceof IdentityProviderError, String(error))
        assert.equal(error.code, 'ERR_IDP_RESPONSE')
        assert.match(error.message, new RegExp(`${member} includes a user name or password`))
        assert.doesNotMatch(error.message, /hunter2/)
        return true
      })
      assert.deepEqual(idp.requests.map((r) => r.path), ['/.well-known/openid-configuration'])
      assert.ok(idp.requests.every((r) => r.headers.authorization === undefined))
    } finally {
      await idp.close()
    }
  }
})

'use strict'
// NODE_DEBUG=solid-client-authn-native: each request to the identity provider, each restore and
// why, each storage failure; never a token, secret or key.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { startFakeIdp } = require('./support/fake-idp.js')

test('debug logs name requests, restores and storage failures, and nothing secret', async () => {
  const idp = await startFakeIdp()
  idp.answer('normal')
  try {
    const script = `
      const lib = require(${JSON.stringify(path.join(__dirname, '..'))})
      const map = new Map()
      const storage = { get: async (k) => map.get(k), set: async (k, v) => { map.set(k, v) }, delete: async (k) => { map.delete(k) } }
      ;(async () => {
        const session = new lib.Session({ storage }, 'dbg')
        await session.login({ oidcIssuer: process.argv[1], clientId: 'debug-client', clientSecret: 'DEBUG-CLIENT-SECRET' })
        await lib.getSessionFromStorage('dbg', { storage })
        const broken = { get: async () => { throw new Error('disk on fire') }, set() {}, delete() {} }
        await lib.getSessionIdFromStorageAll(broken).catch(() => {})
        console.log(JSON.stringify(map.get('solidClientAuthenticationUser:dbg')))
      })()
    `
    const { stdout, stderr } = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', script, idp.issuer], { env: { ...process.env, NODE_DEBUG: 'solid-client-authn-native' }, timeout: 20_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(stderr || error.message)) : resolve({ stdout, stderr }),
      ),
    )
    const lines = stderr.split('\n').filter((l) => l.includes('SOLID-CLIENT-AUTHN-NATIVE'))
    const has = (pattern) => assert.ok(lines.some((l) => pattern.test(l)), `${pattern} in:\n${lines.join('\n')}`)
    has(/GET http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration: HTTP 200 in \d+ ms/)
    has(/POST http:\/\/127\.0\.0\.1:\d+\/token: HTTP 200 in \d+ ms/)
    has(/GET http:\/\/127\.0\.0\.1:\d+\/jwks: HTTP 200/)
    // A session by a digest of its ID, never the ID (often the cookie that holds the session).
    const tag = require('node:crypto').createHash('sha256').update('dbg').digest('base64url').slice(0, 10)
    has(new RegExp(`session #${tag} restored: its stored access token is still good`))
    assert.ok(!lines.some((l) => l.includes('"dbg"')), 'no line quotes the session ID')
    has(/storage\.get\("solidClientAuthn:registeredSessions"\) failed: it rejected with an Error/)
    assert.ok(!stderr.includes('disk on fire'), "the storage's own message is not logged")
    const record = JSON.parse(JSON.parse(stdout))
    for (const secret of ['DEBUG-CLIENT-SECRET', record.accessToken, JSON.parse(record.privateKey).d, ...idp.issued]) {
      assert.ok(!stderr.includes(secret), 'no secret in the logs')
    }
  } finally {
    await idp.close()
  }
})

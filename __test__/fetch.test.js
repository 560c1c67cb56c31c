'use strict'
// session.fetch: the global fetch with credentials computed natively. Redirects get a fresh DPoP
// proof for each hop, and the token never reaches an origin the caller did not ask for.
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const lib = require('..')
const { startFakeIdp, decodeJwt } = require('./support/fake-idp.js')
const { asyncMapStorage } = require('./helpers.js')

const { Session } = lib

/** A resource server that notes what each request carried, and answers as `routes` says. */
async function resourceServer(routes) {
  const seen = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () => {
      seen.push({ method: req.method, path: req.url, authorization: req.headers.authorization, dpop: req.headers.dpop, body })
      const route = routes[req.url] ?? ((r) => r.writeHead(404).end())
      route(res, server)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.origin = `http://127.0.0.1:${server.address().port}`
  server.seen = seen
  return server
}

const close = (server) => {
  server.closeAllConnections()
  server.close()
}

let idp
let session
test.before(async () => {
  idp = await startFakeIdp()
  idp.answer('normal')
  session = new Session({ storage: asyncMapStorage() })
  await session.login({ oidcIssuer: idp.issuer, clientId: 'fetch-client', clientSecret: 'fetch-secret' })
})
test.after(async () => {
  await session.logout()
  await idp.close()
})

test('a same-origin redirect is followed with a fresh proof for the new URL', async () => {
  const server = await resourceServer({
    '/a': (res) => res.writeHead(302, { location: '/b' }).end(),
    '/b': (res) => res.writeHead(200).end('b'),
  })
  try {
    const response = await session.fetch(`${server.origin}/a`)
    assert.equal(response.status, 200)
    assert.equal(await response.text(), 'b')
    assert.equal(response.url, `${server.origin}/b`)
    assert.equal(response.redirected, true)
    assert.equal((await session.fetch(`${server.origin}/b`)).redirected, false)
    const [a, b] = server.seen
    for (const [hop, path] of [
      [a, '/a'],
      [b, '/b'],
    ]) {
      assert.match(hop.authorization, /^DPoP /)
      const { claims } = decodeJwt(hop.dpop)
      assert.equal(claims.htu, `${server.origin}${path}`)
      assert.equal(claims.htm, 'GET')
    }
    assert.notEqual(decodeJwt(a.dpop).claims.jti, decodeJwt(b.dpop).claims.jti)
  } finally {
    close(server)
  }
})

test('a redirect to another origin is followed without the credentials', async () => {
  const elsewhere = await resourceServer({ '/landing': (res) => res.writeHead(200).end('elsewhere') })
  const server = await resourceServer({
    '/away': (res) => res.writeHead(307, { location: `${elsewhere.origin}/landing` }).end(),
  })
  try {
    const response = await session.fetch(`${server.origin}/away`, { method: 'PUT', body: 'payload' })
    assert.equal(await response.text(), 'elsewhere')
    assert.equal(response.redirected, true)
    assert.match(server.seen[0].authorization, /^DPoP /)
    assert.deepEqual(elsewhere.seen, [{ method: 'PUT', path: '/landing', authorization: undefined, dpop: undefined, body: 'payload' }])
  } finally {
    close(server)
    close(elsewhere)
  }
})

test('303 and POST-to-302 become GET without a body; a stream body cannot follow a 307', async () => {
  const server = await resourceServer({
    '/form': (res) => res.writeHead(303, { location: '/done' }).end(),
    '/again': (res) => res.writeHead(307, { location: '/done' }).end(),
    '/done': (res) => res.writeHead(200).end('done'),
  })
  try {
    assert.equal(await (await session.fetch(`${server.origin}/form`, { method: 'POST', body: 'x' })).text(), 'done')
    assert.deepEqual(server.seen.map((r) => [r.method, r.path, r.body]), [
      ['POST', '/form', 'x'],
      ['GET', '/done', ''],
    ])
    assert.equal(decodeJwt(server.seen[1].dpop).claims.htm, 'GET')
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'))
        controller.close()
      },
    })
    await assert.rejects(session.fetch(`${server.origin}/again`, { method: 'POST', body: stream, duplex: 'half' }), TypeError)
  } finally {
    close(server)
  }
})

test("manual and error redirect modes are the caller's", async () => {
  const server = await resourceServer({ '/a': (res) => res.writeHead(302, { location: '/b' }).end() })
  try {
    const manual = await session.fetch(`${server.origin}/a`, { redirect: 'manual' })
    assert.equal(manual.status, 302)
    await assert.rejects(session.fetch(`${server.origin}/a`, { redirect: 'error' }), TypeError)
  } finally {
    close(server)
  }
})

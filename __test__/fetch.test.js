'use strict'
// session.fetch: the global fetch with credentials computed natively. Redirects get a fresh DPoP
// proof for each hop, and the token never reaches an origin the caller did not ask for.
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const lib = require('..')
const { startFakeIdp, decodeJwt, verifiesWithOwnJwk } = require('./support/fake-idp.js')
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

// Redirects as fetch follows them (issue 13, finding 5).

test('a redirect to a data: URL is a network error, as in fetch', async () => {
  const server = await resourceServer({ '/a': (res) => res.writeHead(302, { location: 'data:text/plain,from-the-redirect' }).end() })
  try {
    await assert.rejects(globalThis.fetch(`${server.origin}/a`), TypeError)
    await assert.rejects(session.fetch(`${server.origin}/a`), (error) => {
      assert.ok(error instanceof TypeError)
      assert.match(error.cause?.message ?? '', /HTTP\(S\) scheme/)
      return true
    })
  } finally {
    close(server)
  }
})

/** A server whose `/slow` answers after 3 s, reached by a same-origin redirect from `/a`. */
async function slowServer() {
  const timers = new Set()
  const server = await resourceServer({
    '/a': (res) => res.writeHead(302, { location: '/slow' }).end(),
    '/slow': (res) => timers.add(setTimeout(() => res.writeHead(200).end('late'), 3_000)),
  })
  server.timers = timers
  return server
}

test("a Request's own signal is honoured on every hop of a redirect", async () => {
  const server = await slowServer()
  try {
    const started = Date.now()
    const request = new Request(`${server.origin}/a`, { signal: AbortSignal.timeout(200) })
    await assert.rejects(session.fetch(request), (error) => error.name === 'TimeoutError' || error.name === 'AbortError')
    assert.ok(Date.now() - started < 2_000, `aborted after ${Date.now() - started} ms`)
    assert.deepEqual(server.seen.map((r) => r.path), ['/a', '/slow'])
  } finally {
    for (const timer of server.timers) clearTimeout(timer)
    close(server)
  }
})

test("init's signal is honoured on every hop of a redirect", async () => {
  const server = await slowServer()
  try {
    const started = Date.now()
    await assert.rejects(session.fetch(`${server.origin}/a`, { signal: AbortSignal.timeout(200) }), (error) => error.name === 'TimeoutError' || error.name === 'AbortError')
    assert.ok(Date.now() - started < 2_000, `aborted after ${Date.now() - started} ms`)
  } finally {
    for (const timer of server.timers) clearTimeout(timer)
    close(server)
  }
})

test('a Request with a body held in memory is sent again on a 307 or 308, as fetch does', async () => {
  const server = await resourceServer({
    '/307': (res) => res.writeHead(307, { location: '/308' }).end(),
    '/308': (res) => res.writeHead(308, { location: '/done' }).end(),
    '/done': (res) => res.writeHead(200).end('done'),
  })
  const form = new FormData()
  form.append('field', 'value')
  const bodies = {
    string: 'a string',
    buffer: Buffer.from('a buffer'),
    params: new URLSearchParams('a=b&c=d'),
    blob: new Blob(['a blob']),
    form,
  }
  try {
    for (const [kind, body] of Object.entries(bodies)) {
      server.seen.length = 0
      const request = new Request(`${server.origin}/307`, { method: 'PUT', body })
      const expected = await request.clone().text()
      const response = await session.fetch(request)
      assert.equal(await response.text(), 'done', kind)
      assert.deepEqual(server.seen.map((r) => [r.method, r.path, r.body]), [
        ['PUT', '/307', expected],
        ['PUT', '/308', expected],
        ['PUT', '/done', expected],
      ], kind)
      for (const hop of server.seen) assert.equal(decodeJwt(hop.dpop).claims.htm, 'PUT')
    }
  } finally {
    close(server)
  }
})

test('an init body held in memory is sent again on a 307, and a Request from a stream is refused as fetch refuses it', async () => {
  const server = await resourceServer({
    '/307': (res) => res.writeHead(307, { location: '/done' }).end(),
    '/done': (res) => res.writeHead(200).end('done'),
  })
  try {
    const response = await session.fetch(`${server.origin}/307`, { method: 'POST', body: new Blob(['blob body']) })
    assert.equal(await response.text(), 'done')
    assert.deepEqual(server.seen.map((r) => r.body), ['blob body', 'blob body'])
    const streamed = () =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('streamed'))
          controller.close()
        },
      })
    const request = () => new Request(`${server.origin}/307`, { method: 'POST', body: streamed(), duplex: 'half' })
    await assert.rejects(globalThis.fetch(request()), TypeError)
    await assert.rejects(session.fetch(request()), TypeError)
  } finally {
    close(server)
  }
})

test('a Request with a body held in memory is sent again to another origin on a 307, without the credentials', async () => {
  const elsewhere = await resourceServer({ '/landing': (res) => res.writeHead(200).end('elsewhere') })
  const server = await resourceServer({ '/away': (res) => res.writeHead(307, { location: `${elsewhere.origin}/landing` }).end() })
  try {
    const response = await session.fetch(new Request(`${server.origin}/away`, { method: 'PUT', body: 'payload' }))
    assert.equal(await response.text(), 'elsewhere')
    assert.deepEqual(elsewhere.seen, [{ method: 'PUT', path: '/landing', authorization: undefined, dpop: undefined, body: 'payload' }])
  } finally {
    close(server)
    close(elsewhere)
  }
})

test('a Request with a body held in memory is sent again with the nonce a resource server asks for', async () => {
  let asked = false
  const server = await resourceServer({
    '/nonce': (res) => {
      if (asked) return res.writeHead(200).end('ok')
      asked = true
      res.writeHead(401, { 'dpop-nonce': 'rs-nonce-1', 'www-authenticate': 'DPoP error="use_dpop_nonce"' }).end()
    },
  })
  try {
    const response = await session.fetch(new Request(`${server.origin}/nonce`, { method: 'PATCH', body: 'patch body' }))
    assert.equal(response.status, 200)
    assert.deepEqual(server.seen.map((r) => [r.method, r.body]), [
      ['PATCH', 'patch body'],
      ['PATCH', 'patch body'],
    ])
    assert.equal(decodeJwt(server.seen[1].dpop).claims.nonce, 'rs-nonce-1')
  } finally {
    close(server)
  }
})

// No error of session.fetch carries the credentials (issue 13, finding 3).

/** Everything an error shows: message, stack and its causes, as text. */
function everythingIn(error) {
  const parts = []
  for (let at = error, depth = 0; at != null && depth < 10; at = at.cause, depth++) {
    parts.push(String(at.message), String(at.stack), require('node:util').inspect(at, { depth: 5 }))
  }
  return parts.join('\n')
}

test('a token that is not a valid header value makes session.fetch reject without quoting it', async () => {
  const tokens = await new Promise((resolve, reject) => {
    const fresh = new Session({ storage: asyncMapStorage() })
    fresh.events.on('newTokens', resolve)
    fresh.login({ oidcIssuer: idp.issuer, clientId: 'fetch-client', clientSecret: 'fetch-secret' }).catch(reject)
  })
  const server = await resourceServer({ '/r': (res) => res.writeHead(200).end('r') })
  const secret = `${tokens.accessToken}\r\nX-Injected: yes`
  try {
    // A provider's token with CR LF: whether it is refused where it enters or kept, no error quotes it.
    const held = await Session.fromTokens({ ...tokens, accessToken: secret }).catch((error) => error)
    if (held instanceof Error) {
      assert.ok(!everythingIn(held).includes(tokens.accessToken))
      return
    }
    assert.equal(held.info.isLoggedIn, true)
    const error = await held.fetch(`${server.origin}/r`).then(
      () => assert.fail('the fetch must fail'),
      (e) => e,
    )
    assert.ok(error instanceof TypeError)
    assert.match(error.message, /credentials could not be sent/)
    assert.equal(error.cause, undefined)
    assert.ok(!everythingIn(error).includes(tokens.accessToken), everythingIn(error))
    assert.deepEqual(server.seen, [])
  } finally {
    close(server)
  }
})

test('whatever fails in session.fetch, its error carries neither the token nor the proof', async () => {
  const { authenticatedFetch } = require('../lib/fetch.js')
  const token = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl'
  const proof = 'eyJ0eXAiOiJkcG9wK2p3dCJ9.cHJvb2YtY2xhaW1z.cHJvb2Ytc2ln'
  const credentials = (authorization, dpop) => ({ tokenType: 'DPoP', headersFor: () => ({ authorization, dpop }), rememberNonce() {} })
  const bad = [
    [`DPoP ${token}\r\nX: 1`, proof],
    [`DPoP ${token}\0`, proof],
    [`DPoP ${token}`, `${proof}\n`],
  ]
  for (const [authorization, dpop] of bad) {
    const error = await authenticatedFetch(credentials(authorization, dpop), 'http://127.0.0.1:9/r').then(
      () => assert.fail('the fetch must fail'),
      (e) => e,
    )
    assert.ok(error instanceof TypeError)
    const shown = everythingIn(error)
    assert.ok(!shown.includes(token.slice(0, 30)) && !shown.includes(proof.slice(0, 30)), shown)
  }
  // A fetch (a stub, an interceptor) that reports the headers it was given.
  const original = globalThis.fetch
  globalThis.fetch = async (_input, init) => {
    throw new TypeError('fetch failed', { cause: new Error(`refused headers ${JSON.stringify([...init.headers])}`) })
  }
  try {
    const error = await authenticatedFetch(credentials(`DPoP ${token}`, proof), 'http://127.0.0.1:9/r').then(
      () => assert.fail('the fetch must fail'),
      (e) => e,
    )
    const shown = everythingIn(error)
    assert.ok(!shown.includes(token) && !shown.includes(proof), shown)
  } finally {
    globalThis.fetch = original
  }
})

test("a resource server's nonce is kept for its origin however the URL spells it", async () => {
  let asked = false
  const server = await resourceServer({
    '/nonce': (res) => {
      if (asked) return res.writeHead(200).end('ok')
      asked = true
      res.writeHead(401, { 'dpop-nonce': 'rs-nonce-spelling', 'www-authenticate': 'DPoP error="use_dpop_nonce"' }).end()
    },
    '/other': (res) => res.writeHead(200).end('other'),
  })
  try {
    assert.equal((await session.fetch(`${server.origin}/nonce`)).status, 200)
    const port = new URL(server.origin).port
    const response = await session.fetch(`http://127.0.0.1:000${port}/other`)
    assert.equal(response.status, 200)
    assert.equal(decodeJwt(server.seen.at(-1).dpop).claims.nonce, 'rs-nonce-spelling')
  } finally {
    close(server)
  }
})

test('with many DPoP requests in flight, proofs are signed off the JS thread, each for its own request', async () => {
  const { SessionCredentials } = require('../binding.js')
  const { createHash } = require('node:crypto')
  const original = SessionCredentials.prototype.headersOffThread
  let offThread = 0
  SessionCredentials.prototype.headersOffThread = function (...args) {
    offThread++
    return original.apply(this, args)
  }
  // Answers once all 24 requests are in, so that they are in flight together.
  const parked = []
  const server = await resourceServer({})
  server.removeAllListeners('request')
  server.on('request', (req, res) => {
    server.seen.push({ method: req.method, path: req.url, authorization: req.headers.authorization, dpop: req.headers.dpop })
    parked.push(res)
    if (parked.length === 24) for (const r of parked) r.writeHead(200).end('ok')
  })
  try {
    const paths = Array.from({ length: 24 }, (_, i) => `/r${i}?q=${i}`)
    const responses = await Promise.all(paths.map((path, i) => session.fetch(`${server.origin}${path}`, { method: i % 2 ? 'PUT' : 'GET', body: i % 2 ? 'x' : undefined })))
    assert.deepEqual(responses.map((r) => r.status), Array(24).fill(200))
    assert.ok(offThread >= 20, `${offThread} of 24 proofs were signed off the JS thread`)
    const jtis = new Set()
    for (const { method, path, authorization, dpop } of server.seen) {
      assert.ok(verifiesWithOwnJwk(dpop), `the proof for ${path} verifies`)
      const { claims } = decodeJwt(dpop)
      assert.equal(claims.htu, `${server.origin}${path.split('?')[0]}`)
      assert.equal(claims.htm, method)
      assert.equal(claims.ath, createHash('sha256').update(authorization.slice('DPoP '.length)).digest('base64url'))
      jtis.add(claims.jti)
    }
    assert.equal(jtis.size, 24)
    // Alone, a request's proof is signed at once, on the JS thread.
    offThread = 0
    server.removeAllListeners('request')
    server.on('request', (req, res) => res.writeHead(200).end('ok'))
    assert.equal((await session.fetch(`${server.origin}/alone`)).status, 200)
    assert.equal(offThread, 0)
  } finally {
    SessionCredentials.prototype.headersOffThread = original
    close(server)
  }
})

// A Bearer token is the same on every hop: fetch follows the redirects itself, and drops the
// Authorization header on a redirect to another origin (issue 17).
test("a Bearer session's redirects: the token kept on the same origin, dropped for another, bodies sent again as fetch does", async () => {
  const bearer = new Session({ storage: asyncMapStorage() })
  await bearer.login({ oidcIssuer: idp.issuer, clientId: 'fetch-client', clientSecret: 'fetch-secret', tokenType: 'Bearer' })
  const elsewhere = await resourceServer({ '/landing': (res) => res.writeHead(200).end('elsewhere') })
  const server = await resourceServer({
    '/a': (res) => res.writeHead(302, { location: '/b' }).end(),
    '/b': (res) => res.writeHead(200).end('b'),
    '/again': (res) => res.writeHead(307, { location: '/b' }).end(),
    '/away': (res) => res.writeHead(307, { location: `${elsewhere.origin}/landing` }).end(),
  })
  try {
    const response = await bearer.fetch(`${server.origin}/a`)
    assert.equal(await response.text(), 'b')
    assert.equal(response.url, `${server.origin}/b`)
    assert.equal(response.redirected, true)
    const token = server.seen[0].authorization
    assert.match(token, /^Bearer \S+$/)
    assert.deepEqual(server.seen.map((r) => [r.path, r.authorization, r.dpop]), [
      ['/a', token, undefined],
      ['/b', token, undefined],
    ])
    // The caller's headers go with it, but for an Authorization of its own; a Request's body is sent again.
    const request = new Request(`${server.origin}/again`, { method: 'POST', body: 'kept', headers: { 'x-request': 'r' } })
    assert.equal((await bearer.fetch(request, { headers: { 'x-init': 'i', authorization: 'Basic nope' } })).status, 200)
    assert.deepEqual(server.seen.slice(2).map((r) => [r.method, r.path, r.authorization, r.body]), [
      ['POST', '/again', token, 'kept'],
      ['POST', '/b', token, 'kept'],
    ])
    const away = await bearer.fetch(`${server.origin}/away`, { method: 'PUT', body: 'payload' })
    assert.equal(await away.text(), 'elsewhere')
    assert.deepEqual(elsewhere.seen, [{ method: 'PUT', path: '/landing', authorization: undefined, dpop: undefined, body: 'payload' }])
    assert.equal((await bearer.fetch(`${server.origin}/a`, { redirect: 'manual' })).status, 302)
  } finally {
    await bearer.logout()
    close(server)
    close(elsewhere)
  }
})

test('a Bearer token that is not a header value, or an error that quotes it, never shows in what session.fetch rejects with', async () => {
  const { authenticatedFetch } = require('../lib/fetch.js')
  const token = 'eyJhbGciOiJFUzI1NiJ9.YmVhcmVyLXNlY3JldA.c2lnbmF0dXJl'
  const credentials = (authorization) => ({ tokenType: 'Bearer', headersFor: () => ({ authorization, dpop: null }) })
  for (const authorization of [`Bearer ${token}\r\nX: 1`, `Bearer ${token}\0`]) {
    const error = await authenticatedFetch(credentials(authorization), 'http://127.0.0.1:9/r').then(
      () => assert.fail('the fetch must fail'),
      (e) => e,
    )
    assert.match(error.message, /credentials could not be sent/)
    assert.ok(!everythingIn(error).includes(token.slice(0, 30)))
  }
  const original = globalThis.fetch
  globalThis.fetch = async (_input, init) => {
    throw new TypeError('fetch failed', { cause: new Error(`refused headers ${JSON.stringify(init.headers)}`) })
  }
  try {
    const error = await authenticatedFetch(credentials(`Bearer ${token}`), 'http://127.0.0.1:9/r').then(
      () => assert.fail('the fetch must fail'),
      (e) => e,
    )
    assert.ok(!everythingIn(error).includes(token), everythingIn(error))
  } finally {
    globalThis.fetch = original
  }
})

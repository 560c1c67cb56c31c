'use strict'
// examples/cluster/ (node:cluster, 2 workers, sessions in Redis) against a real Community Solid
// Server, driven as a browser that opens a new connection for every request, so that node:cluster
// hands its requests to the workers in turn: the login started in one worker is finished by
// whichever gets the callback, and every worker restores the session from Redis. Also measures
// what the example's README quotes for sizing Redis: the bytes of a session record, the keys per
// session, and the Redis commands of a request (a restore with a good stored token; one that
// refreshes).
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { createClient } = require('redis')
const { startCss } = require('./support/servers.js')
const { startRedis } = require('./support/redis.js')
const { redisCommandCalls, delta } = require('./support/load.js')
const { redisClientOptions } = require('../examples/redis-storage.js')

const SERVER = path.join(__dirname, '..', 'examples', 'cluster', 'server.mjs')
const PREFIX = 'solid-app:'
const RECORD = `${PREFIX}solidClientAuthenticationUser:`
const REQUEST_TIMEOUT_MS = 10_000

let css
let redis
let client
let app
let appUrl
let authcodeLogin

/** Starts the example as a user would, and resolves once it prints its URL. */
function startCluster(env) {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PORT: '0', WORKERS: '2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const collect = (chunk) => {
    out += chunk
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const killOnExit = () => child.kill('SIGKILL')
  process.on('exit', killOnExit)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const listening = new Promise((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /Listening on (http:\/\/localhost:\d+) \(2 workers/.exec(out)
      if (m) resolve(m[1])
    })
    child.once('exit', (code) => reject(new Error(`the cluster exited (${code}) before it listened:\n${out}`)))
  })
  return {
    child,
    listening,
    output: () => out,
    /** Resolves once the app's output matches `pattern`; rejects after `ms`. */
    async waitFor(pattern, ms = 10_000) {
      const deadline = Date.now() + ms
      while (!pattern.test(out)) {
        if (Date.now() > deadline) throw new Error(`the cluster did not print ${pattern} in ${ms} ms:\n${out}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async stop() {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
      process.off('exit', killOnExit)
    },
  }
}

test.before(async () => {
  ;[css, redis] = await Promise.all([startCss(), startRedis()])
  ;({ authcodeLogin } = await import('./support/authcode-login.mjs'))
  client = createClient(redisClientOptions(redis.url))
  client.on('error', () => {})
  await client.connect()
  app = startCluster({ REDIS_URL: redis.url })
  const listenTimeout = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the cluster did not listen in 60 s:\n${app.output()}`)), 60_000)
    app.listening.finally(() => clearTimeout(timer)).catch(() => {})
  })
  appUrl = await Promise.race([app.listening, listenTimeout])
})
test.after(async () => {
  await app?.stop()
  await client?.quit()
  await Promise.all([css?.stop(), redis?.stop()])
})

/**
 * A browser for the app: a new TCP connection per request (no keep-alive), so that node:cluster
 * gives consecutive requests to different workers; keeps the app's cookie; follows nothing.
 */
function browser() {
  const b = {
    cookie: undefined,
    pids: [],
    get(target) {
      const url = new URL(target, appUrl)
      return new Promise((resolve, reject) => {
        const req = http.get(url, { agent: false, headers: b.cookie ? { cookie: b.cookie } : {} }, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk) => (text += chunk))
          res.on('end', () => {
            const setCookie = res.headers['set-cookie'] ?? []
            for (const line of setCookie) b.cookie = /;\s*max-age=0/i.test(line) ? undefined : line.split(';')[0]
            const pid = Number(res.headers['x-worker-pid'])
            b.pids.push(pid)
            resolve({ status: res.statusCode, location: res.headers.location, setCookie, text, pid })
          })
        })
        req.on('error', reject)
        // node:cluster can hand a connection to a worker that has just died; that connection then
        // hangs. Give up on it, as a browser would, instead of waiting forever.
        req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no answer from ${url} in ${REQUEST_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })))
      })
    },
  }
  return b
}

async function logIn(b) {
  const start = await b.get(`/login?issuer=${encodeURIComponent(css.issuer)}`)
  assert.equal(start.status, 302)
  // CSS takes pushed authorization requests: the URL names the pushed request (RFC 9126).
  assert.ok(new URL(start.location).searchParams.has('request_uri'), start.location)
  const { redirectUrl } = await authcodeLogin({ authorizationUrl: start.location, email: css.email, password: css.password, webId: css.webId })
  assert.ok(redirectUrl.startsWith(`${appUrl}/callback?`), redirectUrl)
  const back = await b.get(redirectUrl)
  assert.equal(back.status, 302, back.text)
  assert.equal(back.location, '/')
  return { startPid: start.pid, callbackPid: back.pid }
}

const readResource = (b) => b.get(`/resource?url=${encodeURIComponent(css.privateResource)}`)
const escaped = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

async function keysOf(pattern) {
  const keys = []
  for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) keys.push(...batch)
  return keys.sort()
}

test('a browser logs in and every worker sees its session; Redis holds it all', async () => {
  const b = browser()
  const beforeLogin = await redisCommandCalls(client)
  const { startPid, callbackPid } = await logIn(b)
  const loginCalls = delta(beforeLogin, await redisCommandCalls(client))
  delete loginCalls.info
  const id = b.cookie.slice('sid='.length)
  console.log(`login started in worker ${startPid}, finished in worker ${callbackPid}; Redis commands of the login (the app's first: it registers the client): ${JSON.stringify(loginCalls)}`)

  // Requests on new connections go to the workers in turn: both serve the private resource.
  const served = new Map()
  for (let i = 0; i < 8; i += 1) {
    const read = await readResource(b)
    assert.equal(read.status, 200, read.text)
    assert.match(read.text, /<p>Status: 200<\/p>/)
    assert.ok(read.text.includes(`<pre>${escaped(css.privateText)}</pre>`), read.text)
    served.set(read.pid, (served.get(read.pid) ?? 0) + 1)
  }
  console.log(`private resource read by workers ${JSON.stringify(Object.fromEntries(served))}`)
  assert.equal(served.size, 2, 'both workers restored the session and read the resource')
  const home = await b.get('/')
  assert.ok(home.text.includes(`Your WebID: ${escaped(css.webId)}`))

  // What Redis holds: the cookie has the ID alone; the record, the list and the kept client are here.
  assert.match(b.cookie, /^sid=[0-9a-f-]{36}$/)
  const keys = await keysOf(`${PREFIX}*`)
  const record = await client.get(RECORD + id)
  const fields = Object.keys(JSON.parse(record))
  assert.ok(fields.includes('refreshToken') && fields.includes('accessToken') && fields.includes('privateKey'), fields.join())
  assert.deepEqual(
    keys.map((k) => k.slice(PREFIX.length).replace(id, '<id>').replace(css.issuer, '<issuer>').replace(appUrl, '<app>')),
    ['issuerConfig:<issuer>', 'solidClientAuthenticationUser:<id>', 'solidClientAuthn:dynamicClient:["<issuer>","<app>/callback"]', 'solidClientAuthn:registeredSessions'],
  )
  const sizes = await Promise.all(keys.map((k) => client.strLen(k)))
  console.log(`Redis keys after one login (bytes): ${keys.map((k, i) => `${k.slice(PREFIX.length).replace(id, '<id>')} ${sizes[i]}`).join(', ')}`)
  console.log(`session record: ${Buffer.byteLength(record)} B, fields ${fields.join(', ')}; MEMORY USAGE ${await client.memoryUsage(RECORD + id)} B`)

  // A request with a good stored token: one GET, nothing else.
  let before = await redisCommandCalls(client)
  assert.equal((await readResource(b)).status, 200)
  let calls = delta(before, await redisCommandCalls(client))
  delete calls.info
  console.log(`Redis commands of a request whose stored access token is good: ${JSON.stringify(calls)}`)
  assert.deepEqual(calls, { get: 1 })

  // A request that must refresh (the stored token made to look expired): the lease and the new tokens.
  const stored = JSON.parse(await client.get(RECORD + id))
  await client.set(RECORD + id, JSON.stringify({ ...stored, accessTokenExpiresAt: '0' }))
  before = await redisCommandCalls(client)
  assert.equal((await readResource(b)).status, 200)
  calls = delta(before, await redisCommandCalls(client))
  delete calls.info
  console.log(`Redis commands of a request that refreshes: ${JSON.stringify(calls)}`)
  const refreshed = JSON.parse(await client.get(RECORD + id))
  assert.notEqual(refreshed.accessTokenExpiresAt, '0', 'the refresh stored a new access token')
  assert.notEqual(refreshed.accessToken, stored.accessToken)
  assert.equal(await client.exists(`${PREFIX}solidClientAuthn:refreshLease:${id}`), 0, 'the lease was given back')
  assert.ok(calls.set >= 2, 'the lease (SET NX PX) and the record')

  // A worker that dies takes nothing with it: the primary starts another, the session lives on.
  const victim = [...served.keys()][0]
  process.kill(victim, 'SIGKILL')
  // Until the primary has seen the worker go, it may still hand it connections.
  await app.waitFor(new RegExp(`worker ${victim} exited`))
  const after = new Set()
  for (let i = 0; i < 20 && after.size < 2; i += 1) {
    const read = await readResource(b).catch((e) => ({ status: e.code }))
    if (read.status === 200) after.add(read.pid)
    else await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.ok(!after.has(victim))
  assert.equal(after.size, 2, `a new worker serves the session too (${[...after]})`)

  // Logout in one worker is logout in all of them.
  const out = await b.get('/logout')
  assert.equal(out.status, 302)
  assert.equal(b.cookie, undefined)
  assert.equal(await client.exists(RECORD + id), 0, 'the record left Redis')
  b.cookie = `sid=${id}` // the old cookie is worth nothing in any worker
  const denied = new Set()
  for (let i = 0; i < 4; i += 1) {
    const read = await readResource(b)
    assert.equal(read.status, 401)
    denied.add(read.pid)
  }
  assert.equal(denied.size, 2)
  assert.deepEqual(JSON.parse(await client.get(`${PREFIX}solidClientAuthn:registeredSessions`)), [])
})

test('the health check answers from every worker', async () => {
  const b = browser()
  const pids = new Set()
  for (let i = 0; i < 4; i += 1) {
    const res = await b.get('/healthz')
    assert.equal(res.status, 200)
    assert.equal(res.text, 'ok')
    pids.add(res.pid)
  }
  assert.equal(pids.size, 2)
})

// The web app of examples/web-app as several processes (node:cluster) sharing their sessions in
// Redis: any worker can finish a login another started, and any worker restores any session.
// See README.md beside this file (running behind a load balancer, what lives where, sizing Redis).
//
//   REDIS_URL=redis://127.0.0.1:6379 WORKERS=4 node examples/cluster/server.mjs
//
// Environment: PORT (3001; 0 for any free port), WORKERS (one per CPU), REDIS_URL,
// REDIS_PREFIX ('solid-app:'), PUBLIC_URL (the URL browsers use, the load balancer's; by default
// http://localhost:PORT). Every response names the worker that served it (X-Worker-Pid).
import cluster from 'node:cluster'
import http from 'node:http'
import { createRequire } from 'node:module'
import os from 'node:os'
import { Session, getSessionFromStorage } from 'solid-client-authn-native'

const require = createRequire(import.meta.url)
const { createClient } = require('redis')
const { createRedisStorage, redisClientOptions } = require('../redis-storage.js')

const PORT = Number(process.env.PORT ?? 3001)
const WORKERS = Number(process.env.WORKERS ?? os.availableParallelism())
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const REDIS_PREFIX = process.env.REDIS_PREFIX ?? 'solid-app:'
const COOKIE = 'sid'

if (cluster.isPrimary) {
  // The primary serves nothing itself: it starts the workers, starts a new one when one dies,
  // and (with node:cluster) hands incoming connections to the workers in turn.
  let stopping = false
  let listening = 0
  cluster.on('listening', (worker, address) => {
    listening += 1
    if (listening === WORKERS) {
      const url = process.env.PUBLIC_URL ?? `http://localhost:${address.port}`
      console.log(`Listening on ${url} (${WORKERS} workers, Redis ${REDIS_URL})`)
    }
  })
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    console.error(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`)
    cluster.fork()
  })
  for (let i = 0; i < WORKERS; i += 1) cluster.fork()
  const stop = () => {
    stopping = true
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM')
    setTimeout(() => process.exit(0), 3000).unref()
    cluster.disconnect(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} else {
  await startWorker()
}

async function startWorker() {
  // One Redis client and one storage object per worker, for the worker's whole life: the package
  // serialises its updates per storage object, and across processes Redis does the rest (the
  // refresh lease is an atomic SET NX PX, through the storage's setIfAbsent).
  const client = createClient(redisClientOptions(REDIS_URL))
  client.on('error', (error) => console.warn(`worker ${process.pid}: redis: ${error.message}`))
  await client.connect()
  const storage = createRedisStorage(client, { prefix: REDIS_PREFIX })

  const server = http.createServer((req, res) => {
    res.setHeader('x-worker-pid', String(process.pid))
    handle(req, res).catch((error) => {
      console.error(error)
      if (res.headersSent) return res.destroy()
      page(res, error.name === 'StorageError' ? 503 : 500, 'Something went wrong', `<p>${escape(error.message)}</p><p><a href="/">Home</a></p>`)
    })
  })
  // Every worker listens on the same port; node:cluster shares it. Behind a load balancer, bind
  // the address it reaches (HOST) instead of loopback.
  await new Promise((resolve) => server.listen(PORT, process.env.HOST ?? 'localhost', resolve))
  // The redirect URL must be the URL the browser comes back to: the load balancer's.
  const publicUrl = process.env.PUBLIC_URL ?? `http://localhost:${server.address().port}`

  const stop = () => {
    server.close()
    server.closeIdleConnections()
    client.quit().catch(() => {})
  }
  process.on('SIGTERM', stop)

  /** The logged-in session of the browser making `req`, restored from Redis; else undefined. */
  async function currentSession(req) {
    const id = sessionIdOf(req)
    if (id === undefined) return undefined
    try {
      // One GET while the stored access token is good, in whichever worker; a refresh (by one
      // worker of all, the others waiting for its tokens) once it is not.
      const session = await getSessionFromStorage(id, { storage })
      return session?.info.isLoggedIn ? session : undefined
    } catch (error) {
      if (error.code === 'ERR_OAUTH_INVALID_GRANT') return undefined // log in again
      throw error
    }
  }

  const routes = {
    // For the load balancer's health check: this worker is up and reaches Redis.
    async '/healthz'(req, res) {
      res.writeHead(client.isReady ? 200 : 503, { 'content-type': 'text/plain' }).end(client.isReady ? 'ok' : 'redis unavailable')
    },

    async '/'(req, res) {
      const session = await currentSession(req)
      if (session === undefined) {
        return page(
          res,
          200,
          'Not logged in',
          `<form action="/login">
  <label>Your Solid identity provider <input name="issuer" type="url" required value="http://localhost:3000/"></label>
  <button>Log in</button>
</form>`,
        )
      }
      page(
        res,
        200,
        'Logged in',
        `<p>Your WebID: ${escape(session.info.webId)}</p>
<form action="/resource">
  <label>Read a resource as you <input name="url" type="url" required size="60"></label>
  <button>Read</button>
</form>
<p><a href="/logout">Log out of this app</a> | <a href="/logout?idp=1">Log out of your identity provider too</a></p>`,
      )
    },

    async '/login'(req, res, params) {
      const oidcIssuer = params.get('issuer')
      if (!oidcIssuer) return redirect(res, '/')
      const previous = sessionIdOf(req)
      if (previous !== undefined) await new Session({ storage }, previous).logout()
      // The login in progress (PKCE verifier, state) goes to Redis, so the worker that gets the
      // callback need not be this one. No background refresh: each request restores.
      const session = new Session({ storage, keepAlive: false })
      await session.login({
        oidcIssuer,
        redirectUrl: `${publicUrl}/callback`,
        clientName: 'solid-client-authn-native cluster example',
        handleRedirect: (to) => {
          // The cookie holds the session ID and nothing else; the session itself is in Redis.
          res.setHeader('set-cookie', `${COOKIE}=${session.info.sessionId}; Path=/; HttpOnly; SameSite=Lax`)
          redirect(res, to)
        },
      })
    },

    async '/callback'(req, res) {
      const id = sessionIdOf(req)
      if (id === undefined) return page(res, 400, 'No login in progress', '<p><a href="/">Start again</a></p>')
      const session = new Session({ storage, keepAlive: false }, id)
      let info
      try {
        info = await session.handleIncomingRedirect(new URL(req.url, publicUrl).href)
      } catch (error) {
        if (error.code !== 'ERR_INVALID_REDIRECT' && error.name !== 'OAuthError') throw error
        return page(res, 400, 'The login did not finish', `<p>${escape(error.message)}</p><p><a href="/">Start again</a></p>`)
      }
      // Someone else's redirect would log this browser in as them (login CSRF): refuse it.
      if (info.sessionId !== id) {
        await session.logout()
        return page(res, 400, 'This login was not started in this browser', '<p><a href="/">Start again</a></p>')
      }
      redirect(res, '/')
    },

    async '/resource'(req, res, params) {
      const session = await currentSession(req)
      if (session === undefined) return page(res, 401, 'Not logged in', '<p><a href="/">Log in first</a></p>')
      let target
      try {
        target = new URL(params.get('url') ?? '')
      } catch {
        return page(res, 400, 'Not a URL', '<p><a href="/">Back</a></p>')
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') return page(res, 400, 'Not an http(s) URL', '<p><a href="/">Back</a></p>')
      const response = await session.fetch(target)
      const body = await response.text()
      page(
        res,
        200,
        'Resource',
        `<p>${escape(target.href)}</p>
<p>Status: ${response.status}</p>
<p>Served by worker ${process.pid}</p>
<pre>${escape(body)}</pre>
<p><a href="/">Home</a></p>`,
      )
    },

    async '/logout'(req, res, params) {
      res.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`)
      const id = sessionIdOf(req)
      if (id === undefined) return redirect(res, '/')
      if (params.get('idp') === '1') {
        const session = await currentSession(req)
        if (session !== undefined) return session.logout({ logoutType: 'idp', handleRedirect: (to) => redirect(res, to) })
      }
      // Deletes the record from Redis (every worker sees it gone) and revokes the refresh token.
      await new Session({ storage }, id).logout()
      redirect(res, '/')
    },
  }

  async function handle(req, res) {
    const { pathname, searchParams } = new URL(req.url, publicUrl)
    const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined
    if (req.method !== 'GET' || route === undefined) return page(res, 404, 'Not found', '<p><a href="/">Home</a></p>')
    await route(req, res, searchParams)
  }
}

function sessionIdOf(req) {
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = pair.trim().split('=')
    if (name === COOKIE && value) return value
  }
  return undefined
}

function redirect(res, location) {
  res.writeHead(302, { location }).end()
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** `body` is HTML: whatever it holds from outside must already be escaped. */
function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'",
  })
  res.end(`<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>
${body}
</body></html>
`)
}

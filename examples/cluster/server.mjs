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
import os from 'node:os'
import { RedisStorage } from 'solid-client-authn-native'
import { requestHandler } from '../web-app/app.mjs'

const PORT = Number(process.env.PORT ?? 3001)
const WORKERS = Number(process.env.WORKERS ?? os.availableParallelism())
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const REDIS_PREFIX = process.env.REDIS_PREFIX ?? 'solid-app:'

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
  // One storage object per worker, for the worker's whole life: the package serialises its
  // updates per storage object, and across processes Redis does the rest (the refresh and
  // session-list leases are atomic SET NX PX).
  const storage = new RedisStorage({ url: REDIS_URL, keyPrefix: REDIS_PREFIX })

  // The web app's handler needs the URL browsers use, known once the server listens.
  let handler
  const server = http.createServer((req, res) => {
    res.setHeader('x-worker-pid', String(process.pid))
    handler(req, res)
  })
  // Every worker listens on the same port; node:cluster shares it. Behind a load balancer, bind
  // the address it reaches (HOST) instead of loopback.
  await new Promise((resolve) => server.listen(PORT, process.env.HOST ?? 'localhost', resolve))
  // The redirect URL must be the URL the browser comes back to: the load balancer's. The login
  // in progress (PKCE verifier, state) is in Redis, so the worker that gets the callback need
  // not be the one that started it, and every request restores its session from Redis: one GET
  // while the stored access token is good, in whichever worker; a refresh (by one worker of all,
  // the others waiting for its tokens) once it is not.
  const publicUrl = process.env.PUBLIC_URL ?? `http://localhost:${server.address().port}`
  handler = requestHandler({
    storage,
    url: publicUrl,
    clientName: 'solid-client-authn-native cluster example',
    routes: {
      // For the load balancer's health check: this worker is up and reaches Redis (a read
      // fails at once while Redis is down).
      async '/healthz'(req, res) {
        const reachable = await storage.get('healthz').then(() => true, () => false)
        res.writeHead(reachable ? 200 : 503, { 'content-type': 'text/plain' }).end(reachable ? 'ok' : 'redis unavailable')
      },
    },
    aboutResponse: () => `<p>Served by worker ${process.pid}</p>`,
  })

  const stop = () => {
    server.close()
    server.closeIdleConnections()
    storage.close().catch(() => {})
  }
  process.on('SIGTERM', stop)
}

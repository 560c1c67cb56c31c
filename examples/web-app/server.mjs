// A web app that logs its users in through their Solid identity provider and reads their private
// resources on their behalf, with plain node:http. See README.md beside this file.
//
//   node examples/web-app/server.mjs        (PORT=3001 by default)
import http from 'node:http'
import { pathToFileURL } from 'node:url'
import { requestHandler } from './app.mjs'

/**
 * Where the sessions live (tokens, DPoP keys, logins in progress): any object with get, set and
 * delete, sync or async. This one is a Map, so sessions end with the process; with Redis
 * (node-redis) it would be
 *
 *   get: async (key) => (await redis.get(key)) ?? undefined,
 *   set: (key, value) => redis.set(key, value),
 *   delete: (key) => redis.del(key),
 *
 * and with a database, a key-value table. The values hold refresh tokens and private keys: keep
 * the store as private as a password database.
 */
export function memoryStorage() {
  const map = new Map()
  return {
    async get(key) {
      return map.get(key)
    },
    async set(key, value) {
      map.set(key, value)
    },
    async delete(key) {
      map.delete(key)
    },
  }
}

/**
 * Starts the app on localhost. `storage` must be one object for the app's whole life: the package
 * serialises concurrent updates per storage object, not per backend.
 * Resolves `{ url, server, close() }`.
 */
export async function startApp({ port = 0, storage = memoryStorage() } = {}) {
  // The handler needs the app's URL, which is known once the server listens.
  let handler
  const server = http.createServer((req, res) => handler(req, res))
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    // Loopback only, and under the host name that the redirect URL names: the browser must come
    // back to the host that set the cookie.
    server.listen(port, 'localhost', resolve)
  })
  const url = `http://localhost:${server.address().port}`
  handler = requestHandler({ storage, url, clientName: 'solid-client-authn-native web app example' })

  return {
    url,
    server,
    close() {
      const closed = new Promise((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      return closed
    },
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = await startApp({ port: Number(process.env.PORT ?? 3001) })
  console.log(`Listening on ${app.url}`)
}

'use strict'
// Another process: restores a session from a file storage and fetches a resource with it.
// Usage: node restore-child.js <storage.json> <sessionId> <resourceUrl>; prints JSON.
const { getSessionFromStorage } = require('../..')
const { fileStorage } = require('../helpers.js')

async function main() {
  const [path, sessionId, resource] = process.argv.slice(2)
  const session = await getSessionFromStorage(sessionId, { storage: fileStorage(path) })
  if (session === undefined) return { found: false }
  const response = await session.fetch(resource)
  return { found: true, isLoggedIn: session.info.isLoggedIn, webId: session.info.webId, status: response.status, body: await response.text() }
}

main().then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    process.stderr.write(`${error.name}: ${error.message}\n`)
    process.exitCode = 1
  },
)

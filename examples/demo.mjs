// The main job, against a real Solid server: log a client in, read a private resource, keep the
// session in the app's own storage, and restore sessions from that storage: the client's, and a
// user's that the reference package stored (through its refresh token).
// Run with `npm run demo` (installs, builds, then runs this file). It starts a local Community
// Solid Server by itself (seeded with alice's pod and one private resource) and stops it at the end.
import {
  Session,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
} from 'solid-client-authn-native'
import { startCss } from '../__test__/support/servers.js'
import { referenceAuthCodeSession } from '../__test__/support/reference-login.mjs'

const RECORD = 'solidClientAuthenticationUser:'
const SECRET_FIELDS = new Set(['clientSecret', 'refreshToken', 'accessToken', 'idToken', 'privateKey'])

const step = (text) => console.log(`\n${text}`)
const line = (label, value) => console.log(`  ${label.padEnd(26)} ${value}`)
const quote = (text) => JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)

/** A session record as stored, with secret values masked and long ones cut short. */
function masked(raw) {
  const record = JSON.parse(raw)
  const shown = Object.entries(record).map(([field, value]) => {
    if (SECRET_FIELDS.has(field)) return `    ${field}: ****** (${value.length} chars)`
    return `    ${field}: ${quote(value)}`
  })
  return `{\n${shown.join('\n')}\n  }`
}

/** An app's own storage (think Redis): async get/set/delete over a Map. */
function mapStorage() {
  const map = new Map()
  return {
    map,
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

step('1. Starting a Community Solid Server for this demo ...')
const started = performance.now()
const css = await startCss()
line('server', `${css.base} (up in ${((performance.now() - started) / 1000).toFixed(1)} s)`)
line('private resource', css.privateResource)

try {
  // -------------------------------------------------------------------------------------------
  step('2. A client logs in with its client credentials')
  const storage = mapStorage()
  const session = new Session({ storage }, 'demo-client')
  await session.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret })
  line('session.info.isLoggedIn', session.info.isLoggedIn)
  line('session.info.webId', session.info.webId)
  const response = await session.fetch(css.privateResource)
  line('session.fetch(private)', `${response.status} ${quote(await response.text())}`)
  line('plain fetch(private)', (await fetch(css.privateResource)).status)
  line('keys in storage', '')
  for (const key of storage.map.keys()) console.log(`    ${key}`)
  line(`${RECORD}demo-client`, masked(storage.map.get(`${RECORD}demo-client`)))

  // -------------------------------------------------------------------------------------------
  step("3. The client's session restored from storage (as a later request or another process would)")
  const stored = JSON.parse(storage.map.get(`${RECORD}demo-client`))
  const client = await getSessionFromStorage('demo-client', { storage })
  line('getSessionFromStorage', `isLoggedIn ${client.info.isLoggedIn}, ${client.info.webId}`)
  if (client.info.isLoggedIn) {
    const reused = JSON.parse(storage.map.get(`${RECORD}demo-client`)).accessToken === stored.accessToken
    line('how', reused ? 'the stored access token, still good: nothing sent to the server' : 'logged in again with the client credentials')
    line('session.fetch(private)', (await client.fetch(css.privateResource)).status)
  }

  // -------------------------------------------------------------------------------------------
  step("4. A user's session restored from storage, through its refresh token")
  // An app switching packages has sessions that @inrupt/solid-client-authn-node stored: here the
  // reference package logs alice in (authorization-code flow, driven headlessly through the
  // server's login pages) and leaves her session in the app's storage.
  await referenceAuthCodeSession({ css, storage, sessionId: 'alice-web' })
  line('stored by the reference', `${RECORD}alice-web (a refresh token and a DPoP key)`)
  const heard = []
  const restored = await getSessionFromStorage('alice-web', { storage, onNewRefreshToken: () => heard.push('newRefreshToken') })
  line('getSessionFromStorage', `isLoggedIn ${restored.info.isLoggedIn}, ${restored.info.webId}`)
  line('how', heard.length ? 'refreshed with the refresh token (newRefreshToken fired)' : 'no refresh')
  const again = await restored.fetch(css.privateResource)
  line('session.fetch(private)', `${again.status} ${quote(await again.text())}`)
  const afterRefresh = JSON.parse(storage.map.get(`${RECORD}alice-web`))
  const inSeconds = Math.round((Number(afterRefresh.accessTokenExpiresAt) - Date.now()) / 1000)
  line('stored with it', `refreshToken ******, accessToken ****** (${afterRefresh.accessTokenType}, good for ${inSeconds} s)`)

  heard.length = 0
  const second = await getSessionFromStorage('alice-web', { storage, onNewRefreshToken: () => heard.push('newRefreshToken') })
  const sameToken = JSON.parse(storage.map.get(`${RECORD}alice-web`)).accessToken === afterRefresh.accessToken
  line('restored again', `isLoggedIn ${second.info.isLoggedIn}`)
  line('how', heard.length === 0 && sameToken ? 'the stored access token, still good: nothing sent to the server' : 'refreshed again')
  line('session.fetch(private)', (await second.fetch(css.privateResource)).status)

  // -------------------------------------------------------------------------------------------
  step('5. The storage functions')
  line('getSessionIdFromStorageAll', JSON.stringify(await getSessionIdFromStorageAll(storage)))
  await storage.set(`${RECORD}broken`, '{"refreshToken":"SECRET-RT"')
  await getSessionFromStorage('broken', { storage }).catch((e) => line(`${e.name}`, e.message))

  // -------------------------------------------------------------------------------------------
  step('6. Cleaning up')
  await session.logout()
  line('after logout', `isLoggedIn ${session.info.isLoggedIn}; fetch(private) ${(await session.fetch(css.privateResource)).status}`)
  line('getSessionIdFromStorageAll', JSON.stringify(await getSessionIdFromStorageAll(storage)))
  await clearSessionFromStorageAll(storage)
  storage.map.delete(`${RECORD}broken`) // never registered, so not one of the sessions cleared
  line('clearSessionFromStorageAll', JSON.stringify(await getSessionIdFromStorageAll(storage)))
  line('keys left in storage', '')
  for (const [key, value] of storage.map) {
    const note = key.startsWith('issuerConfig:')
      ? "the server's public metadata"
      : key.startsWith(RECORD) && JSON.parse(value).sessionId
        ? "the reference's login-state record, which it never removes"
        : value
    console.log(`    ${key}  (${note})`)
  }
} finally {
  await css.stop()
  line('server', 'stopped')
}
console.log('\nDone; nothing keeps the process alive, so it exits now.')

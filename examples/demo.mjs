// The main job, against a real Solid server: log a client in, read a private resource, keep the
// session in the app's own storage, and restore sessions from that storage: the client's, and a
// user's who logged in by WebID through the server's login page (the authorization-code flow).
// Run with `npm run demo` (installs, builds, then runs this file). It starts a local Community
// Solid Server by itself (seeded with alice's pod and one private resource) and stops it at the end.
import {
  Session,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
  refreshSession,
  getWebIdIssuers,
} from 'solid-client-authn-native'
import { startCss } from '../__test__/support/servers.js'
import { authcodeLogin } from '../__test__/support/authcode-login.mjs'

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
  step("4. A user logs in by WebID through the server's login page (authorization code), and is restored")
  // The provider is the one the WebID's profile names; at the end, the profile is checked to name
  // the provider that vouched for the WebID.
  line('getWebIdIssuers(webId)', JSON.stringify(await getWebIdIssuers(css.webId)))
  const user = new Session({ storage }, 'alice-web')
  const authorizationUrl = await user.login({
    webId: css.webId,
    redirectUrl: 'http://localhost:9/callback',
    clientName: 'demo app',
    handleRedirect: () => {}, // a web app would redirect the browser here
  })
  line('login() handed over', quote(authorizationUrl))
  // A browser would follow that URL; here the server's login, pick-WebID and consent pages are
  // driven with HTTP requests, up to the redirect back to the app.
  const { redirectUrl } = await authcodeLogin({ authorizationUrl, email: css.email, password: css.password, webId: css.webId })
  const info = await user.handleIncomingRedirect(redirectUrl)
  line('handleIncomingRedirect', `isLoggedIn ${info.isLoggedIn}, ${info.webId} (its profile names ${css.issuer})`)
  line('stored', `${RECORD}alice-web (a registered client, a refresh token, a DPoP key, the WebID check's mark)`)

  const heard = []
  const restored = await getSessionFromStorage('alice-web', { storage, onNewRefreshToken: () => heard.push('newRefreshToken') })
  line('getSessionFromStorage', `isLoggedIn ${restored.info.isLoggedIn}`)
  line('how', heard.length === 0 ? 'the stored access token, still good: nothing sent to the server' : 'refreshed')
  const again = await restored.fetch(css.privateResource)
  line('session.fetch(private)', `${again.status} ${quote(await again.text())}`)
  await refreshSession(restored, { storage })
  const afterRefresh = JSON.parse(storage.map.get(`${RECORD}alice-web`))
  const inSeconds = Math.round((Number(afterRefresh.accessTokenExpiresAt) - Date.now()) / 1000)
  line('refreshSession', `refreshed through the refresh token; the new access token is good for ${inSeconds} s`)
  line('session.fetch(private)', (await restored.fetch(css.privateResource)).status)

  // -------------------------------------------------------------------------------------------
  step('5. The storage functions')
  line('getSessionIdFromStorageAll', JSON.stringify(await getSessionIdFromStorageAll(storage)))
  await storage.set(`${RECORD}broken`, '{"refreshToken":"SECRET-RT"')
  await getSessionFromStorage('broken', { storage }).catch((e) => line(`${e.name}`, e.message))

  // -------------------------------------------------------------------------------------------
  step('6. Cleaning up')
  await session.logout()
  line('after logout', `isLoggedIn ${session.info.isLoggedIn}; fetch(private) ${(await session.fetch(css.privateResource)).status}`)
  await restored.logout({
    logoutType: 'idp',
    postLogoutUrl: 'http://localhost:9/bye',
    handleRedirect: (url) => line('IdP logout URL', quote(url)), // a web app would redirect the browser here
  })
  line('user logged out', 'its refresh token revoked at the server')
  line('getSessionIdFromStorageAll', JSON.stringify(await getSessionIdFromStorageAll(storage)))
  await clearSessionFromStorageAll(storage)
  storage.map.delete(`${RECORD}broken`) // never registered, so not one of the sessions cleared
  line('clearSessionFromStorageAll', JSON.stringify(await getSessionIdFromStorageAll(storage)))
  line('keys left in storage', '')
  for (const [key, value] of storage.map) {
    const fields = JSON.parse(value)
    const note = key.startsWith('issuerConfig:')
      ? "the server's public metadata"
      : key.startsWith(RECORD) && fields.sessionId
        ? 'a login-state record'
        : fields.clientId
          ? `the client registered with the server, kept for the next login: ${fields.clientId} (its secret not shown)`
          : value
    console.log(`    ${key}  (${note})`)
  }
} finally {
  await css.stop()
  line('server', 'stopped')
}
console.log('\nDone; nothing keeps the process alive, so it exits now.')

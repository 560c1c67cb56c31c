// A tour of what works today: many users' sessions kept in an app's own storage, restored per
// request, listed, logged out and cleared, with clear errors when storage misbehaves.
// Run with `npm run demo` (installs, builds, then runs this file).
import {
  Session,
  InMemoryStorage,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  clearSessionFromStorageAll,
  setStorageTimeout,
} from 'solid-client-authn-native'

const show = (label, value) => console.log(`${label.padEnd(48)} ${JSON.stringify(value)}`)

// 1. An app's own storage (think Redis): async get/set/delete over a Map.
const redisLike = new Map()
const storage = {
  async get(key) { return redisLike.get(key) },
  async set(key, value) { redisLike.set(key, value) },
  async delete(key) { redisLike.delete(key) },
}

// Sessions in the layout @inrupt/solid-client-authn-node writes, as an app switching packages has them.
const users = {
  alice: 'https://alice.example/profile/card#me',
  bob: 'https://bob.example/profile/card#me',
  carol: 'https://carol.example/profile/card#me',
}
await storage.set('solidClientAuthn:registeredSessions', JSON.stringify(Object.keys(users)))
for (const [id, webId] of Object.entries(users)) {
  await storage.set(
    `solidClientAuthenticationUser:${id}`,
    JSON.stringify({ clientId: 'https://app.example/id', clientType: 'solid-oidc', issuer: 'https://idp.example/', dpop: 'true', keepAlive: 'true', webId, isLoggedIn: 'true' }),
  )
}

show('registered sessions', await getSessionIdFromStorageAll(storage))
const bob = await getSessionFromStorage('bob', { storage, refreshSession: false })
show("bob's session, restored per request", bob.info)
show('the same, through the original positional form', (await getSessionFromStorage('carol', storage)).info)
show('an unknown session', await getSessionFromStorage('mallory', storage))

bob.events.on('logout', () => show('event', 'logout'))
await bob.logout()
show('after bob logs out', await getSessionIdFromStorageAll(storage))
await clearSessionFromStorageAll(storage)
show('after clearing all', await getSessionIdFromStorageAll(storage))
show('keys left in storage', [...redisLike.keys()])

// 2. The process-wide default storage, used by every Session and function given no storage. Only
//    logins (coming next) register sessions in it; until then it stays empty.
const anonymous = new Session()
show('a new session on the default storage', anonymous.info)
show('default storage: getSessionIdFromStorageAll()', await getSessionIdFromStorageAll())
show('default storage: getSessionFromStorage(id)', await getSessionFromStorage(anonymous.info.sessionId))
await anonymous.logout()
await clearSessionFromStorageAll()
show('default storage after logout and clear', await getSessionIdFromStorageAll())

// 3. Native InMemoryStorage: restores never leave Rust (bench/ measures them against the reference).
const native = new InMemoryStorage()
await native.set('solidClientAuthenticationUser:dave', JSON.stringify({ issuer: 'https://idp.example/', webId: 'https://dave.example/#me' }))
show('restored from InMemoryStorage', (await getSessionFromStorage('dave', { storage: native, refreshSession: false })).info)

// 4. Storage that misbehaves gives a typed error that names the key and never the stored value.
await storage.set('solidClientAuthenticationUser:eve', '{"refreshToken":"SECRET"')
await getSessionFromStorage('eve', { storage, refreshSession: false }).catch((e) => show(`${e.name} (${e.code})`, e.message))
setStorageTimeout(200)
const keepAlive = setInterval(() => {}, 1000)
const hanging = { get: () => new Promise(() => {}), set() {}, delete() {} }
await getSessionIdFromStorageAll(hanging).catch((e) => show(`${e.name} (${e.code})`, e.message))
clearInterval(keepAlive)
console.log('\nDone; nothing keeps the process alive, so it exits now.')

'use strict'
// What a consumer does with the package, written once and run by every consumer project against
// each entry point. `api` is the module namespace (ESM) or the exports object (CommonJS); `t` holds
// the runner's describe, test and expect (jest's globals, or vitest's imports).

const { EventEmitter } = require('node:events')

const RECORD_PREFIX = 'solidClientAuthenticationUser:'
const REGISTERED = 'solidClientAuthn:registeredSessions'

/** An IStorage of the caller's own: async methods over a Map, as an app would write one. */
class MapStorage {
  constructor(entries = []) {
    this.map = new Map(entries)
  }
  async get(key) {
    return this.map.get(key)
  }
  async set(key, value) {
    this.map.set(key, value)
  }
  async delete(key) {
    this.map.delete(key)
  }
}

function seeded() {
  return new MapStorage([
    [REGISTERED, JSON.stringify(['s-1', 's-2'])],
    [
      `${RECORD_PREFIX}s-1`,
      JSON.stringify({
        issuer: 'https://idp.example/',
        webId: 'https://alice.example/profile/card#me',
        clientAppId: 'https://app.example/id',
        dpop: 'true',
      }),
    ],
    [`${RECORD_PREFIX}s-2`, JSON.stringify({ issuer: 'https://idp.example/', webId: 'https://bob.example/profile/card#me' })],
    ['unrelated', 'kept'],
  ])
}

function describeBehaviour(label, api, { describe, test, expect }) {
  describe(`${label}: behaviour`, () => {
    test('exports the documented API', () => {
      for (const name of ['Session', 'InMemoryStorage', 'getSessionFromStorage', 'getSessionIdFromStorageAll', 'clearSessionFromStorageAll']) {
        expect(typeof api[name]).toBe('function')
      }
      expect(api.EVENTS.LOGOUT).toBe('logout')
      expect(api.EVENTS.LOGIN).toBe('login')
    })

    test('InMemoryStorage round-trips values', async () => {
      const storage = new api.InMemoryStorage()
      expect(await storage.get('k')).toBeUndefined()
      await storage.set('k', 'v')
      expect(await storage.get('k')).toBe('v')
      await storage.delete('k')
      expect(await storage.get('k')).toBeUndefined()
    })

    test('getSessionFromStorage restores a session from a custom async storage (options form)', async () => {
      const storage = seeded()
      const session = await api.getSessionFromStorage('s-1', { storage, refreshSession: false })
      expect(session).toBeInstanceOf(api.Session)
      expect(session.info).toEqual({
        sessionId: 's-1',
        isLoggedIn: false,
        webId: 'https://alice.example/profile/card#me',
        clientAppId: 'https://app.example/id',
      })
      expect(await api.getSessionFromStorage('nobody', { storage, refreshSession: false })).toBeUndefined()
    })

    test('getSessionFromStorage accepts the positional (id, storage) form', async () => {
      const storage = seeded()
      const session = await api.getSessionFromStorage('s-2', storage)
      expect(session.info).toEqual({
        sessionId: 's-2',
        isLoggedIn: false,
        webId: 'https://bob.example/profile/card#me',
        clientAppId: undefined,
      })
    })

    test('getSessionIdFromStorageAll and clearSessionFromStorageAll work on a custom storage', async () => {
      const storage = seeded()
      expect((await api.getSessionIdFromStorageAll(storage)).sort()).toEqual(['s-1', 's-2'])
      await api.clearSessionFromStorageAll(storage)
      expect(await api.getSessionIdFromStorageAll(storage)).toEqual([])
      expect(storage.map.get(REGISTERED)).toBe('[]')
      expect(storage.map.has(`${RECORD_PREFIX}s-1`)).toBe(false)
      expect(storage.map.has(`${RECORD_PREFIX}s-2`)).toBe(false)
      expect(storage.map.get('unrelated')).toBe('kept')
      expect(await api.getSessionFromStorage('s-1', { storage, refreshSession: false })).toBeUndefined()
    })

    test('the default storage is used when no storage is given', async () => {
      await api.clearSessionFromStorageAll()
      expect(await api.getSessionIdFromStorageAll()).toEqual([])
    })

    test('session.events is an EventEmitter and logout() emits "logout" and forgets the session', async () => {
      const storage = seeded()
      const session = await api.getSessionFromStorage('s-1', { storage, refreshSession: false })
      expect(session.events).toBeInstanceOf(EventEmitter)
      let fired = 0
      session.events.on(api.EVENTS.LOGOUT, () => fired++)
      await session.logout()
      expect(fired).toBe(1)
      expect(session.info.isLoggedIn).toBe(false)
      expect(storage.map.has(`${RECORD_PREFIX}s-1`)).toBe(false)
      expect(await api.getSessionIdFromStorageAll(storage)).toEqual(['s-2'])
    })

    test('a new Session on an InMemoryStorage fires "logout" too', async () => {
      const session = new api.Session({ storage: new api.InMemoryStorage() }, 'fresh-id')
      expect(session.info).toEqual({ sessionId: 'fresh-id', isLoggedIn: false })
      const fired = new Promise((resolve) => session.events.once('logout', resolve))
      await session.logout()
      await fired
    })
  })
}

module.exports = { describeBehaviour, MapStorage }

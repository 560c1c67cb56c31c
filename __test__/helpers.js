'use strict'
// Storages and records shared by the tests.

const RECORD_PREFIX = 'solidClientAuthenticationUser:'
const LIST_KEY = 'solidClientAuthn:registeredSessions'

/** An IStorage over a Map whose methods are async, with a log of the calls made. */
function asyncMapStorage(entries = []) {
  const map = new Map(entries)
  const calls = []
  return {
    map,
    calls,
    async get(key) {
      calls.push(['get', key])
      return map.get(key)
    },
    async set(key, value) {
      calls.push(['set', key])
      map.set(key, value)
    },
    async delete(key) {
      calls.push(['delete', key])
      map.delete(key)
    },
  }
}

/** A record like the one an authorization-code login leaves (reference layout, §6.6). */
function loggedInRecord(overrides = {}) {
  return {
    clientId: 'https://app.example/id',
    clientType: 'solid-oidc',
    clientName: 'https://app.example/id',
    issuer: 'https://idp.example/',
    redirectUrl: 'https://app.example/cb',
    dpop: 'true',
    keepAlive: 'true',
    refreshToken: 'SECRET-REFRESH-TOKEN',
    webId: 'https://alice.example/profile/card#me',
    isLoggedIn: 'true',
    publicKey: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', alg: 'ES256' }),
    privateKey: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', d: 'SECRET-PRIVATE-D' }),
    ...overrides,
  }
}

/** Writes sessions into any IStorage the way the reference lays them out. */
async function seed(storage, sessions) {
  await storage.set(LIST_KEY, JSON.stringify(Object.keys(sessions)))
  for (const [id, record] of Object.entries(sessions)) {
    await storage.set(RECORD_PREFIX + id, JSON.stringify(record))
  }
}

/** The error a promise rejects with; fails the test if it resolves. */
async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

module.exports = { RECORD_PREFIX, LIST_KEY, asyncMapStorage, loggedInRecord, seed, rejection }

// Differential tests against the reference package: the same storage, written by one and read by
// the other, gives the same answers. The reference's logins need an identity provider; records it
// writes through them are exercised with the logins. Here the reference writes what it writes
// without one (its session registration), and both read records in the documented layout.
import test from 'node:test'
import assert from 'node:assert/strict'
import * as ours from '../index.mjs'
import * as reference from '@inrupt/solid-client-authn-node'
import helpers from './helpers.js'

const { LIST_KEY, RECORD_PREFIX, asyncMapStorage, loggedInRecord, seed } = helpers

const storages = () => [
  ['our InMemoryStorage', new ours.InMemoryStorage()],
  ["the reference's InMemoryStorage", new reference.InMemoryStorage()],
  ['a JS Map storage', asyncMapStorage()],
]

const records = {
  full: loggedInRecord({ refreshToken: undefined, clientAppId: 'https://app.example/id' }),
  noWebId: { issuer: 'https://idp.example/', dpop: 'false' },
  emptyStrings: { issuer: 'https://idp.example/', webId: '', clientAppId: '' },
  clientCredentials: { clientId: 'app-7', clientType: 'static', clientSecret: 'sec', clientName: 'app-7' },
  fromTokens: { webId: 'https://w.example/#me', isLoggedIn: 'true', clientAppId: 'c', expirationDate: '1747139127', issuer: 'https://idp.example/', dpop: 'false' },
  unknownFields: { issuer: 'https://idp.example/', webId: 'https://w/', somethingNew: 'x', nested: '{"a":1}' },
}

test('the same records give the same info and the same session list', async () => {
  for (const [name, storage] of storages()) {
    await seed(storage, records)
    assert.deepEqual(
      await ours.getSessionIdFromStorageAll(storage),
      await reference.getSessionIdFromStorageAll(storage),
      name,
    )
    for (const id of [...Object.keys(records), 'unknown']) {
      const theirs = await reference.getSessionFromStorage(id, { storage, refreshSession: false })
      const mine = await ours.getSessionFromStorage(id, { storage, refreshSession: false })
      assert.deepEqual(mine?.info, theirs?.info, `${name}: ${id}`)
      if (theirs) assert.deepEqual(Object.keys(mine.info), Object.keys(theirs.info), `${name}: ${id} key order`)
    }
  }
})

test('sessions the reference registers are listed by us, and our clear is seen by the reference', async () => {
  for (const [name, storage] of storages()) {
    await seed(storage, { mine: records.full })
    // The reference registers a session before it contacts the issuer, so a login against an
    // unreachable issuer leaves a registration behind.
    const session = new reference.Session({ storage }, 'theirs')
    await assert.rejects(session.login({ oidcIssuer: 'http://127.0.0.1:9/' }))
    assert.deepEqual(await ours.getSessionIdFromStorageAll(storage), ['mine', 'theirs'], name)

    await ours.clearSessionFromStorageAll(storage)
    assert.deepEqual(await reference.getSessionIdFromStorageAll(storage), [], name)
    assert.equal(await storage.get(LIST_KEY), '[]', 'the list is emptied, as the reference does')
    assert.equal(await reference.getSessionFromStorage('mine', { storage, refreshSession: false }), undefined)
  }
})

test("the reference's clear and logout are seen by us, and our logout by the reference", async () => {
  for (const [name, storage] of storages()) {
    await seed(storage, { a: records.full, b: records.full, c: records.full })
    await new reference.Session({ storage }, 'a').logout()
    assert.deepEqual(await ours.getSessionIdFromStorageAll(storage), ['b', 'c'], name)
    assert.equal(await ours.getSessionFromStorage('a', { storage, refreshSession: false }), undefined)

    await new ours.Session({ storage }, 'b').logout()
    assert.deepEqual(await reference.getSessionIdFromStorageAll(storage), ['c'], name)
    assert.equal(await reference.getSessionFromStorage('b', { storage, refreshSession: false }), undefined)

    await reference.clearSessionFromStorageAll(storage)
    assert.deepEqual(await ours.getSessionIdFromStorageAll(storage), [], name)
    assert.equal(await ours.getSessionFromStorage('c', { storage, refreshSession: false }), undefined)
  }
})

test('records we leave behind keep fields we do not know, as strings', async () => {
  const storage = asyncMapStorage()
  await seed(storage, { u: records.unknownFields, v: records.full })
  await new ours.Session({ storage }, 'v').logout()
  const kept = JSON.parse(storage.map.get(RECORD_PREFIX + 'u'))
  assert.deepEqual(kept, records.unknownFields)
  const theirs = await reference.getSessionFromStorage('u', { storage, refreshSession: false })
  assert.equal(theirs.info.webId, 'https://w/')
})

test('our InMemoryStorage works as the storage of the reference', async () => {
  const storage = new ours.InMemoryStorage()
  await storage.set(RECORD_PREFIX + 'r', JSON.stringify(records.full))
  const session = await reference.getSessionFromStorage('r', { storage, refreshSession: false })
  assert.equal(session.info.webId, records.full.webId)
  await session.logout()
  assert.equal(await storage.get(RECORD_PREFIX + 'r'), undefined)
})

test('the same events names and error classes', () => {
  assert.deepEqual({ ...ours.EVENTS }, { ...reference.EVENTS })
  assert.equal(new ours.NotImplementedError('x').message, new reference.NotImplementedError('x').message)
  assert.equal(new ours.ConfigurationError('m').message, new reference.ConfigurationError('m').message)
  // Ours carry their class name (divergence 14 in docs/divergences.md); the reference's say "Error".
  assert.equal(new ours.ConfigurationError('m').name, 'ConfigurationError')
  assert.equal(new ours.NotImplementedError('x').name, 'NotImplementedError')
})

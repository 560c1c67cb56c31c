// ESM consumer: import picks the package's "import" export (index.mjs).
import { createRequire } from 'node:module'
import * as api from 'solid-client-authn-native'
import { InMemoryStorage, Session, EVENTS, getSessionFromStorage } from 'solid-client-authn-native'

const require = createRequire(import.meta.url)
const { describeBehaviour } = require('../../common/behaviour.cjs')

describeBehaviour('import', api, { describe, test, expect })

describe('import: entry points', () => {
  test('the "import" condition picked index.mjs, not the CommonJS file', () => {
    // index.mjs has named exports only; a CommonJS module imported as ESM would also show a default.
    expect('default' in api).toBe(false)
  })

  test('named imports and the namespace agree', () => {
    expect(InMemoryStorage).toBe(api.InMemoryStorage)
    expect(Session).toBe(api.Session)
    expect(EVENTS).toBe(api.EVENTS)
  })

  test('require() through createRequire gives the same classes as import', () => {
    const cjs = require('solid-client-authn-native')
    expect(cjs.InMemoryStorage).toBe(InMemoryStorage)
    expect(cjs.Session).toBe(Session)
    expect(cjs.getSessionFromStorage).toBe(getSessionFromStorage)
  })
})

// ESM consumer: import picks the package's "import" export (index.mjs).
import { createRequire } from 'node:module'
import { isMainThread } from 'node:worker_threads'
import { describe, expect, inject, test } from 'vitest'
import * as api from 'solid-client-authn-native'
import { InMemoryStorage, Session, EVENTS, getSessionFromStorage } from 'solid-client-authn-native'

const require = createRequire(import.meta.url)
// The checks every consumer project runs, shared with the jest consumer.
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

  test('runs in the pool vitest was asked for', () => {
    // pool: 'threads' runs test files in worker threads, pool: 'forks' in child processes.
    expect(isMainThread).toBe(inject('pool') === 'forks')
  })
})

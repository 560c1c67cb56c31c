// Parity audit of what an app sees of a session, ours against the reference, on a real Community
// Solid Server: `session.info` after each step, and every EVENTS value emitted during it (order,
// argument count, the shape of each argument). Each flow runs the same steps with both packages,
// each on a storage of its own, and compares them aspect by aspect (one subtest each). A
// difference docs/divergences.md documents as a deliberate divergence is an explicit allowance naming its
// number, which checks that the difference is the documented one; any other difference is a
// `todo` subtest saying what differs. PARITY_DEBUG=1 prints every recorded step.
import test from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import * as ours from '../index.mjs'
import helpers from './helpers.js'
import servers from './support/servers.js'
import cssClients from './support/css-clients.js'
import { authcodeLogin } from './support/authcode-login.mjs'

const reference = await import('@inrupt/solid-client-authn-node')
const { RECORD_PREFIX, asyncMapStorage } = helpers

const REDIRECT = 'http://localhost:9/callback'
const EVENT_NAMES = Object.values(reference.EVENTS)
const SIDES = { theirs: reference, mine: ours }
const DEBUG = process.env.PARITY_DEBUG === '1'

let css
let documentServer
let clientIdDocument
test.before(async () => {
  css = await servers.startCss()
  // The reference takes only Solid-OIDC Client ID documents in fromAuthorizationRequestState, and
  // only those (or confidential clients) in a refresh-token login, so one is served here. CSS
  // fetches it over plain http because it is on localhost.
  documentServer = await cssClients.serveClientIdDocument({ name: 'parity audit', redirectUris: [REDIRECT] })
  clientIdDocument = documentServer.url
})
test.after(async () => {
  await css?.stop()
  documentServer?.close()
})

// ---------------------------------------------------------------------------------------------
// Shapes: what an app can rely on, without the values that differ between any two logins.

const YEAR_MS = 365 * 86_400_000

function stringKind(value) {
  const parts = value.split('.')
  if (parts.length === 3 && parts.every((p) => /^[\w-]*$/.test(p))) {
    try {
      JSON.parse(Buffer.from(parts[0], 'base64url').toString())
      return 'string(JWT)'
    } catch {}
  }
  if (/^https?:\/\//.test(value) && URL.canParse(value)) return 'string(URL)'
  return 'string'
}

/** Timestamps are told apart by unit, since `expirationDate` and `expiresAt` differ in it. */
function numberKind(value) {
  if (!Number.isFinite(value)) return `number(${value})`
  if (Math.abs(value - Date.now()) < YEAR_MS) return 'number(epoch ms)'
  if (Math.abs(value - Date.now() / 1000) < YEAR_MS / 1000) return 'number(epoch s)'
  return 'number'
}

function shapeOf(value, depth = 0) {
  if (value === null) return 'null'
  if (typeof value === 'string') return stringKind(value)
  if (typeof value === 'number') return numberKind(value)
  if (typeof value !== 'object') return typeof value
  if (value instanceof CryptoKey) {
    const { name, namedCurve } = value.algorithm
    return `CryptoKey(${name} ${namedCurve}, ${value.type}, ${value.extractable ? 'extractable' : 'not extractable'})`
  }
  // What the reference hands to `timeoutSet`. Whether it keeps Node alive and when it fires are
  // what an app can notice; `_idleTimeout` is Node's record of the delay it was armed with.
  if (value.constructor?.name === 'Timeout') return { Timeout: { ref: value.hasRef(), delaySeconds: Math.round(value._idleTimeout / 1000) } }
  if (value instanceof Error) return `Error(${value.constructor.name})`
  if (depth >= 3) return 'object'
  if (Array.isArray(value)) return value.map((v) => shapeOf(v, depth + 1))
  // Own keys, also those holding undefined: `Object.keys`, `in` and spreading see them.
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, shapeOf(value[key], depth + 1)]))
}

const isTimeout = (shape) => typeof shape === 'object' && shape !== null && 'Timeout' in shape

/** A shape without the keys that hold undefined (compared on their own, as a lesser matter). */
function defined(shape) {
  if (Array.isArray(shape)) return shape.map(defined)
  if (typeof shape !== 'object' || shape === null || isTimeout(shape)) return shape
  return Object.fromEntries(Object.entries(shape).filter(([, v]) => v !== 'undefined').map(([k, v]) => [k, defined(v)]))
}

/** The paths of the keys holding undefined. */
function undefinedKeys(shape, path = '') {
  if (typeof shape !== 'object' || shape === null || isTimeout(shape)) return []
  return Object.entries(shape).flatMap(([k, v]) => (v === 'undefined' ? [`${path}${k}`] : undefinedKeys(v, `${path}${k}.`)))
}

/** `session.info`: its shape, the values that follow from the inputs, and the expiry. */
function infoSnapshot(info) {
  return {
    shape: shapeOf(info),
    values: { sessionId: info.sessionId, isLoggedIn: info.isLoggedIn, webId: info.webId },
    expirationDate: info.expirationDate,
  }
}

function eventRecord(name, args) {
  return { name, argc: args.length, args: args.map((a) => shapeOf(a)), raw: args }
}

/** Listens to every EVENTS value on `session` until `stop()`. */
function listen(session) {
  const events = []
  const listeners = EVENT_NAMES.map((name) => [name, (...args) => events.push(eventRecord(name, args))])
  for (const [name, listener] of listeners) session.events.on(name, listener)
  return {
    events,
    stop: () => {
      for (const [name, listener] of listeners) session.events.off(name, listener)
    },
  }
}

/**
 * Runs one step on one side. With a `session`, every EVENTS value is listened to during the
 * step. Without, the step makes its session (a restore, fromTokens) and resolves
 * `{ session, result, callbacks }`: what it emits happens before anyone can listen, so it is
 * caught on EventEmitter.prototype and kept apart as `unobservable`; only its timers are compared
 * (they keep Node alive or not, and fire), and the callbacks the app passed in stand for events.
 */
async function observe(session, action) {
  const recorder = session ? listen(session) : undefined
  const spied = []
  const emit = EventEmitter.prototype.emit
  if (!session) {
    EventEmitter.prototype.emit = function (name, ...args) {
      if (EVENT_NAMES.includes(name)) spied.push({ emitter: this, record: eventRecord(name, args) })
      return emit.call(this, name, ...args)
    }
  }
  try {
    const outcome = await action(session)
    const made = session ?? outcome.session
    const unobservable = spied.filter((s) => s.emitter === made.events).map((s) => s.record)
    const events = recorder?.events ?? outcome.callbacks ?? []
    return {
      result: session ? outcome : outcome.result,
      session: made,
      info: infoSnapshot(made.info),
      events,
      timers: [...events, ...unobservable].filter((e) => e.name === 'timeoutSet').map((e) => e.args[0]),
      unobservable,
    }
  } finally {
    recorder?.stop()
    EventEmitter.prototype.emit = emit
  }
}

/**
 * The same step with both packages, the reference first. `action(session, side)` gets each
 * side's session, or with `creates` none (see `observe`).
 */
async function onBoth(sessions, action, { creates = false } = {}) {
  const out = {}
  for (const side of Object.keys(SIDES)) {
    out[side] = await observe(creates ? undefined : sessions[side], (session) => action(session, side))
  }
  if (DEBUG) console.error(JSON.stringify(out, (key, value) => (key === 'raw' || key === 'session' ? undefined : value instanceof Error ? `${value.name}: ${value.message}` : value), 2))
  return out
}

// ---------------------------------------------------------------------------------------------
// Comparisons, aspect by aspect, with the documented divergences as explicit allowances.

/**
 * A documented divergence: `apply(theirs, mine)` checks that the difference is the documented
 * one and makes both sides agree on it, so that anything else must still match.
 */
const allow = (number, what, apply) => ({ number, what, apply })

/** Both sides after the allowances; an allowance edits them in place, or returns a new pair. */
function afterAllowances(theirs, mine, allowances = []) {
  let pair = [structuredClone(theirs), structuredClone(mine)]
  for (const allowance of allowances) pair = allowance.apply(...pair) ?? pair
  return pair
}

/** Expiry dates that follow from the same provider's token lifetime agree to within this. */
const EXPIRY_SLACK_MS = 60_000

const names = (events) => events.map(({ name, argc }) => `${name}/${argc}`)

/** Argument shapes by event name and occurrence, timers aside (they have an aspect of their own). */
function payloads(events) {
  const out = {}
  for (const { name, args } of events) if (name !== 'timeoutSet') (out[name] ??= []).push(args)
  return out
}

const ASPECTS = {
  /** What the step resolves with: the same shape (undefined-holding keys included). */
  resolves: (step, allowances) => {
    const [t, m] = afterAllowances(shapeOf(step.theirs.result), shapeOf(step.mine.result), allowances)
    assert.deepEqual(m, t)
  },
  'session.info': (step, allowances) => {
    const [t, m] = afterAllowances(step.theirs.info, step.mine.info, allowances)
    assert.deepEqual(defined(m.shape), defined(t.shape), 'the same keys, with the same kinds of value')
    assert.deepEqual(m.values, t.values)
    if (typeof t.expirationDate === 'number' && typeof m.expirationDate === 'number') {
      assert.ok(Math.abs(m.expirationDate - t.expirationDate) < EXPIRY_SLACK_MS, `expirationDate ${m.expirationDate} vs ${t.expirationDate}`)
    }
  },
  'session.info keys holding undefined': (step, allowances) => {
    const [t, m] = afterAllowances(step.theirs.info, step.mine.info, allowances)
    assert.deepEqual(undefinedKeys(m.shape), undefinedKeys(t.shape))
  },
  'events in order, timeoutSet aside': (step, allowances) => {
    const withoutTimers = (events) => names(events.filter((e) => e.name !== 'timeoutSet'))
    const [t, m] = afterAllowances(withoutTimers(step.theirs.events), withoutTimers(step.mine.events), allowances)
    assert.deepEqual(m, t)
  },
  'timeoutSet where the reference emits it': (step, allowances) => {
    const [t, m] = afterAllowances(names(step.theirs.events), names(step.mine.events), allowances)
    assert.deepEqual(m, t)
  },
  'event payloads': (step, allowances) => {
    const [t, m] = afterAllowances(payloads(step.theirs.events), payloads(step.mine.events), allowances)
    for (const name of Object.keys(t)) {
      for (let i = 0; i < Math.min(t[name].length, m[name]?.length ?? 0); i++) {
        assert.deepEqual(defined(m[name][i]), defined(t[name][i]), `${name} #${i + 1}`)
      }
    }
  },
  'event payload keys holding undefined': (step, allowances) => {
    const [t, m] = afterAllowances(payloads(step.theirs.events), payloads(step.mine.events), allowances)
    for (const name of Object.keys(t)) {
      for (let i = 0; i < Math.min(t[name].length, m[name]?.length ?? 0); i++) {
        assert.deepEqual(m[name][i].map((a) => undefinedKeys(a)), t[name][i].map((a) => undefinedKeys(a)), `${name} #${i + 1}`)
      }
    }
  },
}

/**
 * The timers both arm (every `timeoutSet` argument, also one emitted before anyone could
 * listen). The reference arms each timer 5 s before the token expires, whatever it is for;
 * `kind` says what ours is for: a `'refresh'` (divergence 8) or the `'expiry'`.
 */
function compareTimers(step, kind) {
  const theirs = step.theirs.timers
  const mine = step.mine.timers
  assert.equal(mine.length, theirs.length, 'as many timers')
  if (theirs.length > 0) assert.ok(kind, 'the step says what our timer is for')
  for (let i = 0; i < theirs.length; i++) {
    assert.ok(isTimeout(theirs[i]) && isTimeout(mine[i]), 'a Timeout, as the reference emits')
    const t = theirs[i].Timeout
    const m = mine[i].Timeout
    // Divergence 8: the timers never keep the process alive; the reference's do.
    assert.equal(t.ref, true)
    assert.equal(m.ref, false)
    const lifetime = t.delaySeconds + 5
    if (kind === 'refresh') {
      // Divergence 8: a refresh a minute before the expiry (a fifth of the lifetime when that is
      // shorter); client-credentials sessions are renewed too, where the reference only expires.
      const due = lifetime - Math.min(60, lifetime / 5)
      assert.ok(Math.abs(m.delaySeconds - due) <= 5, `our refresh is due in ${m.delaySeconds} s; expected ~${due} s`)
    } else {
      assert.ok(Math.abs(m.delaySeconds - t.delaySeconds) <= 2, `sessionExpired is due in ${m.delaySeconds} s; the reference's in ${t.delaySeconds} s`)
    }
  }
}

/**
 * Runs every aspect of one step as a subtest. `spec.allow[aspect]` lists the allowances,
 * `spec.todo[aspect]` says what differs where nothing documents it, `spec.timers` what our timer
 * does, `spec.values(side)` picks the values that follow from the inputs (compared as they are),
 * and `spec.only` restricts the aspects (when the reference cannot run a step at all).
 */
async function compareStep(t, label, step, spec = {}) {
  const aspects = {
    ...ASPECTS,
    'timeoutSet argument': () => compareTimers(step, spec.timers),
    ...(spec.values ? { 'values that follow from the inputs': () => assert.deepEqual(spec.values(step.mine, 'mine'), spec.values(step.theirs, 'theirs')) } : {}),
  }
  for (const [aspect, check] of Object.entries(aspects)) {
    if (spec.only && !spec.only.includes(aspect)) continue
    const todo = spec.todo?.[aspect]
    await t.test(`${label}: ${aspect}`, todo ? { todo } : {}, () => check(step, spec.allow?.[aspect]))
  }
}

// Allowances used by several flows.

/** Divergence 6: `newTokens.expiresAt` is in seconds for every flow; the reference gives ms after client credentials. */
const expiresAtInSeconds = allow(6, 'newTokens.expiresAt in seconds', (theirs, mine) => {
  assert.equal(theirs.newTokens[0][0].expiresAt, 'number(epoch ms)')
  assert.equal(mine.newTokens[0][0].expiresAt, 'number(epoch s)')
  mine.newTokens[0][0].expiresAt = theirs.newTokens[0][0].expiresAt
})

/** Divergence 5: login resolves with the URL it handed to handleRedirect; the reference with undefined. */
const resolvesWithUrl = (handed) =>
  allow(5, 'login resolves with the authorization URL', (theirs, mine) => {
    assert.equal(theirs, 'undefined')
    assert.equal(mine, 'string(URL)')
    assert.ok(handed.mine, 'handleRedirect was called')
    return [theirs, theirs]
  })

/**
 * Divergence 7: `info.expirationDate` is set after every login, the authorization-code redirect
 * and `fromTokens` included, where the reference leaves it undefined; a logout keeps it, as the
 * reference keeps the one it sets.
 */
const expirationDateSet = allow(7, 'info.expirationDate after every login', (theirs, mine) => {
  assert.equal(theirs.expirationDate, undefined)
  assert.equal(typeof mine.expirationDate, 'number')
  assert.equal(mine.shape.expirationDate, 'number(epoch ms)')
  mine.shape.expirationDate = theirs.shape.expirationDate
  if (!('expirationDate' in theirs.shape)) delete mine.shape.expirationDate
  mine.expirationDate = undefined
})

// ---------------------------------------------------------------------------------------------
// Logins driven through CSS's pages.

async function drive(authorizationUrl) {
  const { redirectUrl } = await authcodeLogin({ authorizationUrl, email: css.email, password: css.password, webId: css.webId })
  return redirectUrl
}

/** A public client registered once with CSS (token_endpoint_auth_method none), used as static. */
async function registerPublicClient() {
  return (await cssClients.registerCssClient(css, { redirectUri: REDIRECT, confidential: false })).clientId
}

/** The `newTokens` payload of an authorization-code login made with `lib`: the input of a later flow. */
async function loginTokens(lib, loginOptions) {
  const session = new lib.Session({ storage: asyncMapStorage() })
  let tokens
  session.events.on('newTokens', (set) => (tokens = set))
  try {
    let url
    await session.login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, handleRedirect: (u) => (url = u), ...loginOptions })
    await session.handleIncomingRedirect(await drive(url))
    assert.ok(tokens?.refreshToken, 'CSS issued a refresh token')
    return tokens
  } finally {
    // Not ours: its logout revokes the refresh token the flow needs (divergence 9).
    if (lib === reference) await session.logout()
  }
}

/** Logs every session out, even when one fails: the reference's timers keep Node alive. */
async function logoutAll(...sessions) {
  let failure
  for (const session of sessions.flat()) {
    try {
      await session?.logout()
    } catch (e) {
      failure ??= e
    }
  }
  if (failure) throw failure
}

/** A session of each package, with the same ID, each on a storage of its own. */
function newSessions(id, options = {}) {
  const storages = { theirs: asyncMapStorage(), mine: asyncMapStorage() }
  const sessions = {}
  for (const [side, lib] of Object.entries(SIDES)) sessions[side] = new lib.Session({ storage: storages[side], ...options }, id)
  return { sessions, storages }
}

const firstArg = (recorded, name) => recorded.events.find((e) => e.name === name)?.raw[0]

// ---------------------------------------------------------------------------------------------
// The flows.

test('EVENTS has the reference values', () => {
  assert.deepEqual({ ...ours.EVENTS }, { ...reference.EVENTS })
})

for (const tokenType of ['DPoP', 'Bearer']) {
  test(`client credentials (${tokenType}): login, then logout`, async (t) => {
    const { sessions } = newSessions(`parity-cc-${tokenType}`)
    let login
    let logout
    try {
      login = await onBoth(sessions, (s) =>
        s.login({ oidcIssuer: css.issuer, clientId: css.clientId, clientSecret: css.clientSecret, ...(tokenType === 'Bearer' ? { tokenType } : {}) }),
      )
      logout = await onBoth(sessions, (s) => s.logout())
    } finally {
      await logoutAll(Object.values(sessions))
    }
    await compareStep(t, 'login', login, {
      allow: { 'event payloads': [expiresAtInSeconds] },
      timers: 'refresh',
      values: (side) => {
        const { webId, issuer, clientId } = firstArg(side, 'newTokens')
        return { webId, issuer, clientId }
      },
    })
    await compareStep(t, 'logout', logout)
  })
}

test('authorization code, dynamic client: login, redirect, restores, logout', async (t) => {
  const id = 'parity-ac'
  const { sessions, storages } = newSessions(id)
  const handed = {}
  const redirects = {}
  const restored = []
  const steps = {}
  let tokenLeftAtRestore
  try {
    steps.login = await onBoth(sessions, (s, side) =>
      s.login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, clientName: 'parity audit', handleRedirect: (u) => (handed[side] = u) }),
    )
    for (const side of Object.keys(SIDES)) redirects[side] = await drive(handed[side])
    steps.redirect = await onBoth(sessions, (s, side) => s.handleIncomingRedirect(redirects[side]))

    const restore = (_, side) => {
      const callbacks = []
      const onNewRefreshToken = (...args) => callbacks.push(eventRecord('onNewRefreshToken', args))
      return SIDES[side].getSessionFromStorage(id, { storage: storages[side], onNewRefreshToken }).then((session) => {
        restored.push(session)
        return { session, callbacks }
      })
    }
    steps.restore = await onBoth(sessions, restore, { creates: true })
    // Ours restores through the stored access token while it is good (divergence 3); with it
    // expired ours refreshes, as the reference always does, and that must look the same.
    const record = JSON.parse(storages.mine.map.get(RECORD_PREFIX + id))
    tokenLeftAtRestore = Number(record.accessTokenExpiresAt) - Date.now()
    storages.mine.map.set(RECORD_PREFIX + id, JSON.stringify({ ...record, accessTokenExpiresAt: '0' }))
    steps.refresh = await onBoth(sessions, restore, { creates: true })
    steps.logout = await onBoth(sessions, (s) => s.logout())
  } finally {
    await logoutAll(restored, Object.values(sessions))
  }

  await compareStep(t, 'login', steps.login, {
    allow: { resolves: [resolvesWithUrl(handed)] },
    values: (side, name) => {
      const { issuer, redirectUrl, dpopBound, state, clientId } = firstArg(side, 'authorizationRequest')
      const url = new URL(handed[name])
      // Ours pushes the request to CSS (RFC 9126), so its state is in the pushed request, not the
      // URL; the provider's redirect back carries it either way.
      const back = new URL(redirects[name])
      return { issuer, redirectUrl, dpopBound, stateInRedirect: back.searchParams.get('state') === state, clientIdInUrl: url.searchParams.get('client_id') === clientId }
    },
  })
  await compareStep(t, 'handleIncomingRedirect', steps.redirect, {
    timers: 'refresh',
    values: (side, name) => {
      const tokens = firstArg(side, 'newTokens')
      return {
        resolves: side.result,
        webId: tokens.webId,
        issuer: tokens.issuer,
        clientIsTheLogins: tokens.clientId === new URL(handed[name]).searchParams.get('client_id'),
        sameRefreshToken: firstArg(side, 'newRefreshToken') === tokens.refreshToken,
      }
    },
    allow: { 'session.info': [expirationDateSet] },
  })

  // Divergence 3: a restore while the stored access token has over a minute to live uses it and
  // sends nothing, so no refresh token comes back to announce; the reference always refreshes.
  const usedStoredToken = allow(3, 'the restore used the stored access token', (theirs, mine) => {
    assert.deepEqual(theirs, ['onNewRefreshToken/1'])
    assert.deepEqual(mine, [])
    assert.ok(tokenLeftAtRestore > 60_000, 'the stored access token had over a minute to live')
    mine.push(...theirs)
  })
  await compareStep(t, 'getSessionFromStorage', steps.restore, {
    allow: { 'events in order, timeoutSet aside': [usedStoredToken], 'timeoutSet where the reference emits it': [usedStoredToken] },
    timers: 'refresh',
  })
  await compareStep(t, 'getSessionFromStorage with the stored access token expired', steps.refresh, {
    timers: 'refresh',
    values: (side) => ({ callbackGetsAString: typeof side.events[0]?.raw[0] === 'string' }),
  })
  await compareStep(t, 'logout', steps.logout, { allow: { 'session.info': [expirationDateSet] } })
})

// The refresh tokens come from Bearer logins: CSS binds a public client's refresh token to the
// DPoP key of the login that got it, and login({ refreshToken }) takes no key, so both packages
// alike are refused a DPoP-bound one (invalid_grant). Each side gets its own, since CSS rotates
// a public client's refresh token and the first use spends it.
test('refresh-token login with a Client ID document (a public client), then logout', async (t) => {
  const clientId = clientIdDocument
  const tokens = {}
  for (const side of Object.keys(SIDES)) tokens[side] = await loginTokens(reference, { clientId, tokenType: 'Bearer' })
  const { sessions } = newSessions('parity-rt')
  const steps = {}
  try {
    steps.login = await onBoth(sessions, (s, side) => s.login({ oidcIssuer: css.issuer, clientId, refreshToken: tokens[side].refreshToken }))
    steps.logout = await onBoth(sessions, (s) => s.logout())
  } finally {
    await logoutAll(Object.values(sessions))
  }
  await compareStep(t, 'login', steps.login, {
    timers: 'refresh',
    values: (side) => {
      const { webId, issuer, clientId: tokenClient } = firstArg(side, 'newTokens')
      return { webId, issuer, clientId: tokenClient, sameRefreshToken: firstArg(side, 'newRefreshToken') === firstArg(side, 'newTokens').refreshToken }
    },
  })
  await compareStep(t, 'logout', steps.logout)
})

test('refresh-token login with a registered public client (token_endpoint_auth_method none)', async (t) => {
  const clientId = await registerPublicClient()
  // The reference cannot make the authorization-code login with such a client (it wants a
  // secret for any static client), so ours gets both refresh tokens.
  const tokens = {}
  for (const side of Object.keys(SIDES)) tokens[side] = await loginTokens(ours, { clientId, tokenType: 'Bearer' })
  const { sessions } = newSessions('parity-rt-public')
  let login
  try {
    login = await onBoth(sessions, (s, side) => s.login({ oidcIssuer: css.issuer, clientId, refreshToken: tokens[side].refreshToken }).catch((e) => e))
  } finally {
    await logoutAll(Object.values(sessions))
  }
  // Divergence 13: a public static client logs in with its refresh token; the reference wants a
  // secret for every client ID that is not a URL.
  const publicClientLogsIn = allow(13, 'a public static client logs in with a refresh token', (theirs, mine) => {
    assert.equal(theirs, 'Error(Error)')
    assert.equal(mine, 'undefined')
    return [mine, mine]
  })
  await compareStep(t, 'login', login, { only: ['resolves'], allow: { resolves: [publicClientLogsIn] } })
})

test('Session.fromTokens, then logout', async (t) => {
  // The same token set for both: what the reference's own newTokens gave after a login.
  const tokens = await loginTokens(reference, { clientId: clientIdDocument })
  const made = []
  const steps = {}
  try {
    steps.fromTokens = await onBoth(
      {},
      (_, side) =>
        SIDES[side].Session.fromTokens(tokens, 'parity-from-tokens').then((session) => {
          made.push(session)
          return { session }
        }),
      { creates: true },
    )
    steps.logout = await onBoth({ theirs: steps.fromTokens.theirs.session, mine: steps.fromTokens.mine.session }, (s) => s.logout())
  } finally {
    await logoutAll(made)
  }
  await compareStep(t, 'fromTokens', steps.fromTokens, {
    timers: 'expiry',
    allow: { 'session.info': [expirationDateSet] },
  })
  await compareStep(t, 'logout', steps.logout, { allow: { 'session.info': [expirationDateSet] } })
})

test('Session.fromAuthorizationRequestState, then the redirect, then logout', async (t) => {
  const { sessions: starters } = newSessions('parity-started')
  const states = {}
  const handed = {}
  const made = [...Object.values(starters)]
  const steps = {}
  try {
    for (const [side, session] of Object.entries(starters)) {
      session.events.on('authorizationRequest', (state) => (states[side] = state))
      await session.login({ oidcIssuer: css.issuer, redirectUrl: REDIRECT, clientId: clientIdDocument, handleRedirect: (u) => (handed[side] = u) })
    }
    steps.fromState = await onBoth(
      {},
      (_, side) =>
        // Only the state crosses to the process that finishes the login, as JSON.
        SIDES[side].Session.fromAuthorizationRequestState(JSON.parse(JSON.stringify(states[side])), 'parity-resumed').then((session) => {
          made.push(session)
          return { session }
        }),
      { creates: true },
    )
    const resumed = { theirs: steps.fromState.theirs.session, mine: steps.fromState.mine.session }
    const redirects = {}
    for (const side of Object.keys(SIDES)) redirects[side] = await drive(handed[side])
    steps.redirect = await onBoth(resumed, (s, side) => s.handleIncomingRedirect(redirects[side]))
    steps.logout = await onBoth(resumed, (s) => s.logout())
  } finally {
    await logoutAll(made)
  }
  await compareStep(t, 'fromAuthorizationRequestState', steps.fromState)
  await compareStep(t, 'handleIncomingRedirect', steps.redirect, {
    // No background refresh after this login, in either package: the session expires.
    timers: 'expiry',
    values: (side) => {
      const tokens = firstArg(side, 'newTokens')
      return { resolves: side.result, webId: tokens.webId, issuer: tokens.issuer, clientId: tokens.clientId, sameRefreshToken: firstArg(side, 'newRefreshToken') === tokens.refreshToken }
    },
    allow: { 'session.info': [expirationDateSet] },
  })
  await compareStep(t, 'logout', steps.logout, { allow: { 'session.info': [expirationDateSet] } })
})

/**
 * Listens on both sides at once until each has emitted one of `until` (or `ms` passed), holding
 * the event loop open meanwhile: our timers never keep Node alive by themselves.
 */
async function whileTimersRun(sessions, until, ms) {
  const out = {}
  const hold = setInterval(() => {}, 1_000)
  try {
    await Promise.all(
      Object.entries(sessions).map(async ([side, session]) => {
        const recorder = listen(session)
        const started = Date.now()
        while (!recorder.events.some((e) => until.includes(e.name)) && Date.now() - started < ms) await new Promise((r) => setTimeout(r, 50))
        recorder.stop()
        const events = recorder.events
        out[side] = { session, info: infoSnapshot(session.info), events, timers: events.filter((e) => e.name === 'timeoutSet').map((e) => e.args[0]), firedAfterMs: Date.now() - started }
      }),
    )
  } finally {
    clearInterval(hold)
  }
  if (DEBUG) console.error(JSON.stringify(out, (key, value) => (key === 'raw' || key === 'session' ? undefined : value), 2))
  return out
}

// CSS's tokens live 600 s or an hour, too long to wait for a timer; oidc-provider's can be short.
test('client credentials with 8-second tokens (oidc-provider): what the timers emit', async (t) => {
  const TTL = 8
  const op = await servers.startOp({ ccTtl: TTL })
  const steps = {}
  const made = []
  try {
    for (const keepAlive of [false, true]) {
      const { sessions } = newSessions(`parity-timer-${keepAlive}`, { keepAlive })
      made.push(...Object.values(sessions))
      steps[keepAlive] = { login: await onBoth(sessions, (s) => s.login({ oidcIssuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret })) }
      steps[keepAlive].timer = await whileTimersRun(sessions, ['sessionExpired', 'sessionExtended', 'error'], (TTL + 5) * 1000)
    }
  } finally {
    await logoutAll(made)
    await op.stop()
  }

  await compareStep(t, 'keepAlive false: login', steps.false.login, {
    allow: { 'event payloads': [expiresAtInSeconds] },
    timers: 'expiry',
  })
  await compareStep(t, 'keepAlive false: until the timer fires', steps.false.timer, {
    only: ['session.info', 'session.info keys holding undefined', 'events in order, timeoutSet aside', 'timeoutSet where the reference emits it', 'event payloads'],
  })
  // Divergence 8: a client-credentials session is renewed with the grant before its token
  // expires (sessionExtended, with a new timer), where the reference lets it expire.
  const renewed = allow(8, 'our client-credentials session is renewed instead of expiring', (theirs, mine) => {
    assert.deepEqual(theirs, ['sessionExpired/0'])
    assert.deepEqual(mine, mine.includes('timeoutSet/1') ? ['timeoutSet/1', 'sessionExtended/1'] : ['sessionExtended/1'])
    return [theirs, theirs]
  })
  const stillLoggedIn = allow(8, 'renewed, so still logged in', (theirs, mine) => {
    assert.equal(theirs.values.isLoggedIn, false)
    assert.equal(mine.values.isLoggedIn, true)
    assert.ok(mine.expirationDate > theirs.expirationDate, 'a later expiry')
    mine.values.isLoggedIn = false
    mine.expirationDate = theirs.expirationDate
  })
  await compareStep(t, 'keepAlive true: login', steps.true.login, {
    allow: { 'event payloads': [expiresAtInSeconds] },
    timers: 'refresh',
  })
  await compareStep(t, 'keepAlive true: until the timer fires', steps.true.timer, {
    allow: {
      'session.info': [stillLoggedIn],
      'events in order, timeoutSet aside': [renewed],
      'timeoutSet where the reference emits it': [renewed],
    },
    only: ['session.info', 'session.info keys holding undefined', 'events in order, timeoutSet aside', 'timeoutSet where the reference emits it'],
  })
})

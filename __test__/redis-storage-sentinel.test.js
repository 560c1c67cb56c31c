'use strict'
// The package's RedisStorage behind Redis Sentinel (src/redis/sentinel.rs): a master, a replica
// and three sentinels, started by support/redis-sentinel.js, with passwords on both (never
// repeated in an error). The multi-session functions, and records shared with a plain `{ url }`
// RedisStorage on the master; a login restored in another process; options; a wrong master name,
// sentinels unreachable or refusing, the master refusing its password; the process exiting after
// close() or with the storage forgotten; refresh with rotation across processes; and the master
// failed over (SENTINEL FAILOVER), frozen and killed: every call settles within the command
// timeout, and afterwards every session restores from the new master.
const test = require('node:test')
const assert = require('node:assert/strict')
const { setTimeout: sleep } = require('node:timers/promises')
const lib = require('..')
const { startRedisSentinel } = require('./support/redis-sentinel.js')
const { redisCli } = require('./support/redis-cluster.js')
const { rotationAcrossProcesses } = require('./support/rotation.js')
const { throughFailover } = require('./support/failover.js')
const { startFakeIdp } = require('./support/fake-idp.js')
const { LIST_KEY, RECORD_PREFIX, rejection, runChild, eventually, seed, loggedInRecord, privateCa } = require('./helpers.js')

const { RedisStorage, StorageError, Session, getSessionFromStorage, getSessionIdFromStorageAll, clearSessionFromStorageAll } = lib

const MASTER_PASSWORD = 'master-hunter2'
const SENTINEL_PASSWORD = 'sentinel-hunter2'

let setup
let idp
let sentinel // the `sentinel` option: the sentinels' URLs with their password, the master's password
const opened = []

test.before(async () => {
  ;[setup, idp] = await Promise.all([startRedisSentinel({ password: MASTER_PASSWORD, sentinelPassword: SENTINEL_PASSWORD }), startFakeIdp()])
  idp.answer('normal')
  sentinel = { nodes: setup.urls.map((url) => url.replace('redis://', `redis://:${SENTINEL_PASSWORD}@`)), masterName: setup.masterName, password: MASTER_PASSWORD }
})
test.after(async () => {
  await Promise.all(opened.map((s) => s.close()))
  await Promise.all([setup?.stop(), idp?.close()])
})

function open(options) {
  const storage = new RedisStorage(options)
  opened.push(storage)
  return storage
}

/** A plain RedisStorage on the server that is master now. */
async function onMaster(keyPrefix) {
  return open({ url: `redis://:${MASTER_PASSWORD}@127.0.0.1:${await setup.masterPort()}`, keyPrefix })
}

async function login(storage, id) {
  const session = new Session({ storage, keepAlive: false }, id)
  await session.login({ oidcIssuer: idp.issuer, clientId: 'sentinel-client', clientSecret: 'sentinel-secret' })
  return session
}

const tokenRequests = () => idp.requests.filter((r) => r.path === '/token').length

test('the multi-session functions behind Sentinel, on the records a plain RedisStorage on the master reads and writes', async () => {
  const storage = open({ sentinel, keyPrefix: 'multi:' })
  const plain = await onMaster('multi:')
  const ids = Array.from({ length: 12 }, (_, i) => `multi-${i}`)
  const asked = tokenRequests()
  for (const id of ids) await login(storage, id)
  assert.equal(tokenRequests() - asked, ids.length)

  // The same keys and values as on the master itself.
  assert.deepEqual(JSON.parse(await plain.get(LIST_KEY)), ids)
  for (const id of ids) assert.equal(await plain.get(RECORD_PREFIX + id), await storage.get(RECORD_PREFIX + id), id)
  assert.equal(JSON.parse(await plain.get(`${RECORD_PREFIX}multi-3`)).issuer, idp.issuer)

  // Sessions logged in on either restore through the other, without a request to the provider.
  await login(plain, 'by-plain')
  assert.deepEqual(await getSessionIdFromStorageAll(storage), [...ids, 'by-plain'])
  const restored = await Promise.all([...ids, 'by-plain'].map((id) => getSessionFromStorage(id, { storage })))
  assert.deepEqual(
    restored.map((s) => s?.info.isLoggedIn),
    [...ids, 'by-plain'].map(() => true),
  )
  assert.equal((await getSessionFromStorage('multi-0', { storage: plain }))?.info.isLoggedIn, true)
  assert.equal(tokenRequests() - asked, ids.length + 1, 'restores use the stored access tokens')
  assert.equal(await getSessionFromStorage('nobody', { storage }), undefined)

  await restored[5].logout()
  assert.deepEqual(await getSessionIdFromStorageAll(plain), [...ids.filter((id) => id !== 'multi-5'), 'by-plain'])
  assert.equal(await plain.get(`${RECORD_PREFIX}multi-5`), undefined)

  // Its IStorage methods, and a lease (SET NX PX), called directly.
  await storage.set('k', 'v é 😀')
  assert.equal(await plain.get('k'), 'v é 😀')
  assert.equal(await storage.setIfAbsent('lease', 'a', 5000), true)
  assert.equal(await storage.setIfAbsent('lease', 'b', 5000), false)
  assert.equal(await plain.get('lease'), 'a')
  await storage.delete('k')
  assert.equal(await plain.get('k'), undefined)

  await clearSessionFromStorageAll(storage)
  assert.deepEqual(await getSessionIdFromStorageAll(plain), [])
})

test('a session logged in behind Sentinel is restored in another process, which exits after close() or with the storage forgotten', async () => {
  const storage = open({ sentinel, keyPrefix: 'child:' })
  const session = await login(storage, 'in-parent')
  const script = (end) => `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ sentinel: JSON.parse(process.env.SENTINEL), keyPrefix: 'child:', commandTimeoutMs: 5000 })
      const session = await lib.getSessionFromStorage('in-parent', { storage })
      const ids = await lib.getSessionIdFromStorageAll(storage)
      ${end}
      process.stdout.write(JSON.stringify({ webId: session?.info.webId, ids, after: await storage.get(${JSON.stringify(LIST_KEY)}).then(Boolean, (e) => e.code) }))
    })()`
  const env = { SENTINEL: JSON.stringify(sentinel) }
  const asked = tokenRequests()
  const closed = await runChild(script('await storage.close()'), env)
  assert.deepEqual(closed.out, { webId: session.info.webId, ids: ['in-parent'], after: 'ERR_STORAGE_FAILED' })
  const forgotten = await runChild(script(''), env)
  assert.deepEqual(forgotten.out, { webId: session.info.webId, ids: ['in-parent'], after: true })
  assert.ok(forgotten.elapsed < 5_000, `took ${forgotten.elapsed} ms`)
  assert.equal(tokenRequests(), asked, 'the other process used the stored access token')
})

test('options: exactly one of url, cluster and sentinel; the sentinel option checked, a password never repeated', () => {
  const nodes = sentinel.nodes
  for (const [options, pattern] of [
    [{}, /needs a url .*, a cluster .* or a sentinel/],
    [{ url: 'redis://localhost', sentinel }, /one of a url .*, a cluster .* or a sentinel .*, not several/],
    [{ cluster: ['redis://localhost'], sentinel }, /not several/],
    [{ sentinel: null }, /sentinel must be an object/],
    [{ sentinel: nodes }, /sentinel must be an object .*got an array/],
    [{ sentinel: { masterName: 'mymaster' } }, /sentinel\.nodes must be a non-empty array/],
    [{ sentinel: { nodes: [], masterName: 'mymaster' } }, /sentinel\.nodes must be a non-empty array/],
    [{ sentinel: { nodes: [5], masterName: 'mymaster' } }, /sentinel\.nodes must be a non-empty array/],
    [{ sentinel: { nodes } }, /sentinel\.masterName must be the non-empty name/],
    [{ sentinel: { nodes, masterName: '' } }, /sentinel\.masterName .*got an empty string/],
    [{ sentinel: { nodes, masterName: 'm', password: 5 } }, /sentinel\.password must be a string/],
    [{ sentinel: { nodes, masterName: 'm', username: null } }, /sentinel\.username must be a string/],
    [{ sentinel: { nodes, masterName: 'm', db: -1 } }, /sentinel\.db must be a whole number/],
    [{ sentinel, keyPrefix: 1 }, /keyPrefix must be a string/],
    [{ sentinel, commandTimeoutMs: 0 }, /commandTimeoutMs must be a whole number/],
  ]) {
    assert.throws(
      () => new RedisStorage(options),
      (e) => e instanceof TypeError && pattern.test(e.message) && !e.message.includes('hunter2'),
      JSON.stringify(options),
    )
  }
  for (const urls of [
    ['redis://:hunter2@localhost:port/'],
    ['unix:///tmp/sentinel.sock'],
    ['redis://:hunter2@127.0.0.1:26379/2'],
    ['redis://:hunter2@127.0.0.1:1', 'redis://:other@127.0.0.1:2'],
    ['redis://127.0.0.1:1', 'rediss://127.0.0.1:2'],
  ]) {
    assert.throws(
      () => new RedisStorage({ sentinel: { nodes: urls, masterName: 'mymaster', password: 'hunter2' } }),
      (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /not usable|must all have the same/.test(e.message) && !e.message.includes('hunter2'),
      urls.join(' '),
    )
  }
  // URL objects are URLs too; the master's user and database are options of their own.
  open({ sentinel: { nodes: nodes.map((url) => new URL(url)), masterName: 'mymaster', username: 'default', password: MASTER_PASSWORD, db: 0 } })
})

test('a wrong master name, sentinels unreachable or refusing, or the master refusing: a StorageError at once, saying which, without a password', async () => {
  const closedPort = await new Promise((resolve) => {
    const server = require('node:net').createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
  for (const [what, option, expected] of [
    ['a wrong master name', { ...sentinel, masterName: 'no-such-master' }, /no sentinel names a master "no-such-master" that is up$/],
    ['no sentinel reachable', { ...sentinel, nodes: [`redis://:${SENTINEL_PASSWORD}@127.0.0.1:${closedPort}`] }, /no sentinel answered \(Redis refused the connection\)$/],
    ['the sentinels\' password missing', { ...sentinel, nodes: setup.urls }, /no sentinel answered \(Redis answered the error NOAUTH\)$/],
    ['a wrong sentinel password', { ...sentinel, nodes: setup.urls.map((url) => url.replace('redis://', 'redis://:hunter2-wrong@')) }, /no sentinel answered \(Redis refused the user name or password\)$/],
    ['a wrong master password', { ...sentinel, password: 'hunter2-wrong' }, /the master the sentinels name for "mymaster" could not be reached \(Redis refused the user name or password\)$/],
  ]) {
    const storage = open({ sentinel: option, keyPrefix: 'wrong:', commandTimeoutMs: 5000 })
    const started = Date.now()
    const error = await rejection(getSessionIdFromStorageAll(storage))
    const elapsed = Date.now() - started
    assert.ok(error instanceof StorageError, `${what}: ${error}`)
    assert.equal(error.code, 'ERR_STORAGE_FAILED', what)
    assert.match(error.message, expected, what)
    assert.ok(!error.message.includes('hunter2'), `${what}: ${error.message}`)
    assert.ok(elapsed < 2_000, `${what}: took ${elapsed} ms`)
  }
})

test('NODE_DEBUG behind Sentinel names round trips and their failures, never a session ID, a value or a password', async () => {
  const storage = open({ sentinel, keyPrefix: 'dbg:' })
  await seed(storage, { 'secret-session-id': loggedInRecord() })
  const { stderr } = await runChild(
    `const lib = require('.');
    (async () => {
      const sentinel = JSON.parse(process.env.SENTINEL)
      const storage = new lib.RedisStorage({ sentinel, keyPrefix: 'dbg:' })
      await lib.getSessionFromStorage('secret-session-id', { storage, refreshSession: false })
      const refused = new lib.RedisStorage({ sentinel: { ...sentinel, password: 'hunter2-wrong' }, keyPrefix: 'dbg:' })
      await lib.getSessionFromStorage('secret-session-id', { storage: refused }).catch(() => {})
    })()`,
    { SENTINEL: JSON.stringify(sentinel), NODE_DEBUG: 'solid-client-authn-native' },
  )
  assert.match(stderr, /Redis: GET <a session record or login state> in \d+ ms\n/)
  assert.match(stderr, /Redis: GET <a session record or login state> in \d+ ms: failed: the master the sentinels name for "mymaster" could not be reached \(Redis refused the user name or password\)/)
  for (const secret of ['secret-session-id', 'SECRET', 'hunter2']) assert.ok(!stderr.includes(secret), `${secret} in:\n${stderr}`)
})

test('rediss:// sentinels and master: a private CA trusted through NODE_EXTRA_CA_CERTS, refused without it', async (t) => {
  // The sentinels name the master by IP address: the certificate names it.
  const { ca, cert, key } = privateCa(t, 'redis-sentinel-tls-')
  const secure = await startRedisSentinel({ password: MASTER_PASSWORD, tls: { cert, key, ca } })
  t.after(() => secure.stop())
  const source = `const lib = require('.');
    (async () => {
      const storage = new lib.RedisStorage({ sentinel: JSON.parse(process.env.SENTINEL), keyPrefix: 'tls:', commandTimeoutMs: 5000 })
      try {
        await storage.set('k', 'over TLS')
        process.stdout.write(JSON.stringify(await storage.get('k')))
      } catch (e) {
        process.stdout.write(JSON.stringify({ name: e.name, code: e.code, message: e.message }))
      }
      await storage.close()
    })()`
  const option = JSON.stringify({ nodes: secure.tlsUrls, masterName: secure.masterName, password: MASTER_PASSWORD })
  const trusted = await runChild(source, { SENTINEL: option, NODE_EXTRA_CA_CERTS: ca })
  assert.equal(trusted.out, 'over TLS')
  // The master was reached over TLS: the sentinels name it by its TLS port.
  const port = await secure.masterPort()
  assert.ok(secure.nodes.some((n) => n.tlsPort === port), `the sentinels name port ${port}`)
  const refused = await runChild(source, { SENTINEL: option, NODE_EXTRA_CA_CERTS: '' })
  assert.deepEqual(refused.out, { name: 'StorageError', code: 'ERR_STORAGE_FAILED', message: 'storage.set("k") failed: no sentinel answered (Redis\'s TLS certificate was not accepted)' })
  assert.ok(refused.elapsed < 5_000, `took ${refused.elapsed} ms`)
})

test('refresh with rotation across processes behind Sentinel, with leases: one refresh per token lifetime, no grant revoked', { timeout: 300_000 }, async () => {
  const storage = open({ sentinel, keyPrefix: 'cp-sentinel:' })
  const plainUrl = `redis://:${MASTER_PASSWORD}@127.0.0.1:${await setup.masterPort()}`
  // Two processes behind the sentinels, one on the master itself.
  const workers = [
    { STORAGE: 'native-sentinel', SENTINEL: JSON.stringify(sentinel) },
    { STORAGE: 'native-sentinel', SENTINEL: JSON.stringify(sentinel) },
    { STORAGE: 'native', REDIS_URL: plainUrl },
  ]
  await rotationAcrossProcesses({ storage, prefix: 'cp-sentinel:', workers, sessions: 10 })
})

/** Logs in `count` sessions under `prefix`, and waits until the replica has them. */
async function seeded(storage, prefix, count) {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`)
  for (const id of ids) await login(storage, id)
  await redisCli(['-p', String(await setup.masterPort()), '--no-auth-warning', '-a', MASTER_PASSWORD, 'wait', '1', '2000'])
  return ids
}

/** Every session of `ids` restores through `storage` (once the failover is over), and its record is on the new master. */
async function allRestore(storage, ids, prefix) {
  const after = await eventually(
    () => Promise.all(ids.map(async (id) => (await getSessionFromStorage(id, { storage }))?.info.isLoggedIn)),
    (e) => e instanceof StorageError,
  )
  assert.deepEqual(after, ids.map(() => true))
  const plain = await onMaster(prefix)
  const missing = []
  for (const id of ids) if ((await plain.get(RECORD_PREFIX + id)) === undefined) missing.push(id)
  assert.deepEqual(missing, [], 'records missing on the new master')
  const listed = JSON.parse(await plain.get(LIST_KEY))
  assert.deepEqual(ids.filter((id) => !listed.includes(id)), [], 'sessions missing from the list')
}

test('SENTINEL FAILOVER mid-run: calls settle within the command timeout, and afterwards every session restores from the new master', async (t) => {
  const commandTimeoutMs = 5_000
  const storage = open({ sentinel, keyPrefix: 'switch:', commandTimeoutMs })
  const ids = await seeded(storage, 'switch', 12)
  const before = await setup.masterPort()
  const asked = tokenRequests()
  const during = await throughFailover(t, { storage, ids, login, failingOver: setup.failover(), commandTimeoutMs, secret: 'hunter2' })
  assert.notEqual(await setup.masterPort(), before)
  // The demoted master took writes until the sentinels switched to the promoted replica (about
  // a second after promoting it) and the next check saw it (half a second at most), and dropped
  // them when it followed the new master: logins made then are lost, the others kept.
  const kept = await Promise.all(during.logins.map(async (id) => (await getSessionFromStorage(id, { storage }).catch(() => undefined))?.info.isLoggedIn === true))
  const lost = kept.filter((k) => !k).length
  t.diagnostic(`${during.logins.length - lost} of the ${during.logins.length} logins made during the failover kept`)
  assert.ok(lost <= during.logins.length / 4, `${lost} of ${during.logins.length} logins lost`)
  await allRestore(storage, ids, 'switch:')
  assert.equal(tokenRequests() - asked, during.logins.length, 'no restore asked the provider')
})

test('a master frozen (SIGSTOP) past down-after-milliseconds: calls time out until the sentinels promote the replica, then go to it', async (t) => {
  const commandTimeoutMs = 1_500
  const storage = open({ sentinel, keyPrefix: 'frozen:', commandTimeoutMs })
  const ids = await seeded(storage, 'frozen', 6)
  const old = await setup.master()
  old.pause()
  t.after(() => old.resume())
  const switched = setup.waitNewMaster(old.port)
  await throughFailover(t, { storage, ids, login, failingOver: switched, commandTimeoutMs, secret: 'hunter2' })
  // The connection to the frozen master stays open: the sentinels' switch is what moves the calls.
  const started = Date.now()
  await allRestore(storage, ids, 'frozen:')
  t.diagnostic(`every session restored ${Date.now() - started} ms after the switch`)
  old.resume()
  await setup.waitSynced() // the old master follows the new one before the next test
})

// Last: it leaves the setup with the first master down.
test('the master killed mid-run: calls settle within the command timeout, and afterwards every session, and every login made meanwhile, restores', async (t) => {
  const commandTimeoutMs = 5_000
  const storage = open({ sentinel, keyPrefix: 'killed:', commandTimeoutMs })
  const ids = await seeded(storage, 'killed', 12)
  const asked = tokenRequests()
  const failingOver = setup.killMaster()
  await sleep(100) // the master is dead: a login from now on cannot be acknowledged by it and then lost
  const during = await throughFailover(t, { storage, ids, login, failingOver, commandTimeoutMs, secret: 'hunter2' })
  await allRestore(storage, [...ids, ...during.logins], 'killed:')
  assert.equal(tokenRequests() - asked, during.logins.length, 'no restore asked the provider')
})

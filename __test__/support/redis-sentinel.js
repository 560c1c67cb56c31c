'use strict'
// A real Redis Sentinel setup for the tests: startRedisSentinel() runs a master, `replicas`
// replicas of it and `sentinels` sentinels (`redis-server <conf> --sentinel`) on free ports of
// 127.0.0.1, and resolves once every sentinel knows the master, its replicas and the other
// sentinels. Each process is a server of ./redis.js (its own process group, killed with this
// process). See README.md here.

const { redisCli } = require('./redis-cluster.js')
const { startRedis, freePort } = require('./redis.js')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts a master, its replicas and the sentinels that watch them.
 *
 * @param {object} [options]
 * @param {string} [options.masterName='mymaster'] the name the sentinels monitor the master under
 * @param {number} [options.replicas=1] replicas of the master (a failover needs one)
 * @param {number} [options.sentinels=3] sentinels (the quorum is a majority of them)
 * @param {string} [options.password] the master's and replicas' password (`requirepass`,
 *   `masterauth`, the sentinels' `auth-pass`)
 * @param {string} [options.sentinelPassword] the sentinels' own password (`requirepass`, and
 *   `sentinel-pass` between them)
 * @param {number} [options.downAfterMs=1000] `down-after-milliseconds`: how soon a dead master
 *   is seen down
 * @param {{ cert: string, key: string, ca: string }} [options.tls] PEM files: every server also
 *   listens for TLS on a port of its own (`tlsPort`), replication and the sentinels' links to the
 *   servers use it, and `tlsUrls` lists the sentinels' `rediss://` URLs; the plain ports stay, for
 *   the helpers' own checks (`masterPort()` is then the master's TLS port, and `master()`,
 *   `failover()` and `killMaster()` are for setups without TLS)
 * @returns {Promise<{ urls: string[], tlsUrls?: string[], masterName: string, nodes: object[], sentinels: object[],
 *   masterPort(): Promise<number>, master(): Promise<object>, failover(): Promise<number>,
 *   killMaster(): Promise<number>, waitNewMaster(oldPort: number): Promise<number>,
 *   waitSynced(): Promise<void>, stop(): Promise<void> }>} `urls` are the sentinels' (without
 *   their password); `nodes` the master and replicas as started; `failover()` (SENTINEL FAILOVER)
 *   and `killMaster()` (SIGKILL) resolve with the new master's port once every sentinel names it
 *   and it says it is master
 */
async function startRedisSentinel(options = {}) {
  const { masterName = 'mymaster', replicas = 1, sentinels: count = 3, password, sentinelPassword, downAfterMs = 1000, tls } = options
  const auth = password ? ['--requirepass', password, '--masterauth', password] : []
  const tlsArgs = tls ? ['--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no', '--tls-replication', 'yes'] : []
  /** A server of redis.js, with a TLS port of its own when `tls` (another one after a clash). */
  const start = async (options) => {
    if (!tls) return startRedis(options)
    for (let attempt = 1; ; attempt++) {
      const tlsPort = await freePort()
      try {
        const server = await startRedis({ ...options, args: [...options.args, ...tlsArgs, '--tls-port', String(tlsPort)] })
        server.tlsPort = tlsPort
        return server
      } catch (error) {
        if (attempt >= 5 || !/Address already in use/.test(error.message)) throw error
      }
    }
  }
  const started = []
  const stopAll = () => Promise.all(started.map((server) => server.stop({ signal: 'SIGKILL' })))
  try {
    const first = await start({ args: auth })
    started.push(first)
    // With TLS, replicas and sentinels reach the master on its TLS port.
    const firstPort = tls ? first.tlsPort : first.port
    const copies = await Promise.all(Array.from({ length: replicas }, () => start({ args: [...auth, '--replicaof', '127.0.0.1', String(firstPort)] })))
    started.push(...copies)
    await waitSynced(copies, password)
    const config = [
      `sentinel monitor ${masterName} 127.0.0.1 ${firstPort} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
      `sentinel failover-timeout ${masterName} 10000`,
      ...(password ? [`sentinel auth-pass ${masterName} ${password}`] : []),
      ...(sentinelPassword ? [`requirepass ${sentinelPassword}`, `sentinel sentinel-pass ${sentinelPassword}`] : []),
      '',
    ].join('\n')
    const watchers = await Promise.all(Array.from({ length: count }, () => start({ config, args: ['--sentinel'] })))
    started.push(...watchers)
    const nodes = [first, ...copies]
    const ask = (sentinel, ...args) => redisCli(['-p', String(sentinel.port), ...(sentinelPassword ? ['--no-auth-warning', '-a', sentinelPassword] : []), ...args], 2_000)
    const role = async (port) => (await redisCli(['-p', String(port), ...(password ? ['--no-auth-warning', '-a', password] : []), 'role'], 2_000).catch(() => '')).split(/\r?\n/)[0]
    const named = async (sentinel) => Number((await ask(sentinel, 'sentinel', 'get-master-addr-by-name', masterName).catch(() => '')).split(/\r?\n/)[1])
    const live = () => watchers.filter((s) => s.pid !== undefined)

    /** Resolves with the master's port once every sentinel names one other than `old` that says it is master. */
    async function newMaster(old, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const ports = await Promise.all(live().map(named))
        if (ports.every((p) => p === ports[0] && p !== old) && (await role(ports[0])) === 'master') return ports[0]
        if (Date.now() > deadline) throw new Error(`the sentinels did not agree on a new master within ${timeoutMs} ms (they name ${ports.join(', ')})`)
        await sleep(100)
      }
    }

    // Every sentinel knows the master, its replicas and the others.
    const deadline = Date.now() + 30_000
    for (;;) {
      const views = await Promise.all(watchers.map((s) => ask(s, 'sentinel', 'master', masterName).catch(() => '')))
      const field = (view, name) => {
        const lines = view.split(/\r?\n/)
        return Number(lines[lines.indexOf(name) + 1])
      }
      if (views.every((v) => field(v, 'num-slaves') === replicas && field(v, 'num-other-sentinels') === count - 1)) break
      if (Date.now() > deadline) throw new Error('the sentinels did not learn the replicas and each other within 30 s')
      await sleep(100)
    }

    const setup = {
      urls: watchers.map((s) => s.url),
      tlsUrls: tls ? watchers.map((s) => `rediss://127.0.0.1:${s.tlsPort}`) : undefined,
      masterName,
      nodes,
      sentinels: watchers,
      masterPort: () => named(live()[0]),
      async master() {
        const port = await setup.masterPort()
        return nodes.find((n) => n.port === port)
      },
      /** SENTINEL FAILOVER: the master is demoted and a replica promoted, without a crash. */
      async failover() {
        const old = await setup.masterPort()
        await ask(live()[0], 'sentinel', 'failover', masterName)
        const port = await newMaster(old)
        // The demoted master follows the new one before the next failover can pick it.
        await waitSynced(nodes.filter((n) => n.port !== port && n.pid !== undefined), password)
        return port
      },
      /** Resolves with the master's port once every sentinel names one other than `oldPort`, and it says it is master. */
      waitNewMaster: (oldPort, timeoutMs) => newMaster(oldPort, timeoutMs),
      /** Resolves once every server still running but the master has synced from it. */
      async waitSynced(timeoutMs) {
        const port = await setup.masterPort()
        await waitSynced(nodes.filter((n) => n.port !== port && n.pid !== undefined), password, timeoutMs)
      },
      /** Kills the master as a crash would; the sentinels promote a replica. */
      async killMaster() {
        const old = await setup.master()
        await old.stop({ signal: 'SIGKILL' })
        return newMaster(old.port)
      },
      stop: stopAll,
    }
    return setup
  } catch (error) {
    await stopAll()
    throw error
  }
}

/** Resolves once each of `replicas` has its link to its master up (it has synced). */
async function waitSynced(replicas, password, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const states = await Promise.all(
      replicas.map(async (r) => /master_link_status:up/.test(await redisCli(['-p', String(r.port), ...(password ? ['--no-auth-warning', '-a', password] : []), 'info', 'replication'], 2_000).catch(() => ''))),
    )
    if (states.every(Boolean)) return
    if (Date.now() > deadline) throw new Error(`the replicas did not sync within ${timeoutMs} ms`)
    await sleep(100)
  }
}

module.exports = { startRedisSentinel }

'use strict'
// A real Redis Cluster for the tests: startRedisCluster() runs `masters` redis-server processes
// in cluster mode (each with `replicas` replicas) on free ports of 127.0.0.1, joins them with
// `redis-cli --cluster create`, and resolves once every node says the cluster is ok. Each node is
// a server of ./redis.js (its own process group, killed with this process). See README.md here.

const { execFile } = require('node:child_process')
const { startRedis, freePort } = require('./redis.js')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs redis-cli with `args`; resolves with its output. */
function redisCli(args, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`))
      else resolve(String(stdout))
    })
  })
}

/** `CLUSTER INFO` of the node on `port`, as an object; undefined when it does not answer. */
async function clusterInfo(port) {
  try {
    const text = await redisCli(['-p', String(port), 'cluster', 'info'], 2_000)
    return Object.fromEntries(text.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => l.split(':')))
  } catch {
    return undefined
  }
}

/** The role (`master` or `slave`) of the node on `port`, from `ROLE`; undefined when it does not answer. */
async function roleOf(port) {
  try {
    return (await redisCli(['-p', String(port), 'role'], 2_000)).split(/\r?\n/)[0]
  } catch {
    return undefined
  }
}

/** Resolves once every node on `ports` says cluster_state:ok with all 16384 slots served. */
async function waitHealthy(ports, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const infos = await Promise.all(ports.map(clusterInfo))
    const ok = infos.every((info) => info?.cluster_state === 'ok' && info.cluster_slots_ok === '16384')
    if (ok) return
    if (Date.now() > deadline) throw new Error(`the Redis cluster on ports ${ports.join(', ')} did not become healthy within ${timeoutMs} ms: ${JSON.stringify(infos.map((i) => i?.cluster_state))}`)
    await sleep(100)
  }
}

/**
 * Resolves once each node on `ports` that is a replica has its link to its master up: a replica
 * that never synced is not eligible to take over, and a master killed before then stays down.
 */
async function waitReplicasSynced(ports, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const states = await Promise.all(
      ports.map(async (port) => {
        const info = await redisCli(['-p', String(port), 'info', 'replication'], 2_000).catch(() => '')
        return !/role:slave/.test(info) || /master_link_status:up/.test(info)
      }),
    )
    if (states.every(Boolean)) return
    if (Date.now() > deadline) throw new Error(`the replicas of the Redis cluster did not sync within ${timeoutMs} ms`)
    await sleep(100)
  }
}

/**
 * Starts a Redis Cluster on 127.0.0.1.
 *
 * @param {object} [options]
 * @param {number} [options.masters=3] masters (at least 3, as redis-cli requires)
 * @param {number} [options.replicas=1] replicas per master (0 for none; failover needs 1)
 * @param {number} [options.nodeTimeoutMs=1000] `cluster-node-timeout`: how soon a dead master is
 *   failed over
 * @param {{ cert: string, key: string, ca: string }} [options.tls] PEM files: each node then
 *   also listens for TLS on a port of its own, and the cluster bus, replication and the layout
 *   TLS clients are told use TLS (`tlsUrls`); the plain ports stay, for the helpers here
 * @returns {Promise<{ urls: string[], tlsUrls?: string[], nodes: object[], masterPorts(): Promise<number[]>,
 *   killMaster(port?: number): Promise<number>, waitHealthy(timeoutMs?: number): Promise<void>,
 *   stop(): Promise<void> }>}
 */
async function startRedisCluster(options = {}) {
  const { masters = 3, replicas = 1, nodeTimeoutMs = 1000, tls } = options
  const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs)]
  const tlsArgs = tls && ['--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no', '--tls-cluster', 'yes', '--tls-replication', 'yes']
  const nodes = await Promise.all(
    Array.from({ length: masters * (1 + replicas) }, async () => {
      if (!tls) return startRedis({ args })
      // With tls-cluster the bus listens on the TLS port + 10000, which redis.js does not
      // choose: a clash there is tried again with another TLS port.
      for (let attempt = 1; ; attempt++) {
        const tlsPort = await freePort()
        try {
          const node = await startRedis({ args: [...args, ...tlsArgs, '--tls-port', String(tlsPort)] })
          node.tlsPort = tlsPort
          return node
        } catch (error) {
          if (attempt >= 5 || !/Address already in use/.test(error.message)) throw error
        }
      }
    }),
  )
  const stopAll = () => Promise.all(nodes.map((node) => node.stop({ signal: 'SIGKILL' })))
  try {
    // With tls-cluster, the nodes name each other by their TLS ports: they are joined by those.
    const create = tls ? ['--tls', '--cacert', tls.ca, '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.tlsPort}`)] : ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`)]
    await redisCli([...create, '--cluster-replicas', String(replicas), '--cluster-yes'], 60_000)
    await waitHealthy(nodes.map((n) => n.port))
    await waitReplicasSynced(nodes.map((n) => n.port))
  } catch (e) {
    await stopAll()
    throw e
  }
  const live = new Set(nodes)
  const cluster = {
    urls: nodes.map((n) => n.url),
    tlsUrls: tls ? nodes.map((n) => `rediss://127.0.0.1:${n.tlsPort}`) : undefined,
    nodes,
    /** The ports of the nodes that are masters now. */
    async masterPorts() {
      const roles = await Promise.all([...live].map(async (n) => [n.port, await roleOf(n.port)]))
      return roles.filter(([, role]) => role === 'master').map(([port]) => port)
    },
    /**
     * Kills a master (the one on `port`, else the first) as a crash would, and resolves with its
     * port once the cluster has promoted one of its replicas and is healthy again.
     */
    async killMaster(port) {
      const target = port ?? (await cluster.masterPorts())[0]
      const node = nodes.find((n) => n.port === target)
      await node.stop({ signal: 'SIGKILL' })
      live.delete(node)
      // Until the others notice (after the node timeout), they still call the cluster ok: wait
      // for a replica to be master in its place, then for every node to agree.
      const deadline = Date.now() + 30_000 + 10 * nodeTimeoutMs
      while ((await cluster.masterPorts()).length < masters) {
        if (Date.now() > deadline) throw new Error(`no replica took over from the master on port ${target}`)
        await sleep(100)
      }
      await waitHealthy([...live].map((n) => n.port), Math.max(1_000, deadline - Date.now()))
      return target
    },
    waitHealthy: (timeoutMs) => waitHealthy([...live].map((n) => n.port), timeoutMs),
    stop: stopAll,
  }
  return cluster
}

/** The cluster slot of `key` (CRC16/XMODEM of the key, or of its hash tag, mod 16384). */
function slotOf(key) {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

/**
 * node-redis's cluster client on `cluster`, connected: calls fail at once while a node is down
 * (no offline queue), and a killed node's connection errors are left to the calls.
 */
async function connectClusterClient(cluster) {
  const { createCluster } = require('redis')
  const client = createCluster({
    rootNodes: cluster.urls.map((url) => ({ url, socket: { connectTimeout: 1000, reconnectStrategy: () => 200 } })),
    defaults: { disableOfflineQueue: true },
  })
  client.on('error', () => {})
  await client.connect()
  return client
}

module.exports = { startRedisCluster, redisCli, slotOf, connectClusterClient }

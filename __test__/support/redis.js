'use strict'
// A real Redis for the tests: startRedis() runs redis-server on a free port on 127.0.0.1 with a
// throwaway directory, and stops it again. Node built-ins only. redis-server must be on PATH;
// when it is not, scripts/install-redis.mjs is run (it installs the Debian package, or says why
// it cannot). See README.md beside this file.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const INSTALLER = path.join(ROOT, 'scripts', 'install-redis.mjs')

// ---------------------------------------------------------------------------------------------
// Children. Each redis-server runs in its own process group (stop() kills the group, so a child
// Redis forks for a rewrite of its append-only file goes too), is killed when this process exits,
// and is killed by a watchdog when this process dies of a signal: redis-server cannot watch an IPC
// channel as the Node servers of servers.js do, so a small `sh` in a process group of its own
// reads a pipe from this process and, at end of file, kills the Redis group.

const live = new Set()
let exitHookInstalled = false

function alive(child) {
  return child.exitCode === null && child.signalCode === null && !child.spawnError
}

function killGroup(child, signal) {
  if (!alive(child)) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    try {
      child.kill(signal)
    } catch {}
  }
}

function installExitHook() {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const server of live) {
      killGroup(server.child, 'SIGKILL')
      if (server.watchdog) killGroup(server.watchdog, 'SIGKILL')
      if (server.removeDir) fs.rmSync(server.dir, { recursive: true, force: true })
    }
  })
}

/**
 * Starts `sh` watching a pipe from this process: when the pipe ends (this process is gone, however
 * it died) it kills the process group `pgid` and removes `dir` (when given). Nothing of it keeps
 * this process alive. (dash's kill takes `-9 -PGID`, not `-KILL -- -PGID`.)
 */
function watchdog(pgid, dir) {
  const script = 'cat >/dev/null; kill -9 "-$0"; if [ -n "$1" ]; then sleep 0.2; rm -rf -- "$1"; fi'
  const dog = spawn('/bin/sh', ['-c', script, String(pgid), dir ?? ''], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true, // its own group: a Ctrl-C to the terminal's group must not kill it first
  })
  dog.on('error', () => {}) // no sh: the exit hook still covers every ordinary exit
  dog.stdin.on('error', () => {})
  dog.unref()
  dog.stdin.unref?.()
  return dog
}

// ---------------------------------------------------------------------------------------------
// Helpers

let installing
/** Runs scripts/install-redis.mjs once per process when redis-server is not on PATH. */
function ensureInstalled() {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    if (dir === '') return false
    try {
      fs.accessSync(path.join(dir, 'redis-server'), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
  if (onPath) return Promise.resolve()
  installing ??= new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [INSTALLER, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const collect = (chunk) => {
      out += chunk
      process.stderr.write(chunk)
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`redis-server is not on PATH and ${INSTALLER} failed (exit code ${code}):\n${out.slice(-4000)}`)),
    )
  }).finally(() => {
    installing = undefined
  })
  return installing
}

/** A port that was free on 127.0.0.1 a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** One raw `PING` over TCP: resolves with the first line of the answer (`+PONG` when ready). */
function ping(port, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    let answer = ''
    const timer = setTimeout(() => socket.destroy(new Error(`no answer to PING within ${timeoutMs} ms`)), timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk
      const end = answer.indexOf('\r\n')
      if (end !== -1) {
        clearTimeout(timer)
        socket.destroy()
        resolve(answer.slice(0, end))
      }
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      reject(new Error('the connection closed before an answer'))
    })
  })
}

function logTail(logFile, lines = 30) {
  try {
    return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch (e) {
    return `(no log: ${e.message})`
  }
}

// ---------------------------------------------------------------------------------------------
// One server

function launch(server) {
  const { dir, port, logFile, persist, args, configFile } = server
  const fd = fs.openSync(logFile, 'a')
  let child
  try {
    fs.appendFileSync(logFile, `--- starting redis-server on port ${port}\n`)
    child = spawn(
      'redis-server',
      [
        // A configuration file comes first (a sentinel's, which it rewrites as it learns).
        ...(configFile ? [configFile] : []),
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--dir', dir,
        '--daemonize', 'no',
        '--save', '',
        ...(persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        ...args,
      ],
      { cwd: dir, stdio: ['ignore', fd, fd], detached: true },
    )
  } finally {
    fs.closeSync(fd)
  }
  installExitHook()
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    child.once('error', (error) => resolve({ code: null, signal: null, error }))
  })
  child.on('error', (error) => {
    child.spawnError = error // e.g. ENOENT: no redis-server after all
  })
  child.unref()
  // Waiting for the exit must keep the event loop alive, though (else Node may quit mid-await).
  child.waitExit = () => {
    child.ref()
    return exited
  }
  server.child = child
  server.watchdog = child.pid === undefined ? undefined : watchdog(child.pid, server.removeDir ? server.dir : undefined)
  live.add(server)
  exited.then(() => {
    // The group is gone (or going): the watchdog has nothing left to do.
    if (server.child === child && server.watchdog) killGroup(server.watchdog, 'SIGKILL')
  })
  return child
}

/** Resolves once redis-server answers PING with PONG (not while it still loads its data). */
async function waitReady(server, timeoutMs) {
  const { child, port } = server
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  for (;;) {
    if (!alive(child)) {
      const { error } = await child.waitExit()
      throw new Error(`redis-server exited (${child.signalCode ?? `exit code ${child.exitCode}`}${error ? `: ${error.message}` : ''}) before it answered PING`)
    }
    try {
      const answer = await ping(port)
      // A server with a password answers NOAUTH once it is ready.
      if (answer === '+PONG' || answer.startsWith('-NOAUTH')) return
      last = answer
    } catch (e) {
      last = e.code ?? e.message
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for redis-server on port ${port} to answer PING (last: ${last})`)
    await sleep(20)
  }
}

async function kill(server, signal, graceMs) {
  const { child } = server
  if (!child) return
  killGroup(child, signal)
  // A paused server takes no signal but SIGKILL until it goes on.
  if (signal !== 'SIGKILL') killGroup(child, 'SIGCONT')
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs)
  await child.waitExit()
  clearTimeout(timer)
  if (server.watchdog) killGroup(server.watchdog, 'SIGKILL')
  live.delete(server)
  server.child = undefined
}

/**
 * Starts redis-server on a free port on 127.0.0.1 (or `port`), with its own throwaway directory,
 * in its own process group, and resolves once it answers PING.
 *
 * @param {object} [options]
 * @param {number} [options.port] the port; by default a free one (retried on a clash)
 * @param {boolean} [options.persist=false] an append-only file, fsynced on every write
 *   (`--appendonly yes --appendfsync always`), so that restart() loses nothing; by default there
 *   is no persistence at all (`--save '' --appendonly no`) and a restart starts empty
 * @param {string[]} [options.args] more redis-server arguments (`['--maxmemory', '10mb']`)
 * @param {string} [options.config] the text of a configuration file, written into the server's
 *   directory and given first (kept across restart(); a sentinel rewrites its own)
 * @param {number} [options.timeoutMs=10000] how long to wait for PONG
 * @param {boolean} [options.keepDir=false] keep the directory (data and log) after stop()
 * @returns {Promise<{ url: string, port: number, dir: string, logFile: string, pid: number,
 *   stop(options?: { signal?: string }): Promise<void>,
 *   restart(options?: { signal?: string, downMs?: number, onDown?: () => void }): Promise<void>,
 *   pause(): void, resume(): void }>}
 */
async function startRedis(options = {}) {
  const { port: wantedPort, persist = false, args = [], config, timeoutMs = 10_000, keepDir = false } = options
  await ensureInstalled()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solid-test-redis-'))
  const configFile = config === undefined ? undefined : path.join(dir, 'redis.conf')
  const server = { dir, logFile: path.join(dir, 'redis.log'), persist, args, configFile, removeDir: !keepDir, port: wantedPort, child: undefined, watchdog: undefined }
  fs.writeFileSync(server.logFile, '')
  if (configFile) fs.writeFileSync(configFile, config)

  const start = async (samePort) => {
    for (let attempt = 1; ; attempt += 1) {
      if (!samePort) server.port = await freePort()
      launch(server)
      try {
        await waitReady(server, timeoutMs)
        return
      } catch (e) {
        await kill(server, 'SIGKILL', 0)
        const tail = logTail(server.logFile, 10)
        const clash = /Address already in use/i.test(tail)
        if (!samePort && clash && attempt < 3) continue
        // Any other failure is tried once more, saying why (see servers.js).
        if (attempt < 2) {
          process.stderr.write(`# redis-server did not start (${e.message}); trying again. Tail of ${server.logFile}:\n${tail.replace(/^/gm, '#   ')}\n`)
          continue
        }
        throw new Error(`redis-server did not start: ${e.message}\n--- tail of ${server.logFile}:\n${logTail(server.logFile)}`)
      }
    }
  }

  try {
    await start(wantedPort !== undefined)
  } catch (e) {
    if (!keepDir) fs.rmSync(dir, { recursive: true, force: true })
    throw e
  }

  let stopped
  let queue = Promise.resolve()
  const serially = (fn) => {
    const next = queue.then(fn)
    queue = next.catch(() => {})
    return next
  }
  const handle = {
    url: `redis://127.0.0.1:${server.port}`,
    port: server.port,
    dir,
    logFile: server.logFile,
    get pid() {
      return server.child?.pid
    },
    /**
     * Kills the server (SIGTERM by default, SIGKILL after 5 s; `{ signal: 'SIGKILL' }` for a crash)
     * and resolves once it has exited. The directory goes too, unless `keepDir`. Idempotent.
     */
    stop({ signal = 'SIGTERM' } = {}) {
      stopped ??= serially(async () => {
        await kill(server, signal, 5000)
        if (!keepDir) fs.rmSync(dir, { recursive: true, force: true })
      })
      return stopped
    },
    /**
     * Stops the server (as stop(), keeping its directory), waits `downMs`, and starts it again on
     * the same port with the same directory, so that with `persist` every acknowledged write is
     * still there. `onDown` (optional) is called once it has exited.
     */
    restart({ signal = 'SIGTERM', downMs = 0, onDown } = {}) {
      if (stopped) return Promise.reject(new Error('this Redis was stopped'))
      return serially(async () => {
        await kill(server, signal, 5000)
        onDown?.()
        fs.appendFileSync(server.logFile, `--- restarting (after ${signal}, down for ${downMs} ms)\n`)
        if (downMs > 0) await sleep(downMs)
        await start(true)
      })
    },
    /** Freezes the server (SIGSTOP): connections stay open and nothing answers. */
    pause() {
      if (server.child) killGroup(server.child, 'SIGSTOP')
    },
    /** Lets a paused server go on (SIGCONT). */
    resume() {
      if (server.child) killGroup(server.child, 'SIGCONT')
    },
  }
  return handle
}

module.exports = { startRedis, ping, freePort }

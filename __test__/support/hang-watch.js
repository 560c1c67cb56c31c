'use strict'
// A watch for a test file's JS thread being blocked (a deadlock or a busy loop in native code):
// a hang the test's own time bounds cannot catch, since their timers never run, and that would
// otherwise show only as the runner's file timeout, with nothing said. A worker thread, which
// goes on while the JS thread is stuck, waits for a heartbeat the JS thread gives every second;
// when none came for `blockedMs`, it writes the JS thread's native stack and where every other thread is (by gdb, when
// installed) and kills the process. The file then fails within minutes, and its stderr (which
// scripts/test-failures-reporter.mjs prints with the failure) says where the thread was.

const { Worker } = require('node:worker_threads')

const WATCHER = `
const { workerData } = require('node:worker_threads')
const { execFileSync } = require('node:child_process')
const { writeSync, openSync, closeSync, readFileSync, rmSync } = require('node:fs')
const { join } = require('node:path')
const { tmpdir } = require('node:os')
const { beat, blockedMs, pid } = workerData
let seen = Atomics.load(beat, 0)
let since = Date.now()
setInterval(() => {
  const now = Atomics.load(beat, 0)
  if (now !== seen) {
    seen = now
    since = Date.now()
    return
  }
  if (Date.now() - since < blockedMs) return
  // Into a file, not a pipe: gdb stops this thread too, which then could not drain a pipe.
  const file = join(tmpdir(), 'hang-watch-' + pid + '.txt')
  let stacks
  try {
    const out = openSync(file, 'w')
    try {
      execFileSync('gdb', ['-p', String(pid), '-batch', '-ex', 'thread apply 1 bt 50', '-ex', 'info threads'], { timeout: 60000, stdio: ['ignore', out, out] })
    } finally {
      closeSync(out)
    }
    stacks = readFileSync(file, 'utf8')
  } catch (error) {
    stacks = 'no stacks: ' + error.message
  } finally {
    rmSync(file, { force: true })
  }
  writeSync(2, 'hang-watch: the JS thread has given no heartbeat for ' + Math.round((Date.now() - since) / 1000) + ' s (blocked); its native stack, then the frame of every thread:\\n' + stacks + '\\n')
  process.kill(pid, 'SIGKILL')
}, 1000)
`

/** Starts the watch; the function it returns stops it. Neither keeps the process alive. */
function watchForBlockedThread(blockedMs = 120_000) {
  const beat = new Int32Array(new SharedArrayBuffer(4))
  const heartbeat = setInterval(() => Atomics.add(beat, 0, 1), 1_000).unref()
  const watcher = new Worker(WATCHER, { eval: true, workerData: { beat, blockedMs, pid: process.pid } })
  watcher.unref()
  return () => {
    clearInterval(heartbeat)
    return watcher.terminate()
  }
}

module.exports = { watchForBlockedThread }

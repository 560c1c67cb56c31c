'use strict'
// Per-restore cost of the two drivers of src/lib.rs on an async Map store, 200,000 awaited calls
// each after a warm-up, three rounds. `js` is what lib/driver.js did per batch, timer included.
const native = require('./driver-micro.node')

const map = new Map([['solidClientAuthenticationUser:abc', JSON.stringify({ filler: 'x'.repeat(1500) })]])
const storage = {
  async get(key) {
    return map.get(key)
  },
}

const drivers = {
  async js(id) {
    const pending = native.start(id)
    const timer = setTimeout(() => {}, 10_000).unref()
    const values = [await storage.get(pending.calls[0].key)]
    clearTimeout(timer)
    return native.resume(pending.operationId, values)
  },
  rust: (id) => native.run(storage, id),
}

async function time(name, driver, n = 200_000) {
  for (let i = 0; i < 20_000; i++) await driver('abc')
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await driver('abc')
  console.log(`${name.padEnd(5)} ${(Number(process.hrtime.bigint() - started) / n / 1000).toFixed(2)} µs`)
}

;(async () => {
  for (let round = 0; round < 3; round++) for (const [name, driver] of Object.entries(drivers)) await time(name, driver)
})()

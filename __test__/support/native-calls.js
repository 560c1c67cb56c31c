'use strict'
// Counts the calls JS makes into the native binding, for the test and the benchmark figure that
// hold a restore to a number of them (each is a crossing of the JS/native boundary). The
// binding's functions, and the methods and accessors of its classes' instances, are wrapped in
// place: the package's modules look each function up on the binding object when they call it,
// so their calls are counted too. `stop()` puts the originals back.
//
// Not counted: the static factories of the classes (NativeStorage.memory and .host,
// SessionCredentials.fromTokenSet), which napi defines read-only. A storage gets its native
// handle once, on first use, so a restore from a storage used before makes none of those calls.

function countNativeCalls(binding) {
  const counts = new Map()
  const undo = []
  const counting = (name, fn) =>
    function (...args) {
      counts.set(name, (counts.get(name) ?? 0) + 1)
      return Reflect.apply(fn, this, args)
    }
  for (const [name, value] of Object.entries(binding)) {
    if (typeof value !== 'function') continue
    // napi names classes in PascalCase and functions in camelCase.
    if (!/^[A-Z]/.test(name)) {
      binding[name] = counting(name, value)
      undo.push(() => {
        binding[name] = value
      })
      continue
    }
    const prototype = value.prototype
    for (const key of Object.getOwnPropertyNames(prototype)) {
      const original = Object.getOwnPropertyDescriptor(prototype, key)
      if (key === 'constructor' || !original.configurable) continue
      const label = `${name}#${key}`
      const wrapped =
        typeof original.value === 'function'
          ? { ...original, value: counting(label, original.value) }
          : { ...original, get: original.get && counting(label, original.get), set: original.set && counting(label, original.set) }
      Object.defineProperty(prototype, key, wrapped)
      undo.push(() => Object.defineProperty(prototype, key, original))
    }
  }
  return {
    /** How many calls were counted since the start or the last `reset()`. */
    get total() {
      let total = 0
      for (const n of counts.values()) total += n
      return total
    },
    /** The calls per function: `name`, or `Class#member` for an instance's method or accessor. */
    byName() {
      return Object.fromEntries(counts)
    },
    reset() {
      counts.clear()
    },
    stop() {
      for (const put of undo.reverse()) put()
      undo.length = 0
    },
  }
}

module.exports = { countNativeCalls }

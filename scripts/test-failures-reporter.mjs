// A node:test reporter that prints nothing until the run ends, then every failed test with its
// file and error, and the last lines its file wrote to stderr (a hang watch's stacks, say), so
// that the end of a long log (all a CI summary may keep) says what failed and why. Used beside
// the TAP reporter by `npm run test:js`.
import { inspect } from 'node:util'

const MAX_ERROR_CHARS = 6000
const STDERR_LINES = 120

function describe(error) {
  // node:test wraps what a test threw; the cause is the test's own error.
  const own = error?.cause ?? error
  const text = own instanceof Error ? own.stack ?? `${own.name}: ${own.message}` : inspect(own, { depth: 4 })
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}\n… (${text.length - MAX_ERROR_CHARS} more characters)` : text
}

export default async function* failuresReporter(source) {
  const failures = []
  // The last lines each file wrote to stderr.
  const stderr = new Map()
  for await (const event of source) {
    if (event.type === 'test:stderr') {
      const lines = stderr.get(event.data.file) ?? []
      lines.push(...event.data.message.split('\n').filter((line) => line !== ''))
      stderr.set(event.data.file, lines.slice(-STDERR_LINES))
      continue
    }
    if (event.type !== 'test:fail' || event.data.todo) continue
    const { name, file, details } = event.data
    failures.push({ name, file, error: describe(details?.error) })
  }
  if (failures.length === 0) return
  yield `\n# ${failures.length} failed (errors below, in the order they failed)\n`
  for (const [i, failure] of failures.entries()) {
    yield `\n# failure ${i + 1}: ${failure.name}${failure.file ? ` (${failure.file})` : ''}\n`
    yield `${failure.error.replace(/^/gm, '#   ')}\n`
  }
  const files = new Set(failures.map((failure) => failure.file).filter((file) => stderr.has(file)))
  for (const file of files) {
    yield `\n# the last lines ${file} wrote to stderr:\n`
    yield `${stderr.get(file).join('\n').replace(/^/gm, '#   ')}\n`
  }
}

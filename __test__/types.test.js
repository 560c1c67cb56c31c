'use strict'
// Type tests: compiles __test__/types/*.ts with the TypeScript compiler from node_modules.
//
// - consumer.ts is written against the documented API of @inrupt/solid-client-authn-node v5. It
//   must compile against our index.d.ts and against the reference's own types: code written for
//   the reference must compile unchanged against ours.
// - extras.ts uses what we add (StorageError, setStorageTimeout, the positional
//   getSessionFromStorage form...): compiled against ours only.
// - Wrong usages must fail to compile (so that these tests can fail at all).
// - The value exports declared in index.d.ts must be exactly those of index.js and index.mjs.
//
// Each compilation gets a generated tsconfig.json in a temporary directory, removed afterwards.
// Needs typescript and @types/node (devDependencies).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..')
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
// TypeScript 7 (the native compiler), installed under an alias beside TypeScript 5.
const TSC7 = path.join(ROOT, 'node_modules', 'typescript7', 'bin', 'tsc')
const TYPE_ROOTS = path.join(ROOT, 'node_modules', '@types')
const TYPES_DIR = path.join(__dirname, 'types')
const CONSUMER = path.join(TYPES_DIR, 'consumer.ts')
const EXTRAS = path.join(TYPES_DIR, 'extras.ts')
const OURS = path.join(ROOT, 'index.d.ts')
const REFERENCE = path.join(ROOT, 'node_modules', '@inrupt', 'solid-client-authn-node', 'dist', 'index.d.ts')
const SPECIFIER = 'solid-client-authn-native'

/** Options shared by every compilation: --strict --noEmit, Node 20 typings, no DOM. */
const BASE_OPTIONS = {
  strict: true,
  noEmit: true,
  target: 'es2022',
  module: 'nodenext',
  moduleResolution: 'nodenext',
  lib: ['es2022'],
  types: ['node'],
  typeRoots: [TYPE_ROOTS],
  skipLibCheck: false,
  forceConsistentCasingInFileNames: true,
  pretty: false,
}

/** Maps the module specifier the test files import to one declaration file. */
function mappedTo(declarationFile) {
  return { paths: { [SPECIFIER]: [declarationFile] } }
}

/**
 * Runs tsc on `files` (absolute paths, or names of `sources` written next to the tsconfig) with
 * `compilerOptions`. Resolves the compiler's exit status, its diagnostics and the files it loaded.
 */
function compile(compilerOptions, files, sources = {}, tsc = TSC) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authn-native-types-'))
  try {
    for (const [name, text] of Object.entries(sources)) fs.writeFileSync(path.join(dir, name), text)
    const config = path.join(dir, 'tsconfig.json')
    fs.writeFileSync(config, JSON.stringify({ compilerOptions, files }, null, 2))
    const run = spawnSync(process.execPath, [tsc, '-p', config, '--listFiles'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    })
    if (run.error) throw run.error
    const lines = `${run.stdout}\n${run.stderr}`.split('\n')
    // --listFiles prints absolute paths; diagnostics print paths relative to the working directory.
    const loaded = lines.filter((line) => path.isAbsolute(line) && line.endsWith('.ts'))
    const diagnostics = lines
      .filter((line) => line.trim() !== '' && !loaded.includes(line))
      .map((line) => line.replaceAll(path.relative(ROOT, dir), '<tmp>').replaceAll(dir, '<tmp>'))
      .join('\n')
    return { status: run.status, diagnostics, loaded, config: JSON.stringify({ compilerOptions, files }, null, 2) }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function assertCompiles(result, what) {
  assert.equal(result.status, 0, `${what} does not compile:\n${result.diagnostics}\n\ntsconfig.json:\n${result.config}`)
  assert.equal(result.diagnostics, '', `${what}: unexpected compiler output:\n${result.diagnostics}`)
}

function assertLoaded(result, file, what) {
  assert.ok(result.loaded.includes(file), `${what}: ${file} was not among the files the compiler loaded`)
}

test('prerequisites: typescript and @types/node are installed', () => {
  assert.ok(fs.existsSync(TSC), `TypeScript compiler not found at ${TSC}`)
  assert.ok(fs.existsSync(TSC7), `TypeScript 7 compiler not found at ${TSC7} (devDependency typescript7)`)
  assert.ok(
    fs.existsSync(path.join(TYPE_ROOTS, 'node', 'package.json')),
    '@types/node is missing from node_modules: add it as a devDependency (e.g. "@types/node": "^20.19.0")',
  )
  assert.ok(fs.existsSync(OURS), 'index.d.ts is missing')
  assert.ok(fs.existsSync(REFERENCE), `reference types not found at ${REFERENCE}`)
})

test('consumer.ts and extras.ts compile against our index.d.ts', () => {
  const result = compile({ ...BASE_OPTIONS, ...mappedTo(OURS) }, [CONSUMER, EXTRAS])
  assertCompiles(result, 'consumer.ts + extras.ts against index.d.ts')
  assertLoaded(result, OURS, 'ours')
  assert.ok(!result.loaded.includes(REFERENCE), 'the reference types were loaded while checking ours')
})

test('consumer.ts and extras.ts compile against our index.d.ts with TypeScript 7', () => {
  const result = compile({ ...BASE_OPTIONS, ...mappedTo(OURS) }, [CONSUMER, EXTRAS], {}, TSC7)
  assertCompiles(result, 'consumer.ts + extras.ts against index.d.ts, TypeScript 7')
  assertLoaded(result, OURS, 'ours, TypeScript 7')
})

test('a consumer that names no types gets Node types through index.d.ts, with TypeScript 5 and 7', () => {
  // TypeScript 7 loads no @types package unless asked (`types` defaults to []); one that uses
  // nothing of Node itself still needs EventEmitter and fetch for our declarations.
  const { types: _types, ...withoutTypes } = BASE_OPTIONS
  const source = `import { Session, getSessionFromStorage } from "${SPECIFIER}";
const session = new Session();
session.events.on("login", () => undefined);
export const restored = getSessionFromStorage("id").then((s) => s?.fetch("https://pod.example/"));
`
  for (const [name, tsc] of [['TypeScript 5', TSC], ['TypeScript 7', TSC7]]) {
    const result = compile({ ...withoutTypes, ...mappedTo(OURS) }, ['plain.ts'], { 'plain.ts': source }, tsc)
    assertCompiles(result, `a consumer without types, ${name}`)
  }
})

test('consumer.ts compiles against the reference @inrupt/solid-client-authn-node types', () => {
  const result = compile({ ...BASE_OPTIONS, ...mappedTo(REFERENCE) }, [CONSUMER])
  assertCompiles(result, 'consumer.ts against the reference')
  assertLoaded(result, REFERENCE, 'reference')
  assert.ok(!result.loaded.includes(OURS), 'index.d.ts was loaded while checking the reference')
})

test('consumer.ts and extras.ts compile against the package exports, with the DOM library and bundler resolution', () => {
  // No `paths`: the specifier resolves through package.json "exports" (the package's own name),
  // as it does for an installed copy; the DOM library brings its own fetch and CryptoKey types.
  const result = compile(
    { ...BASE_OPTIONS, module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom', 'dom.iterable'] },
    [CONSUMER, EXTRAS],
  )
  assertCompiles(result, 'consumer.ts + extras.ts through package.json exports')
  assertLoaded(result, OURS, 'exports')
})

// Wrong usages. The first, unmarked, must be reported (TS2322); every `@ts-expect-error` line must
// be an error too, or the compiler reports the directive as unused (TS2578).
const WRONG_SHARED = `import { EVENTS, InMemoryStorage, Session, getSessionFromStorage, refreshSession } from "${SPECIFIER}";
import type { ISessionInfo, IStorage, SessionTokenSet } from "${SPECIFIER}";
const session = new Session();
session.info.isLoggedIn = "yes";
// @ts-expect-error: listener of the wrong type
session.events.on(EVENTS.NEW_TOKENS, (token: string) => token);
// @ts-expect-error: listener of the wrong type
session.events.once(EVENTS.SESSION_EXTENDED, (expiresIn: string) => expiresIn);
// @ts-expect-error: not a session event
session.events.on("no-such-event", () => undefined);
// @ts-expect-error: emit is reserved to the library
session.events.emit(EVENTS.LOGIN);
// @ts-expect-error: EVENTS is read-only
EVENTS.LOGIN = "signin";
const info: ISessionInfo = { sessionId: "x", isLoggedIn: false };
// @ts-expect-error: info is a read-only property
session.info = info;
// @ts-expect-error: not a storage
new Session({ storage: {} });
// @ts-expect-error: keepAlive is a boolean
new Session({ keepAlive: "yes" });
// @ts-expect-error: tokenType is "DPoP" or "Bearer"
void session.login({ oidcIssuer: "https://idp.example", tokenType: "dpop" });
// @ts-expect-error: an app logout takes no postLogoutUrl
void session.logout({ logoutType: "app", postLogoutUrl: "https://app.example/" });
// @ts-expect-error: unknown logout type
void session.logout({ logoutType: "global" });
// @ts-expect-error: the session ID is a string
void getSessionFromStorage(42);
// @ts-expect-error: refreshSession is a boolean
void getSessionFromStorage("id", { refreshSession: "no" });
// @ts-expect-error: clientId is required
const tokens: SessionTokenSet = { issuer: "https://idp.example" };
// @ts-expect-error: a Session is not just its public shape
const fake: Session = { info, events: session.events, login: session.login, fetch: session.fetch, logout: session.logout, handleIncomingRedirect: session.handleIncomingRedirect };
// @ts-expect-error: refreshSession takes a Session
void refreshSession({ info });
// @ts-expect-error: InMemoryStorage is not a plain object type
const memory: InMemoryStorage = { get: async () => undefined, set: async () => undefined, delete: async () => undefined };
const storage: IStorage = new InMemoryStorage();
// @ts-expect-error: get resolves a string or undefined
const broken: IStorage = { ...storage, get: async () => 42 };
`

// Appended to WRONG_SHARED, whose imports it uses.
const WRONG_OURS_ONLY = `import { RedisStorage, StorageCorruptedError, StorageError, setStorageTimeout } from "${SPECIFIER}";
// @ts-expect-error: a RedisStorage needs a url
new RedisStorage({ keyPrefix: "app:" });
// @ts-expect-error: a url or a cluster, not both
new RedisStorage({ url: "redis://a:6379", cluster: ["redis://b:6379"] });
// @ts-expect-error: a url or a sentinel, not both
new RedisStorage({ url: "redis://a:6379", sentinel: { nodes: ["redis://s:26379"], masterName: "m" } });
// @ts-expect-error: a sentinel needs the master's name
new RedisStorage({ sentinel: { nodes: ["redis://s:26379"] } });
// @ts-expect-error: unknown storage error code
new StorageError("message", "ERR_OTHER");
// @ts-expect-error: a corrupted-storage error has its own code
const code: "ERR_STORAGE_TIMEOUT" = new StorageCorruptedError("message").code;
// @ts-expect-error: milliseconds are a number
setStorageTimeout("10");
// @ts-expect-error: the callback of the positional form is a function
void getSessionFromStorage("id", new InMemoryStorage(), "callback");
// @ts-expect-error: refresh is a boolean
void getSessionFromStorage("id", { refresh: "no" });
`

function assertOnlyTheBareError(result, what) {
  assert.notEqual(result.status, 0, `${what}: the wrong usage compiled`)
  const errors = result.diagnostics.split('\n').filter((line) => /\): error TS\d+/.test(line))
  assert.equal(errors.length, 1, `${what}: expected exactly one error (line 4), got:\n${result.diagnostics}`)
  assert.match(errors[0], /wrong\.ts\(4,1\): error TS2322: Type 'string' is not assignable to type 'boolean'/)
}

test('wrong usages fail to compile against ours', () => {
  const result = compile({ ...BASE_OPTIONS, ...mappedTo(OURS) }, ['wrong.ts'], {
    'wrong.ts': WRONG_SHARED + WRONG_OURS_ONLY,
  })
  assertOnlyTheBareError(result, 'ours')
  assertLoaded(result, OURS, 'ours')
})

test('wrong usages fail to compile against ours with TypeScript 7', () => {
  const result = compile({ ...BASE_OPTIONS, ...mappedTo(OURS) }, ['wrong.ts'], { 'wrong.ts': WRONG_SHARED + WRONG_OURS_ONLY }, TSC7)
  assertOnlyTheBareError(result, 'ours, TypeScript 7')
})

test('the same wrong usages fail to compile against the reference (the checks are not vacuous)', () => {
  const result = compile({ ...BASE_OPTIONS, ...mappedTo(REFERENCE) }, ['wrong.ts'], { 'wrong.ts': WRONG_SHARED })
  assertOnlyTheBareError(result, 'reference')
  assertLoaded(result, REFERENCE, 'reference')
})

test('index.d.ts declares exactly the values that index.js and index.mjs export', async () => {
  const cjs = Object.keys(require('../index.js')).sort()
  const esm = Object.keys(await import('../index.mjs')).filter((name) => name !== 'default').sort()
  assert.deepEqual(esm, cjs, 'index.mjs and index.js export different names')
  // Compile-time check that `keyof typeof import(...)` is exactly the runtime list.
  const names = cjs.map((name) => JSON.stringify(name)).join(' | ')
  const source = `import * as api from "${SPECIFIER}";
type Declared = keyof typeof api;
type Runtime = ${names};
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
// On a mismatch, the errors name the values missing on either side.
const missingFromTypes: [Exclude<Runtime, Declared>] extends [never] ? true : Exclude<Runtime, Declared> = true;
const missingAtRuntime: [Exclude<Declared, Runtime>] extends [never] ? true : Exclude<Declared, Runtime> = true;
const same: Equal<Declared, Runtime> = true;
export { missingFromTypes, missingAtRuntime, same };
`
  const result = compile({ ...BASE_OPTIONS, ...mappedTo(OURS) }, ['exports.ts'], { 'exports.ts': source })
  assertCompiles(result, `value exports (runtime: ${cjs.join(', ')})`)
})

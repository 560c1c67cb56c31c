'use strict'
// The package as a user installs it: the tarballs `npm run package` puts in dist/ (the main
// package and this machine's platform package, from files, no registry) installed into a
// brand-new app, which then requires it, imports it, type-checks against it under
// `tsc --strict` (TypeScript 5 and 7), and runs a script that stores, lists, restores and clears
// sessions. Also what a user sees when the binary for the platform is missing, and the advice it
// gets (the platform tarball packed beside the main one).
//
// Skipped, with the reason printed, when dist/ has no tarballs; `npm test` makes them.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile, execFileSync, spawnSync } = require('node:child_process')
const { startFakeIdp } = require('./support/fake-idp.js')

const ROOT = path.resolve(__dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const NAME = pkg.name

function platformName() {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  const glibc = process.report.getReport().header.glibcVersionRuntime
  return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
}

const PLATFORM = platformName()
const MAIN_TARBALL = path.join(ROOT, 'dist', `${NAME}-${pkg.version}.tgz`)
const PLATFORM_TARBALL = path.join(ROOT, 'dist', `${NAME}-${PLATFORM}-${pkg.version}.tgz`)
const missing = [MAIN_TARBALL, PLATFORM_TARBALL].filter((file) => !fs.existsSync(file))
const SKIP = missing.length > 0 ? `no ${missing.map((f) => path.relative(ROOT, f)).join(' or ')}: run \`npm run package -- --native-only\` first` : false
if (SKIP) console.log(`# install.test.js skipped: ${SKIP}`)

let app
let idp

/** Runs a command in the app; its output on failure. */
function inApp(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: app, encoding: 'utf8', timeout: 180_000, ...options })
  if (result.error) throw result.error
  return { status: result.status, out: `${result.stdout}${result.stderr}`, stdout: result.stdout }
}

function succeeds(command, args, options) {
  const result = inApp(command, args, options)
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.out}`)
  return result.stdout
}

test.before(async () => {
  if (SKIP) return
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'fresh-app-'))
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }, null, 2))
  // @types/node as a TypeScript app has it (here from the repository's own copy, not the registry).
  succeeds('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', MAIN_TARBALL, PLATFORM_TARBALL, path.join(ROOT, 'node_modules', '@types', 'node')])
  idp = await startFakeIdp()
})

test.after(async () => {
  await idp?.close()
  if (app) fs.rmSync(app, { recursive: true, force: true })
})

test('the main tarball holds the loader, no binary, and one optional dependency per platform', { skip: SKIP }, () => {
  const files = execFileSync('tar', ['-tzf', MAIN_TARBALL], { encoding: 'utf8' }).split('\n').filter(Boolean)
  for (const file of ['package/binding.js', 'package/index.js', 'package/index.mjs', 'package/index.d.ts', 'package/lib/session.js', 'package/LICENSE', 'package/README.md']) {
    assert.ok(files.includes(file), `${file} is in the tarball: ${files.join(', ')}`)
  }
  assert.deepEqual(files.filter((f) => f.endsWith('.node')), [], 'the binaries come in the platform packages')
  const manifest = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', NAME, 'package.json'), 'utf8'))
  const platforms = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc']
  assert.deepEqual(manifest.optionalDependencies, Object.fromEntries(platforms.map((p) => [`${NAME}-${p}`, pkg.version])))
  assert.equal(manifest.scripts, undefined, 'no build scripts run at install')
  assert.equal(manifest.nativeBinaryTarballs, path.join(ROOT, 'dist'), 'it names the folder its platform tarballs were packed in')
  assert.ok(fs.existsSync(path.join(app, 'node_modules', `${NAME}-${PLATFORM}`, `${NAME}.${PLATFORM}.node`)))
})

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')

test('every relative link in the packed Markdown resolves to a file and heading in the tarball', { skip: SKIP }, () => {
  const installed = path.join(app, 'node_modules', NAME)
  const markdown = ['README.md', 'docs/api.md', 'docs/divergences.md']
  for (const file of markdown) assert.ok(fs.existsSync(path.join(installed, file)), `${file} ships`)
  const headings = (file) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, '')))
  let checked = 0
  for (const file of markdown) {
    const text = fs.readFileSync(path.join(installed, file), 'utf8').replace(/```[\s\S]*?```/g, '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue // absolute: https://, mailto:
      const [pathPart, hash] = target.split('#')
      const resolved = pathPart === '' ? path.join(installed, file) : path.resolve(path.dirname(path.join(installed, file)), pathPart)
      assert.ok(resolved.startsWith(installed + path.sep) && fs.existsSync(resolved), `${file} links to ${target}, which the tarball does not hold`)
      if (hash !== undefined) assert.ok(headings(resolved).includes(hash), `${file} links to ${target}: no such heading`)
      checked += 1
    }
  }
  assert.ok(checked >= 2, `only ${checked} relative links found`)
})

/** The script a user might write: store, list, restore and clear sessions. */
const SCRIPT = `
const { Session, getSessionFromStorage, getSessionIdFromStorageAll, clearSessionFromStorageAll, InMemoryStorage } = require('${NAME}')
async function main() {
  const storage = new InMemoryStorage()
  const session = new Session({ storage }, 'installed')
  await session.login({ oidcIssuer: process.env.ISSUER, clientId: 'app', clientSecret: 'app-secret' })
  const ids = await getSessionIdFromStorageAll(storage)
  const restored = await getSessionFromStorage('installed', { storage })
  await clearSessionFromStorageAll(storage)
  const after = await getSessionIdFromStorageAll(storage)
  console.log(JSON.stringify({ webId: session.info.webId, ids, restored: restored.info.isLoggedIn, after }))
}
main().catch((e) => { console.error(e); process.exitCode = 1 })
`

test('require: a script stores, lists, restores and clears sessions', { skip: SKIP }, async () => {
  fs.writeFileSync(path.join(app, 'sessions.js'), SCRIPT)
  // Not spawnSync: the fake identity provider answers from this process's event loop.
  const stdout = await new Promise((resolve, reject) =>
    execFile(process.execPath, ['sessions.js'], { cwd: app, env: { ...process.env, ISSUER: idp.issuer }, timeout: 60_000 }, (error, out, err) =>
      error ? reject(new Error(`sessions.js failed: ${error.message}\n${err}`)) : resolve(out),
    ),
  )
  const out = JSON.parse(stdout)
  assert.deepEqual(out, { webId: idp.webId, ids: ['installed'], restored: true, after: [] })
})

test('import: the ESM entry shares the CommonJS module', { skip: SKIP }, () => {
  fs.writeFileSync(
    path.join(app, 'esm.mjs'),
    `import { Session, EVENTS, getSessionIdFromStorageAll } from '${NAME}'
import { createRequire } from 'node:module'
const cjs = createRequire(import.meta.url)('${NAME}')
console.log(JSON.stringify({ same: cjs.Session === Session, login: EVENTS.LOGIN, ids: await getSessionIdFromStorageAll(), id: typeof new Session().info.sessionId }))
`,
  )
  assert.deepEqual(JSON.parse(succeeds(process.execPath, ['esm.mjs'])), { same: true, login: 'login', ids: [], id: 'string' })
})

test('TypeScript 5 and 7 type-check a consumer under --strict', { skip: SKIP }, () => {
  fs.writeFileSync(
    path.join(app, 'consumer.ts'),
    `import { Session, getSessionFromStorage, InMemoryStorage, EVENTS } from "${NAME}";
import type { IStorage, ISessionInfo, SessionTokenSet } from "${NAME}";
const storage: IStorage = new InMemoryStorage();
const session = new Session({ storage, keepAlive: false });
session.events.on(EVENTS.NEW_TOKENS, (tokens: SessionTokenSet) => tokens.accessToken);
export async function handler(id: string): Promise<ISessionInfo | undefined> {
  const restored = await getSessionFromStorage(id, { storage });
  const response = await restored?.fetch("https://pod.example/private");
  return response?.ok ? restored?.info : undefined;
}
`,
  )
  fs.writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: false }, files: ['consumer.ts'] }),
  )
  for (const [name, tsc] of [
    ['TypeScript 5', path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')],
    ['TypeScript 7', path.join(ROOT, 'node_modules', 'typescript7', 'bin', 'tsc')],
  ]) {
    const result = inApp(process.execPath, [tsc, '-p', 'tsconfig.json'])
    assert.equal(result.status, 0, `${name}:\n${result.out}`)
  }
})

/** The first line of what requiring the package prints, run with `preload` first. */
function requireFails(preload = '') {
  const result = inApp(process.execPath, ['-e', `${preload}\ntry { require('${NAME}') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`])
  assert.equal(result.status, 0, result.out)
  assert.notEqual(result.stdout.trim(), '', 'requiring the package failed')
  return JSON.parse(result.stdout)
}

test('without the platform package the error names the platform and what to do', { skip: SKIP }, () => {
  const installed = path.join(app, 'node_modules', `${NAME}-${PLATFORM}`)
  const aside = `${installed}.aside`
  const manifestFile = path.join(app, 'node_modules', NAME, 'package.json')
  const manifest = fs.readFileSync(manifestFile, 'utf8')
  const withTarballsIn = (dir) => {
    const { nativeBinaryTarballs: _dir, ...rest } = JSON.parse(manifest)
    fs.writeFileSync(manifestFile, JSON.stringify(dir === undefined ? rest : { ...rest, nativeBinaryTarballs: dir }))
  }
  fs.renameSync(installed, aside)
  try {
    const error = requireFails()
    assert.equal(error.code, 'ERR_NATIVE_BINARY_MISSING')
    const [os, cpu] = PLATFORM.split('-')
    assert.match(error.message, new RegExp(`os ${os}, cpu ${cpu}`))
    if (os === 'linux') assert.match(error.message, /libc (glibc|musl)/)
    assert.match(error.message, new RegExp(`${NAME}-${PLATFORM}`), 'it names the package the binary comes in')
    assert.match(error.message, /build one from source/)
    assert.doesNotMatch(error.message, /npm has a bug/)

    // Installed from the tarballs of `npm run package`: the platform one packed beside the main
    // one, by its path; not the registry package, which the registry may not have.
    assert.ok(error.message.includes(`which packed that one beside it: npm install ${PLATFORM_TARBALL}\n`), error.message)
    assert.ok(!error.message.includes(`npm install ${NAME}-${PLATFORM})`), error.message)
    // The folder it was packed in no longer has it: the tarball by its name.
    withTarballsIn(path.join(app, 'elsewhere'))
    const moved = requireFails().message
    assert.ok(
      moved.includes(`packed by \`npm run package\` in ${path.join(app, 'elsewhere')}: install the tarball it packs there for this platform, ${path.basename(PLATFORM_TARBALL)} (not there now).`),
      moved,
    )
    // A main package packed for the registry (`--registry`) names no folder: the registry package.
    withTarballsIn(undefined)
    const registry = requireFails().message
    assert.ok(registry.includes(`Install it (npm install ${NAME}-${PLATFORM}), or reinstall without omitting optional dependencies.`), registry)
    assert.ok(!registry.includes('npm run package'), registry)

    // A platform nobody builds for: the targets there are, and no package that does not exist.
    const unsupported = requireFails("Object.defineProperty(process, 'arch', { value: 'riscv64' })")
    assert.match(unsupported.message, /os linux, cpu riscv64|cpu riscv64/)
    assert.match(unsupported.message, /Binaries are made for: linux-x64-gnu, linux-arm64-gnu, linux-x64-musl, darwin-x64, darwin-arm64, win32-x64-msvc/)
    assert.doesNotMatch(unsupported.message, /riscv64-(gnu|musl)/)
  } finally {
    fs.renameSync(aside, installed)
    fs.writeFileSync(manifestFile, manifest)
  }
})

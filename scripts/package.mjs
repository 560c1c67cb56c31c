#!/usr/bin/env node
// `npm run package`: builds the binaries this machine can build, puts each in its platform
// package under npm/, and packs the main package and the platform packages as tarballs into
// dist/ (what a registry would serve; also installable from the files).
//
//   node scripts/package.mjs [--native-only] [--skip-build] [--registry]
//
// --native-only  build only this machine's own target, with napi build (what the install test
//                needs; no zig)
// --skip-build   pack the binaries already in npm/<platform>/
// --registry     pack for publishing: the main package does not name the folder it was packed in
//
// Without --registry the main package's package.json names this dist/ folder
// (`nativeBinaryTarballs`), so that when no binary loads, binding.js tells to install the
// platform tarball made beside it rather than a package the registry may not have.
//
// The main package declares every platform package as an optional dependency, at its own
// version: npm installs the one whose os/cpu/libc match, and skips the others (also when a
// registry does not have them, as when installing from these files).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist')
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const NAME = pkg.napi.binaryName
const args = new Set(process.argv.slice(2))
for (const arg of args) {
  if (!['--native-only', '--skip-build', '--registry'].includes(arg)) {
    console.error(`unknown option ${arg}; usage: node scripts/package.mjs [--native-only] [--skip-build] [--registry]`)
    process.exit(2)
  }
}

/** Rust target triple → platform package suffix, as napi-rs names them. */
function platformOf(target) {
  const [arch, , os, abi] = target.split('-')
  const cpu = { x86_64: 'x64', aarch64: 'arm64' }[arch] ?? arch
  const system = { linux: 'linux', darwin: 'darwin', windows: 'win32' }[os] ?? os
  return abi === undefined ? `${system}-${cpu}` : `${system}-${cpu}-${abi}`
}

/** The Rust target this machine builds for without cross-compiling. */
function nativeTarget() {
  const out = execFileSync('rustc', ['-vV'], { encoding: 'utf8' })
  const host = /^host: (.+)$/m.exec(out)?.[1]
  if (!host) throw new Error('rustc -vV named no host target')
  return host
}

function run(command, commandArgs, options = {}) {
  console.log(`$ ${command} ${commandArgs.join(' ')}`)
  execFileSync(command, commandArgs, { stdio: 'inherit', cwd: ROOT, ...options })
}

const host = nativeTarget()
const targets = pkg.napi.targets
if (!targets.includes(host)) throw new Error(`this machine's target ${host} is not in package.json napi.targets`)

// 1. Binaries.
const built = []
const failed = []
if (!args.has('--skip-build')) {
  const crossScript = path.join(ROOT, 'scripts', 'build-target.mjs')
  // A Linux x64 host builds every Linux target (scripts/build-target.mjs: zig for the others,
  // and glibc 2.17 for the gnu ones, so that the binaries load on older distributions too).
  const linuxHost = host === 'x86_64-unknown-linux-gnu'
  const nativeOnly = args.has('--native-only')
  const wanted = nativeOnly ? [host] : targets.filter((t) => t === host || (linuxHost && t.includes('-linux-')))
  for (const target of wanted) {
    const platform = platformOf(target)
    const into = path.join(ROOT, 'npm', platform, `${NAME}.${platform}.node`)
    try {
      if (linuxHost && !nativeOnly) {
        run(process.execPath, [crossScript, target, ...(target.endsWith('-gnu') ? ['--glibc', '2.17'] : [])])
      } else if (target === host) {
        // Into a folder of its own: the debug build the tests use stays where it is.
        const out = path.join(DIST, '.native')
        fs.mkdirSync(out, { recursive: true })
        run('npx', ['napi', 'build', '--platform', '--release', '--strip', '--no-js', '--output-dir', out])
        fs.copyFileSync(path.join(out, `${NAME}.${platform}.node`), into)
      } else {
        run(process.execPath, [crossScript, target])
      }
      built.push(platform)
    } catch (e) {
      failed.push(`${platform}: ${e.message.split('\n')[0]}`)
    }
  }
}

// 2. Platform packages that have their binary.
fs.mkdirSync(DIST, { recursive: true })
for (const name of fs.readdirSync(DIST)) if (name.endsWith('.tgz')) fs.rmSync(path.join(DIST, name))
const packed = []
for (const target of targets) {
  const platform = platformOf(target)
  const dir = path.join(ROOT, 'npm', platform)
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  if (manifest.version !== pkg.version) throw new Error(`${dir}/package.json is at ${manifest.version}, the package at ${pkg.version}: run npm version`)
  if (!fs.existsSync(path.join(dir, `${NAME}.${platform}.node`))) continue
  run('npm', ['pack', dir, '--pack-destination', DIST, '--silent'])
  packed.push(platform)
}
if (!packed.includes(platformOf(host))) {
  throw new Error(`no binary for this machine (${platformOf(host)}) in npm/${platformOf(host)}/: run without --skip-build`)
}

// 3. The main package, staged with its optional dependencies and without scripts or dev tools.
const stage = path.join(DIST, '.stage')
fs.rmSync(stage, { recursive: true, force: true })
fs.mkdirSync(stage, { recursive: true })
for (const entry of [...pkg.files, 'README.md', 'LICENSE']) {
  if (entry.includes('*')) continue // a local build's binary: not in the registry package
  fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true })
}
const { scripts: _scripts, devDependencies: _dev, napi: _napi, ...published } = pkg
published.files = pkg.files.filter((entry) => !entry.includes('*'))
published.optionalDependencies = Object.fromEntries(targets.map((t) => [`${NAME}-${platformOf(t)}`, pkg.version]))
if (!args.has('--registry')) published.nativeBinaryTarballs = DIST
fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`)
run('npm', ['pack', stage, '--pack-destination', DIST, '--silent'])

console.log(`\nIn ${path.relative(process.cwd(), DIST) || DIST}/:`)
for (const name of fs.readdirSync(DIST).filter((n) => n.endsWith('.tgz')).sort()) {
  console.log(`  ${name}  ${(fs.statSync(path.join(DIST, name)).size / 1e6).toFixed(1)} MB`)
}
if (built.length > 0) console.log(`built: ${built.join(', ')}`)
const missing = targets.map(platformOf).filter((p) => !packed.includes(p))
if (missing.length > 0) console.log(`not built here (the release workflow builds them): ${missing.join(', ')}`)
if (failed.length > 0) {
  console.error(`failed:\n  ${failed.join('\n  ')}`)
  process.exitCode = 1
}

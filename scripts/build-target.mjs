#!/usr/bin/env node
// Builds the release `.node` for one or more Rust targets and puts each into its npm package
// folder: npm/<platform>/solid-client-authn-native.<platform>.node
//
//   node scripts/build-target.mjs <rust-target> [<rust-target> ...] [--glibc <version>]
//
// Targets built here (a Linux x64 host):
//   x86_64-unknown-linux-gnu    the native target: a plain `cargo build --release`
//   aarch64-unknown-linux-gnu   cross, with cargo-zigbuild + zig, pinned to glibc 2.17
//   x86_64-unknown-linux-musl   cross, with cargo-zigbuild + zig, musl libc linked dynamically
//                               (-C target-feature=-crt-static, which a musl cdylib needs)
// `--glibc <version>` pins the glibc of a -gnu target (default: 2.17 for aarch64, none for the
// native target); pinning the native target too sends it through zig as well.
//
// It installs what is missing, and says so: the Rust target (`rustup target add`) and, for a zig
// build, the PyPI packages `ziglang` and `cargo-zigbuild` (pinned versions, `pip install`). No
// apt package is needed to build. Targets are built one after the other, into CARGO_TARGET_DIR
// (default target/cross), so the debug build in target/ is left alone.
// The darwin and windows targets of package.json are not built here; they need their own hosts.

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
// Known-good versions (tested together with Rust 1.95); used only when they must be installed.
const ZIGLANG_VERSION = '0.17.1'
const CARGO_ZIGBUILD_VERSION = '0.24.1'

/** Rust target -> npm platform folder and how to build it. */
const TARGETS = {
  'x86_64-unknown-linux-gnu': { platform: 'linux-x64-gnu', libc: 'gnu' },
  'aarch64-unknown-linux-gnu': { platform: 'linux-arm64-gnu', libc: 'gnu', glibc: '2.17' },
  'x86_64-unknown-linux-musl': { platform: 'linux-x64-musl', libc: 'musl' },
}

class Failure extends Error {}

const log = (message) => console.log(`[build-target] ${message}`)

/** Runs a command with inherited output; throws a Failure when it does not exit 0. */
function run(cmd, args, options = {}) {
  log(`$ ${[cmd, ...args].join(' ')}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...options })
  if (r.error) throw new Failure(`could not run ${cmd}: ${r.error.message}`)
  if (r.status !== 0) throw new Failure(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`)
}

/** Runs a command quietly; returns its stdout, or undefined when it cannot run or fails. */
function probe(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, ...options })
  return r.status === 0 ? r.stdout : undefined
}

function parseArgs(argv) {
  const targets = []
  let glibc
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--glibc') glibc = argv[++i]
    else if (a.startsWith('--glibc=')) glibc = a.slice('--glibc='.length)
    else if (a === '-h' || a === '--help') return { help: true }
    else if (a.startsWith('-')) throw new Failure(`unknown option ${a}`)
    else targets.push(a)
  }
  if (glibc !== undefined && !/^2\.\d+$/.test(glibc)) throw new Failure(`--glibc wants a version like 2.17, not ${glibc}`)
  return { targets, glibc }
}

function usage() {
  console.log(`usage: node scripts/build-target.mjs <rust-target> [<rust-target> ...] [--glibc <version>]
targets: ${Object.keys(TARGETS).join(', ')}`)
}

function hostTriple() {
  const out = probe('rustc', ['-vV'])
  const host = out && /^host: (\S+)$/m.exec(out)?.[1]
  if (!host) throw new Failure('rustc not found or unreadable: install Rust with rustup first')
  return host
}

/** `rustup target add` unless the target's standard library is already there. */
function ensureRustTarget(target) {
  const installed = probe('rustup', ['target', 'list', '--installed'])
  if (installed === undefined) {
    throw new Failure(`rustup not found: add the Rust standard library for ${target} yourself`)
  }
  if (installed.split('\n').includes(target)) return
  log(`installing the Rust target ${target}`)
  run('rustup', ['target', 'add', target])
}

function python() {
  for (const p of ['python3', 'python']) if (probe(p, ['--version']) !== undefined) return p
  throw new Failure('a zig build needs Python (pip) for ziglang and cargo-zigbuild; none found')
}

/** zig (on PATH or as `python3 -m ziglang`) and cargo-zigbuild, installed with pip when missing. */
function ensureZig() {
  const py = python()
  const haveZig = () => probe('zig', ['version']) !== undefined || probe(py, ['-m', 'ziglang', 'version']) !== undefined
  const haveZigbuild = () => probe('cargo-zigbuild', ['--version']) !== undefined
  const missing = []
  if (!haveZig()) missing.push(`ziglang==${ZIGLANG_VERSION}`)
  if (!haveZigbuild()) missing.push(`cargo-zigbuild==${CARGO_ZIGBUILD_VERSION}`)
  if (missing.length > 0) {
    log(`installing with pip: ${missing.join(' ')}`)
    run(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...missing], {
      env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
    })
    if (!haveZig() || !haveZigbuild()) {
      throw new Failure('pip installed ziglang/cargo-zigbuild, but they are not on PATH (is pip\'s bin folder on PATH?)')
    }
  }
}

function binaryName() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  return pkg.napi?.binaryName ?? pkg.name
}

/** The file name cargo gives the cdylib: lib<crate name with underscores>.so */
function cdylibName() {
  const names = {}
  let section
  for (const line of readFileSync(join(ROOT, 'Cargo.toml'), 'utf8').split('\n')) {
    const header = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(line)
    if (header) section = header[1].trim()
    const name = /^\s*name\s*=\s*"([^"]+)"/.exec(line)
    if (name && (section === 'lib' || section === 'package')) names[section] ??= name[1]
  }
  const name = names.lib ?? names.package
  if (!name) throw new Failure('cannot read the crate name from Cargo.toml')
  return `lib${name.replace(/-/g, '_')}.so`
}

/** What the built file needs at run time, printed for the record (binutils, when present). */
function describe(file, libc) {
  const dynamic = probe('readelf', ['-d', file])
  if (dynamic === undefined) return
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
  log(`needs: ${needed.join(', ') || '(nothing)'}`)
  if (libc === 'gnu') {
    const versions = probe('objdump', ['-T', file])
    const glibc = [...new Set([...(versions ?? '').matchAll(/GLIBC_(\d+)\.(\d+)(?:\.(\d+))?/g)].map((m) => m.slice(1).map((n) => Number(n ?? 0))))]
    glibc.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2])
    const max = glibc.at(-1)
    if (max) log(`highest glibc symbol version: GLIBC_${max[0]}.${max[1]}${max[2] ? `.${max[2]}` : ''}`)
  } else if (needed.some((n) => /^(libc\.so\.6|ld-linux|libpthread\.so\.0|libdl\.so\.2)/.test(n))) {
    throw new Failure(`${file} needs glibc (${needed.join(', ')}): the musl build went wrong`)
  }
}

function build(target, host, glibcOption) {
  const spec = TARGETS[target]
  if (!spec) {
    throw new Failure(`unsupported target ${target}; this script builds ${Object.keys(TARGETS).join(', ')} (macOS and Windows targets need their own hosts)`)
  }
  const started = Date.now()
  const glibc = spec.libc === 'gnu' ? (glibcOption ?? (target === host ? undefined : spec.glibc)) : undefined
  const zig = target !== host || glibc !== undefined
  const targetDir = resolve(ROOT, process.env.CARGO_TARGET_DIR || join('target', 'cross'))
  const env = { ...process.env, CARGO_TARGET_DIR: targetDir }

  ensureRustTarget(target)
  if (zig) ensureZig()
  if (spec.libc === 'musl') {
    // A cdylib cannot link musl statically; napi-rs's own CLI adds the same flag for musl.
    const flag = '-C target-feature=-crt-static'
    if (process.env.RUSTFLAGS !== undefined) env.RUSTFLAGS = `${process.env.RUSTFLAGS} ${flag}`
    else {
      const key = `CARGO_TARGET_${target.replace(/-/g, '_').toUpperCase()}_RUSTFLAGS`
      env[key] = [process.env[key], flag].filter(Boolean).join(' ')
    }
  }

  const cargoTarget = glibc ? `${target}.${glibc}` : target
  log(`building ${target}${glibc ? ` (glibc ${glibc})` : ''} with ${zig ? 'cargo-zigbuild' : 'cargo'} into ${relative(ROOT, targetDir) || '.'}`)
  run('cargo', [zig ? 'zigbuild' : 'build', '--release', '--locked', '--target', cargoTarget], { env })

  const built = join(targetDir, target, 'release', cdylibName())
  if (!existsSync(built)) throw new Failure(`cargo reported success but ${built} is missing`)
  const destDir = join(ROOT, 'npm', spec.platform)
  mkdirSync(destDir, { recursive: true })
  const dest = join(destDir, `${binaryName()}.${spec.platform}.node`)
  copyFileSync(built, dest)
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  log(`${target}: ${relative(ROOT, dest)} (${(statSync(dest).size / 1e6).toFixed(2)} MB) in ${seconds} s`)
  describe(dest, spec.libc)
}

function main() {
  let options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (e) {
    console.error(`[build-target] ${e.message}`)
    usage()
    return 2
  }
  if (options.help) return usage(), 0
  if (options.targets.length === 0) {
    usage()
    return 2
  }
  if (process.platform !== 'linux') {
    console.error('[build-target] this script builds the Linux targets on a Linux host')
    return 2
  }
  try {
    const host = hostTriple()
    for (const target of options.targets) build(target, host, options.glibc)
    return 0
  } catch (e) {
    if (!(e instanceof Failure)) throw e
    console.error(`[build-target] FAILED: ${e.message}`)
    return 1
  }
}

process.exitCode = main()

#!/usr/bin/env node
// `npm pack` / `npm publish` at the repository root pack this machine's own build (the loader
// finds the binary beside it). Without one the tarball could not load anywhere, so refuse.
// `npm run package` makes the registry packages instead (the binaries in platform packages).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const binaries = fs.readdirSync(ROOT).filter((name) => /^solid-client-authn-native\..+\.node$/.test(name))
if (!fs.existsSync(path.join(ROOT, 'binding.js')) || binaries.length === 0) {
  console.error(
    'npm pack here packs the binary built on this machine, and there is none.\n' +
      'Run `npm run build` first (a release build), or `npm run package` to make the main package and one\n' +
      'package per platform in dist/.',
  )
  process.exit(1)
}
console.error(`packing with ${binaries.join(', ')} (this machine's build)`)

// Runs every test file four ways: in child processes (forks) and in worker threads, each with the
// package reached the two ways a consumer can reach it.
//
// - "linked": how `file:`, `npm link` and workspaces install it. node_modules/solid-client-authn-native
//   is a symlink; Vite follows it to the package's real path, which is outside node_modules, so
//   Vitest inlines index.mjs (transforms it with Vite) and index.js is evaluated by Vitest's module
//   runner; lib/*.js, binding.js and the .node file are loaded by Node's own require.
// - "installed": how a registry install behaves. resolve.preserveSymlinks keeps the node_modules
//   path, so Vitest externalizes the package and Node loads both entry points itself.
//
// Neither needs server.deps settings: the .node file is only ever reached through require().
import { defineConfig } from 'vitest/config'

const projects = []
for (const pool of ['forks', 'threads']) {
  for (const [reach, preserveSymlinks] of [['linked', false], ['installed', true]]) {
    projects.push({
      extends: false,
      resolve: { preserveSymlinks },
      test: {
        name: `${pool}-${reach}`,
        include: ['spec/**/*.spec.js'],
        environment: 'node',
        pool,
        provide: { pool, reach },
      },
    })
  }
}

export default defineConfig({ test: { projects } })

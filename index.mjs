// ESM entry point: the CommonJS module re-exported, so that `import` and `require` share one
// module instance and one default storage.
export * from './index.js'

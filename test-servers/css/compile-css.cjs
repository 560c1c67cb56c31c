// Pre-compile a CSS Components.js config into a plain CommonJS module that instantiates
// the App directly (skips the ~10 s Components.js discovery/registration on every start).
// Usage: node compile-css.cjs <cssProjectDir> <config.json> <out.cjs>
// (cssProjectDir is test-servers/css, where @solid/community-server is installed.)
// Notes: `componentsjs-compile-config` (the bin) fails on CSS 7.2 with
// "The empty term is not allowed" because it enables type checking; CSS itself runs with
// typeChecking:false, so we call the same API with that flag.
const path = require('node:path');
const fs = require('node:fs');
const [harnessDir, config, out] = process.argv.slice(2);
const hreq = require('node:module').createRequire(path.join(harnessDir, 'package.json'));
const { ComponentsManager } = hreq('componentsjs');
const { ConstructionStrategyCommonJsString } = hreq('componentsjs/lib/construction/strategy/ConstructionStrategyCommonJsString');
(async () => {
  const mainModulePath = path.join(harnessDir, 'node_modules/@solid/community-server');
  const constructionStrategy = new ConstructionStrategyCommonJsString({ asFunction: true, req: require });
  const manager = await ComponentsManager.build({
    mainModulePath,
    constructionStrategy,
    typeChecking: false,
    logLevel: 'warn',
    configLoader: async (registry) => registry.register(config),
  });
  const name = await manager.instantiate('urn:solid-server:default:App');
  let code = constructionStrategy.serializeDocument(name);
  // The generated code requires './dist/index.js' relative to the CSS package; make it absolute.
  const cssMain = path.join(mainModulePath, 'dist/index.js');
  code = code.split("require('./dist/index.js')").join(`require(${JSON.stringify(cssMain)})`);
  // Unique temp name + rename: concurrent compiles (parallel test files) never see a partial file.
  fs.writeFileSync(`${out}.${process.pid}.tmp`, code);
  fs.renameSync(`${out}.${process.pid}.tmp`, out);
})().catch((e) => { console.error(e); process.exit(1); });

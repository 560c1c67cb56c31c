// Start a pre-compiled CSS App (see compile-css.cjs) with the given variables.
// Usage: node -r ./loopback.cjs css-launch.cjs <compiled.cjs> '<json settings>'
//   settings: { baseUrl, port, logLevel, seedConfig?, rootFilePath?, showStackTrace? }
// Stops cleanly on SIGTERM/SIGINT, and also when the parent that started it goes away
// (its IPC channel disconnects), so a crashed test run leaves no server behind.
const t0 = Date.now();
const make = require(process.argv[2]);
const opts = JSON.parse(process.argv[3] || '{}');
const V = 'urn:solid-server:default:variable:';
const port = Number(opts.port || 3000);
const vars = {
  [`${V}baseUrl`]: opts.baseUrl || `http://localhost:${port}/`,
  [`${V}port`]: port,
  [`${V}socket`]: undefined,
  [`${V}loggingLevel`]: opts.logLevel || 'warn',
  [`${V}showStackTrace`]: !!opts.showStackTrace,
  [`${V}seedConfig`]: opts.seedConfig || undefined,
  [`${V}workers`]: 1,
  [`${V}confirmMigration`]: true,
  [`${V}rootFilePath`]: opts.rootFilePath || undefined,
  [`${V}sparqlEndpoint`]: undefined,
  [`${V}podConfigJson`]: undefined,
};
const app = make(vars);
let stopping = false;
const stop = async (sig) => {
  if (stopping) return;
  stopping = true;
  // Never hang on a slow shutdown.
  setTimeout(() => process.exit(1), 3000).unref();
  try { await app.stop(); } catch (e) { console.error('stop failed', e); }
  process.exit(sig === 'SIGINT' ? 130 : 0);
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.on('disconnect', () => { console.error('[css-launch] parent went away, stopping'); stop('disconnect'); });
app.start().then(
  () => console.error(`[css-launch] started in ${Date.now() - t0} ms on ${vars[`${V}baseUrl`]}`),
  (e) => { console.error('[css-launch] start failed', e); process.exit(1); },
);

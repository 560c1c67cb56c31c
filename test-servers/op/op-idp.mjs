#!/usr/bin/env node
// Lightweight alternative IdP: panva's oidc-provider 9 on loopback, configured like CSS's
// IdP where it matters for Solid-OIDC clients. No pods, no accounts, no WAC.
//
//   node op-idp.mjs [--port 4000] [--plain] [--nonce]
//     --plain  stock oidc-provider: no `webid` scope/claim, opaque access tokens  (what it lacks)
//     --nonce  require DPoP nonces at the token endpoint (features.dPoP.nonceSecret + requireNonce) -- CSS never does this
//     --rs-nonce  /private answers 401 + DPoP-Nonce + error="use_dpop_nonce" until the proof carries that nonce
//     --rotate  rotate the refresh token on every use; a used refresh token presented again revokes the whole grant
//               (oidc-provider's reuse detection), as many production IdPs do
//     --at-ttl S   access-token lifetime in seconds for authorization-code / refresh grants (default 3600)
//     --cc-ttl S   access-token lifetime in seconds for client credentials (default 600)
//     --store N    room for N entries in the provider's in-memory store (clients, grants, refresh tokens, sessions);
//                  oidc-provider's default keeps 1,000-2,000, about five per login, so without it the clients and
//                  grants of early logins are forgotten (invalid_client, invalid_grant) once a few hundred more log in
//
// Provides:
//   issuer http://localhost:PORT/  (trailing slash, like CSS)  bound to 127.0.0.1
//   static client-credentials client  id=harness-cc  secret=harness-cc-secret  -> webid http://localhost:PORT/alice/profile/card#me
//   dynamic registration (/reg), authorization code + PKCE, refresh tokens (offline_access)
//   devInteractions: /interaction/:uid HTML forms; login accepts any "login" value as the
//     account id (no password check), whose WebID is that value when it is an http(s) IRI, else
//     http://localhost:PORT/<login>/profile/card#me; a headless driver GETs each form and POSTs it back
//   GET /<login>/profile/card  the WebID document (text/turtle) of every account here (alice's, the
//     client-credentials client's, any devInteractions login's), naming this issuer as solid:oidcIssuer;
//     a login whose WebID is elsewhere (an http(s) IRI) gets no profile from here
//   GET /private             200 only with a valid access token (DPoP proof checked when scheme is DPoP)
//   GET /__stats             request counts: token (by grant type), grant errors, discovery, jwks, registration
// oidc-provider and jose resolve from this folder's node_modules (node scripts/install-test-servers.mjs op).
// Started by __test__/support/servers.js (startOp); it stops on SIGTERM/SIGINT and when the parent that
// started it goes away (IPC disconnect). It prints "[op-idp] ... ready" on stderr once listening.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';
import * as jose from 'jose';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(`--${k}`); return i < 0 ? d : (argv[i + 1]?.startsWith('--') || argv[i + 1] === undefined ? true : argv[i + 1]); };
const PORT = Number(opt('port', process.env.OP_PORT || 4000));
const PLAIN = !!opt('plain', false);
const NONCE = !!opt('nonce', false);
const RS_NONCE = !!opt('rs-nonce', false);
const ROTATE = !!opt('rotate', false);
const AT_TTL = Number(opt('at-ttl', 3600));
const CC_TTL = Number(opt('cc-ttl', 600));
const STORE = Number(opt('store', 0));
const rsNonce = crypto.randomBytes(16).toString('base64url');
const ISSUER = `http://localhost:${PORT}/`;
const WEBID = `${ISSUER}alice/profile/card#me`;
const opVersion = JSON.parse(fs.readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url), 'utf8')).version;

const ccClients = { 'harness-cc': WEBID };
// The WebID of a devInteractions login: the login itself when it is an http(s) IRI, else the
// profile of that name here ("alice" -> WEBID). A WebID must be an http(s) IRI.
const webIdOf = (account) => (/^https?:\/\//.test(account) ? account : `${ISSUER}${encodeURIComponent(account)}/profile/card#me`);
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'harness-es256' };

const configuration = {
  clients: [{
    client_id: 'harness-cc', client_secret: 'harness-cc-secret',
    grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
  }],
  jwks: { keys: [signingJwk] },
  clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code'], response_types: ['code'] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: PLAIN ? ['openid', 'profile', 'offline_access'] : ['openid', 'profile', 'offline_access', 'webid'],
  claims: PLAIN ? { openid: ['sub'] } : { openid: ['sub', 'azp'], webid: ['webid'] },
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return PLAIN ? { sub } : { sub, webid: webIdOf(sub), azp: ctx.oidc.client?.clientId }; } };
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: false },
    dPoP: {
      enabled: true,
      ...(NONCE ? { nonceSecret: crypto.randomBytes(32), requireNonce: () => true } : {}),
    },
    ...(PLAIN ? {} : {
      // like CSS: force JWT access tokens (Solid RSs verify them offline) with audience "solid"
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'http://example.com/',
        getResourceServerInfo: () => ({
          scope: '', audience: 'solid', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
        }),
      },
    }),
  },
  ...(PLAIN ? {} : {
    async extraTokenClaims(ctx, token) {
      if (token.kind === 'AccessToken') return { webid: webIdOf(token.accountId), client_id: token.clientId };
      const webid = ccClients[token.client?.clientId];
      return webid ? { webid, client_id: token.client.clientId } : undefined;
    },
  }),
  clientBasedCORS: () => true,
  ...(ROTATE ? { rotateRefreshToken: () => true } : {}),
  ...(STORE > 0 ? { adapter: ((store) => (model) => new MemoryAdapter(model, store))(new LRU({ maxSize: STORE })) } : {}),
  pkce: { required: () => true },
  ttl: { AccessToken: AT_TTL, ClientCredentials: CC_TTL, RefreshToken: 86400, Session: 86400, Grant: 86400, Interaction: 3600, AuthorizationCode: 600, IdToken: 3600 },
  // oidc-provider refuses to issue offline_access unless the client asked for consent; library sends prompt=consent
};

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;
// Allow http + localhost redirect URIs for dynamically registered "web" clients
const { invalidate: orig } = provider.Client.Schema.prototype;
provider.Client.Schema.prototype.invalidate = function invalidate(message, code) {
  if (code === 'implicit-force-https' || code === 'implicit-forbid-localhost') return;
  orig.call(this, message, code);
};

const keySetLocal = jose.createLocalJWKSet({ keys: [{ ...signingJwk, d: undefined }] });
const seenJti = new Set();
async function checkAccess(reqIn) {
  const auth = reqIn.headers.authorization ?? '';
  const [scheme, token] = auth.split(' ');
  if (!token) return { ok: false, why: 'no token' };
  if (PLAIN) {
    const at = await provider.AccessToken.find(token);
    if (!at) return { ok: false, why: 'unknown opaque token' };
    return { ok: true, sub: at.accountId ?? at.clientId, scheme };
  }
  const { payload } = await jose.jwtVerify(token, keySetLocal, { issuer: ISSUER, audience: 'solid' })
    .catch((e) => ({ payload: undefined, e }));
  if (!payload) return { ok: false, why: 'bad jwt' };
  if (payload.cnf?.jkt) {
    if (scheme !== 'DPoP') return { ok: false, why: 'DPoP-bound token used as Bearer' };
    const proof = reqIn.headers.dpop;
    if (!proof) return { ok: false, why: 'missing DPoP proof' };
    const { payload: p, protectedHeader: h } = await jose.jwtVerify(proof, await jose.importJWK(jose.decodeProtectedHeader(proof).jwk, jose.decodeProtectedHeader(proof).alg), { typ: 'dpop+jwt' });
    const thumb = await jose.calculateJwkThumbprint(h.jwk);
    const url = `${ISSUER.replace(/\/$/, '')}${reqIn.url}`;
    if (thumb !== payload.cnf.jkt || p.htm !== reqIn.method || p.htu !== url || seenJti.has(p.jti)) return { ok: false, why: 'DPoP proof mismatch' };
    if (RS_NONCE && p.nonce !== rsNonce) return { ok: false, why: 'use_dpop_nonce', nonce: true };
    seenJti.add(p.jti);
  }
  return { ok: true, sub: payload.webid, scheme };
}

// Request counts, for tests that check how often a client talks to the IdP: GET /__stats
const stats = { token: 0, tokenByGrant: {}, grantErrors: {}, discovery: 0, jwks: 0, registration: 0 };
provider.on('grant.error', (ctx, err) => { stats.grantErrors[err.error ?? 'error'] = (stats.grantErrors[err.error ?? 'error'] ?? 0) + 1; });
provider.on('grant.success', (ctx) => { const g = ctx.oidc.params?.grant_type ?? '?'; stats.tokenByGrant[g] = (stats.tokenByGrant[g] ?? 0) + 1; });

// The profile documents of the WebIDs webIdOf gives to this provider's own accounts.
const isProfile = (method, pathname) => method === 'GET' && /^\/[^/]+\/profile\/card$/.test(pathname);

const cb = provider.callback();
const server = http.createServer(async (reqIn, res) => {
  const u = new URL(reqIn.url, ISSUER);
  if (u.pathname === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  if (u.pathname === '/token') stats.token += 1;
  else if (u.pathname === '/.well-known/openid-configuration') stats.discovery += 1;
  else if (u.pathname === '/jwks') stats.jwks += 1;
  else if (u.pathname === '/reg') stats.registration += 1;
  if (isProfile(reqIn.method, u.pathname)) {
    res.writeHead(200, { 'content-type': 'text/turtle', 'access-control-allow-origin': '*' });
    res.end(`@prefix solid: <http://www.w3.org/ns/solid/terms#>.\n<#me> solid:oidcIssuer <${ISSUER}>.\n`);
    return;
  }
  if (u.pathname === '/private') {
    const r = await checkAccess(reqIn).catch((e) => ({ ok: false, why: e.message }));
    const challenge = r.nonce
      ? { 'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256"', 'dpop-nonce': rsNonce }
      : { 'www-authenticate': 'DPoP algs="ES256", Bearer' };
    res.writeHead(r.ok ? 200 : 401, { 'content-type': 'text/plain', ...(r.ok ? {} : challenge) });
    res.end(r.ok ? `hello ${r.sub} (${r.scheme})` : `unauthorized: ${r.why}`);
    return;
  }
  cb(reqIn, res);
});
const t0 = performance.now();
server.listen(PORT, '127.0.0.1', () => {
  console.error(`[op-idp] oidc-provider ${opVersion} on ${ISSUER} (plain=${PLAIN}, nonce=${NONCE}, rs-nonce=${RS_NONCE}) ready in ${Math.round(performance.now() - t0)} ms`);
});
const stop = () => {
  setTimeout(() => process.exit(0), 1000).unref(); // keep-alive connections must not delay the exit
  server.close(() => process.exit(0));
};
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, stop);
process.on('disconnect', stop);

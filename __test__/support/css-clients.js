'use strict'
// The clients the authorization-code tests log in with against Community Solid Server, besides
// the one this package registers itself: a static client (registered once, as an app's developer
// would), and a Solid-OIDC Client ID document served from localhost.
const http = require('node:http')

/**
 * Registers a client with CSS's registration endpoint, for use as a static client.
 *
 * @param {{ issuer: string }} css what startCss() gave
 * @param {object} options
 * @param {string} options.redirectUri
 * @param {boolean} [options.confidential=true] false: a public client (`token_endpoint_auth_method: none`)
 * @returns {Promise<{ clientId: string, clientSecret?: string }>}
 */
async function registerCssClient(css, { redirectUri, confidential = true }) {
  const response = await fetch(`${css.issuer}.oidc/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      id_token_signed_response_alg: 'ES256',
      ...(confidential ? {} : { token_endpoint_auth_method: 'none' }),
    }),
  })
  if (response.status !== 201) throw new Error(`CSS refused the client registration: HTTP ${response.status} ${await response.text()}`)
  const { client_id: clientId, client_secret: clientSecret } = await response.json()
  return { clientId, clientSecret }
}

/**
 * Serves a Client ID document at http://localhost:PORT/app/id. CSS fetches it itself, over plain
 * http only on localhost, and reads it as plain JSON when its @context is the Solid-OIDC one (no
 * JSON-LD processing, so no network).
 *
 * @param {object} options
 * @param {string} options.name its client_name
 * @param {string[]} options.redirectUris
 * @param {string[]} [options.postLogoutRedirectUris]
 * @returns {Promise<{ url: string, close(): void }>}
 */
async function serveClientIdDocument({ name, redirectUris, postLogoutRedirectUris }) {
  let url
  const server = http.createServer((req, res) => {
    if (req.url !== '/app/id') return res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'application/ld+json' }).end(
      JSON.stringify({
        '@context': ['https://www.w3.org/ns/solid/oidc-context.jsonld'],
        client_id: url,
        client_name: name,
        redirect_uris: redirectUris,
        ...(postLogoutRedirectUris ? { post_logout_redirect_uris: postLogoutRedirectUris } : {}),
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: 'openid webid offline_access',
      }),
    )
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://localhost:${server.address().port}/app/id`
  return { url, close: () => server.close() }
}

module.exports = { registerCssClient, serveClientIdDocument }

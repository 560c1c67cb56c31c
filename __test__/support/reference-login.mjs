// Sessions written by the reference package itself, for restore and compatibility tests: an
// authorization-code login against CSS (dynamic client registration, DPoP, a refresh token),
// driven headlessly through CSS's account pages.
import { authcodeLogin } from './authcode-login.mjs'

/**
 * Logs `sessionId` in with the reference's authorization-code flow against `css`, and leaves
 * the session in `storage` (an IStorage whose backing Map is `storage.map`) as the reference
 * stored it. The reference's timers are stopped (its logout does that, and also clears storage,
 * so the stored entries are put back afterwards).
 */
export async function referenceAuthCodeSession({ css, storage, sessionId }) {
  const { Session } = await import('@inrupt/solid-client-authn-node')
  const session = new Session({ storage }, sessionId)
  let authorizationUrl
  await session.login({
    oidcIssuer: css.issuer,
    redirectUrl: 'http://localhost:9/callback',
    clientName: 'compatibility test',
    handleRedirect: (url) => {
      authorizationUrl = url
    },
  })
  const { redirectUrl } = await authcodeLogin({
    authorizationUrl,
    email: css.email,
    password: css.password,
    webId: css.webId,
  })
  const info = await session.handleIncomingRedirect(redirectUrl)
  if (!info?.isLoggedIn) throw new Error('the reference did not log in')
  const stored = new Map(storage.map)
  await session.logout()
  for (const [key, value] of stored) storage.map.set(key, value)
  return { webId: info.webId }
}

// The web app's pages and its login, as a request handler for node:http: used by server.mjs
// beside this file (one process) and by ../cluster/server.mjs (node:cluster workers on Redis).
import { Session, getSessionFromStorage } from 'solid-client-authn-native'

const COOKIE = 'sid'

/**
 * The app's request handler.
 *
 * @param {object} options
 * @param {object} options.storage where the sessions live: one object for the app's whole life
 *   (the package serialises concurrent updates per storage object, not per backend)
 * @param {string} options.url the URL browsers reach the app at (the redirect URL is under it)
 * @param {string} options.clientName the name the provider shows when it asks for consent
 * @param {object} [options.routes] more GET routes, by path: `async (req, res, params) => {}`
 * @param {(response: Response) => string} [options.aboutResponse] HTML about a resource's
 *   response, for its page (escaped by the caller)
 * @returns {(req, res) => void}
 */
export function requestHandler({ storage, url, clientName, routes: more = {}, aboutResponse = defaultAboutResponse }) {
  /** The logged-in session of the browser making `req`, restored from storage; else undefined. */
  async function currentSession(req) {
    const id = sessionIdOf(req)
    if (id === undefined) return undefined
    try {
      // Cheap enough per request: the provider is asked nothing while the stored access token
      // is good, and a refresh once it is not.
      const session = await getSessionFromStorage(id, { storage })
      return session?.info.isLoggedIn ? session : undefined
    } catch (error) {
      // The provider no longer takes the refresh token (revoked, expired): log in again.
      if (error.code === 'ERR_OAUTH_INVALID_GRANT') return undefined
      throw error
    }
  }

  const routes = {
    async '/'(req, res) {
      const session = await currentSession(req)
      if (session === undefined) {
        return page(
          res,
          200,
          'Not logged in',
          `<form action="/login">
  <label>Your Solid identity provider <input name="issuer" type="url" required value="http://localhost:3000/"></label>
  <button>Log in</button>
</form>`,
        )
      }
      page(
        res,
        200,
        'Logged in',
        `<p>Your WebID: ${escape(session.info.webId)}</p>
<form action="/resource">
  <label>Read a resource as you <input name="url" type="url" required size="60"></label>
  <button>Read</button>
</form>
<p><a href="/logout">Log out of this app</a> | <a href="/logout?idp=1">Log out of your identity provider too</a></p>`,
      )
    },

    async '/login'(req, res, params) {
      const oidcIssuer = params.get('issuer')
      if (!oidcIssuer) return redirect(res, '/')
      // One session per browser: a login started again (or on top of a finished one) replaces
      // the old session, which would otherwise stay in storage with nobody to log it out.
      const previous = sessionIdOf(req)
      if (previous !== undefined) await new Session({ storage }, previous).logout()
      // No background refresh: each request restores the session from storage, so a timer per
      // user in this process would only refresh tokens nobody is using.
      const session = new Session({ storage, keepAlive: false })
      await session.login({
        oidcIssuer,
        redirectUrl: `${url}/callback`,
        clientName,
        handleRedirect: (to) => {
          // Lax, not Strict: the provider sends the browser back here with a cross-site
          // navigation, and /callback needs the cookie to know whose login it finishes.
          res.setHeader('set-cookie', `${COOKIE}=${session.info.sessionId}; Path=/; HttpOnly; SameSite=Lax`)
          redirect(res, to)
        },
      })
    },

    async '/callback'(req, res) {
      const id = sessionIdOf(req)
      if (id === undefined) return page(res, 400, 'No login in progress', '<p><a href="/">Start again</a></p>')
      const session = new Session({ storage, keepAlive: false }, id)
      let info
      try {
        info = await session.handleIncomingRedirect(new URL(req.url, url).href)
      } catch (error) {
        // A refusal (the user said no), a used or unknown state, a code the provider rejects:
        // nothing was stored, and the user can start again.
        if (error.code !== 'ERR_INVALID_REDIRECT' && error.name !== 'OAuthError') throw error
        return page(res, 400, 'The login did not finish', `<p>${escape(error.message)}</p><p><a href="/">Start again</a></p>`)
      }
      // The redirect's state names the login it finishes, whichever browser brings it. Someone
      // else's redirect would log this browser in as them (login CSRF), so refuse it.
      if (info.sessionId !== id) {
        await session.logout()
        return page(res, 400, 'This login was not started in this browser', '<p><a href="/">Start again</a></p>')
      }
      redirect(res, '/')
    },

    async '/resource'(req, res, params) {
      const session = await currentSession(req)
      if (session === undefined) return page(res, 401, 'Not logged in', '<p><a href="/">Log in first</a></p>')
      let target
      try {
        target = new URL(params.get('url') ?? '')
      } catch {
        return page(res, 400, 'Not a URL', '<p><a href="/">Back</a></p>')
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') return page(res, 400, 'Not an http(s) URL', '<p><a href="/">Back</a></p>')
      const response = await session.fetch(target)
      const body = await response.text()
      page(
        res,
        200,
        'Resource',
        `<p>${escape(target.href)}</p>
<p>Status: ${response.status}</p>
${aboutResponse(response)}
<pre>${escape(body)}</pre>
<p><a href="/">Home</a></p>`,
      )
    },

    async '/logout'(req, res, params) {
      res.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`)
      const id = sessionIdOf(req)
      if (id === undefined) return redirect(res, '/')
      if (params.get('idp') === '1') {
        // The provider's logout URL needs the ID token, which only a logged-in session holds.
        const session = await currentSession(req)
        if (session !== undefined) {
          return session.logout({ logoutType: 'idp', handleRedirect: (to) => redirect(res, to) })
        }
      }
      // An app logout needs only the ID: it deletes the stored session and revokes its refresh
      // token, so there is no point restoring (maybe refreshing) the session first.
      await new Session({ storage }, id).logout()
      redirect(res, '/')
    },
  }

  Object.assign(routes, more)

  async function handle(req, res) {
    const { pathname, searchParams } = new URL(req.url, url)
    const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined
    if (req.method !== 'GET' || route === undefined) return page(res, 404, 'Not found', '<p><a href="/">Home</a></p>')
    await route(req, res, searchParams)
  }

  return (req, res) => {
    handle(req, res).catch((error) => {
      console.error(error)
      if (res.headersSent) return res.destroy()
      // A storage that is down (Redis restarting): the request may work again in a moment.
      page(res, error.name === 'StorageError' ? 503 : 500, 'Something went wrong', `<p>${escape(error.message)}</p><p><a href="/">Home</a></p>`)
    })
  }
}

function defaultAboutResponse(response) {
  return `<p>Content-Type: ${escape(response.headers.get('content-type') ?? '')}</p>`
}

function sessionIdOf(req) {
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = pair.trim().split('=')
    if (name === COOKIE && value) return value
  }
  return undefined
}

function redirect(res, location) {
  res.writeHead(302, { location }).end()
}

export function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** `body` is HTML: whatever it holds from outside must already be escaped. */
export function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'",
  })
  res.end(`<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>
${body}
</body></html>
`)
}


// Drives oidc-provider's development login and consent pages (test-servers/op: devInteractions,
// HTML forms at /interaction/:uid) as a browser would, from the authorization URL a client hands
// over to the URL the provider redirects back to, which it returns without fetching. The login
// form takes any value as the account (op-idp.mjs maps it to its WebID).
import { CookieJar } from './authcode-login.mjs'

export async function opLogin(authorizationUrl, { redirectUrl, account = 'alice' }) {
  const jar = new CookieJar()
  let url = authorizationUrl
  for (let step = 0; step < 20; step++) {
    if (url.startsWith(redirectUrl)) return url
    const page = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(url) } })
    jar.store(url, page.headers.getSetCookie())
    if (page.status >= 300 && page.status < 400) {
      url = new URL(page.headers.get('location'), url).href
      continue
    }
    const html = await page.text()
    if (page.status !== 200) throw new Error(`the provider answered ${page.status} at ${url}`)
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1]
    if (action === undefined || prompt === undefined) throw new Error(`no login or consent form at ${url}`)
    const target = new URL(action.replaceAll('&amp;', '&'), url).href
    const form = new URLSearchParams(prompt === 'login' ? { prompt, login: account, password: 'any' } : { prompt })
    const posted = await fetch(target, { method: 'POST', redirect: 'manual', body: form, headers: { cookie: jar.header(target) } })
    jar.store(target, posted.headers.getSetCookie())
    if (posted.status < 300 || posted.status >= 400) throw new Error(`the ${prompt} form answered ${posted.status}`)
    url = new URL(posted.headers.get('location'), target).href
  }
  throw new Error('the login took more than 20 steps')
}

'use strict'
// examples/web-app against a real Community Solid Server: the test is the browser (fetch with
// manual redirects and the app's cookie), and CSS's login and consent pages are driven by
// support/authcode-login.mjs.
const test = require('node:test')
const assert = require('node:assert/strict')
const { startCss } = require('./support/servers.js')
const { LIST_KEY, RECORD_PREFIX, asyncMapStorage } = require('./helpers.js')

// Markup in the resource shows that the app escapes what it did not write.
const PRIVATE_TEXT = '<b>The owl</b> flies at "midnight" & later.\n'
const escaped = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

let css
let app
let storage
let authcodeLogin
test.before(async () => {
  css = await startCss({ privateText: PRIVATE_TEXT })
  ;({ authcodeLogin } = await import('./support/authcode-login.mjs'))
  const { startApp } = await import('../examples/web-app/server.mjs')
  storage = asyncMapStorage()
  app = await startApp({ storage })
})
test.after(async () => {
  await app?.close()
  await css?.stop()
})

/** A browser for the app's origin: follows nothing by itself, keeps the app's cookie. */
function browser() {
  const b = {
    cookie: undefined,
    async get(path) {
      const res = await fetch(new URL(path, app.url), { redirect: 'manual', headers: b.cookie ? { cookie: b.cookie } : {} })
      const setCookie = res.headers.getSetCookie()
      for (const line of setCookie) {
        const pair = line.split(';')[0]
        b.cookie = /;\s*max-age=0/i.test(line) ? undefined : pair
      }
      return { status: res.status, location: res.headers.get('location'), setCookie, text: await res.text() }
    },
  }
  return b
}

/** Starts a login at the app; returns the URL CSS sends the browser back to (not visited yet). */
async function startLogin(b) {
  const res = await b.get(`/login?issuer=${encodeURIComponent(css.issuer)}`)
  assert.equal(res.status, 302)
  assert.ok(res.location.startsWith(css.issuer), res.location)
  // CSS takes pushed authorization requests: the URL names the pushed request (RFC 9126).
  assert.ok(new URL(res.location).searchParams.has('request_uri'), res.location)
  const { redirectUrl } = await authcodeLogin({ authorizationUrl: res.location, email: css.email, password: css.password, webId: css.webId })
  assert.ok(redirectUrl.startsWith(`${app.url}/callback?`), redirectUrl)
  return { redirectUrl, setCookie: res.setCookie }
}

async function logIn(b) {
  const { redirectUrl } = await startLogin(b)
  const back = await b.get(redirectUrl)
  assert.equal(back.status, 302, back.text)
  assert.equal(back.location, '/')
}

const registered = async () => JSON.parse((await storage.get(LIST_KEY)) ?? '[]')

test('a user logs in, reads a private resource twice, and logs out', async () => {
  const b = browser()
  const home = await b.get('/')
  assert.equal(home.status, 200)
  assert.match(home.text, /<form action="\/login">/)

  const { setCookie } = await startLogin(b)
  assert.equal(setCookie.length, 1)
  assert.match(setCookie[0], /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/)
  const id = b.cookie.slice('sid='.length)
  assert.deepEqual(await registered(), [id], 'the session lives in the storage the app was given')

  const back = await b.get(`/callback?code=x&state=y`) // not a real one: CSS's comes next
  assert.equal(back.status, 400, 'a made-up state is refused')
  assert.match(back.text, /<h1>The login did not finish<\/h1>/)
  await logIn(b)
  const loggedIn = await b.get('/')
  assert.match(loggedIn.text, /<h1>Logged in<\/h1>/)
  assert.ok(loggedIn.text.includes(`Your WebID: ${escaped(css.webId)}`), loggedIn.text)

  // Each request restores the session from storage; the second one too.
  for (let i = 0; i < 2; i += 1) {
    const read = await b.get(`/resource?url=${encodeURIComponent(css.privateResource)}`)
    assert.equal(read.status, 200)
    assert.match(read.text, /<p>Status: 200<\/p>/)
    assert.ok(read.text.includes(`<pre>${escaped(PRIVATE_TEXT)}</pre>`), read.text)
    assert.ok(!read.text.includes('<b>The owl</b>'))
  }
  const record = JSON.parse(await storage.get(RECORD_PREFIX + b.cookie.slice('sid='.length)))
  assert.equal(record.webId, css.webId)

  const stolenCookie = b.cookie
  const out = await b.get('/logout')
  assert.equal(out.status, 302)
  assert.equal(out.location, '/')
  assert.match(out.setCookie[0], /^sid=; .*Max-Age=0/)
  assert.equal(b.cookie, undefined)
  assert.deepEqual(await registered(), [])
  assert.match((await b.get('/')).text, /<h1>Not logged in<\/h1>/)
  assert.equal((await b.get(`/resource?url=${encodeURIComponent(css.privateResource)}`)).status, 401)

  // The old cookie is worth nothing now: the session is gone from storage.
  b.cookie = stolenCookie
  const replay = await b.get(`/resource?url=${encodeURIComponent(css.privateResource)}`)
  assert.equal(replay.status, 401)
  assert.match(replay.text, /<h1>Not logged in<\/h1>/)
})

test('an IdP logout sends the browser to the provider with the ID token', async () => {
  const b = browser()
  await logIn(b)
  const out = await b.get('/logout?idp=1')
  assert.equal(out.status, 302)
  const discovery = await (await fetch(`${css.issuer}.well-known/openid-configuration`)).json()
  const to = new URL(out.location)
  assert.equal(`${to.origin}${to.pathname}`, discovery.end_session_endpoint)
  assert.ok(to.searchParams.get('id_token_hint'))
  assert.equal(b.cookie, undefined)
  assert.deepEqual(await registered(), [])
})

test("a redirect from someone else's login is refused (login CSRF)", async () => {
  const attacker = browser()
  const { redirectUrl } = await startLogin(attacker)
  const victim = browser()
  assert.equal((await victim.get(redirectUrl)).status, 400, 'no cookie: no login in progress')
  await victim.get(`/login?issuer=${encodeURIComponent(css.issuer)}`) // the victim's own login, not finished
  const res = await victim.get(redirectUrl)
  assert.equal(res.status, 400)
  assert.match(res.text, /not started in this browser/)
  assert.match((await victim.get('/')).text, /<h1>Not logged in<\/h1>/)
  const attackerId = attacker.cookie.slice('sid='.length)
  assert.ok(!(await registered()).includes(attackerId), "the attacker's session is logged out")
  await victim.get('/logout')
  await attacker.get('/logout')
  assert.deepEqual(await registered(), [])
})

test('the example runs standalone and prints its URL', async () => {
  const { spawn } = require('node:child_process')
  const path = require('node:path')
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'examples', 'web-app', 'server.mjs')], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  try {
    const line = await new Promise((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (chunk) => {
        out += chunk
        if (out.includes('\n')) resolve(out)
      })
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)))
    })
    const url = line.match(/Listening on (http:\/\/localhost:\d+)/)?.[1]
    assert.ok(url, line)
    assert.equal((await fetch(url)).status, 200)
  } finally {
    child.kill()
  }
})

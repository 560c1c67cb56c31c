'use strict'
// The examples in README.md, as a reader copies them: each code block marked with
// `<!-- readme-example: NAME -->` just before its fence is written to a file and run against a
// real Community Solid Server (and, for the Redis storage, a real Redis). The Express app is also
// compiled, unchanged, as TypeScript under --strict. If the README's code stops working, this fails.
//
// The files are written under target/ (inside the repository), so that `solid-client-authn-native`
// resolves to this package by its own name and `express` and `redis` from its node_modules.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { startCss } = require('./support/servers.js')
const { startRedis } = require('./support/redis.js')

const ROOT = path.resolve(__dirname, '..')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** The marked code blocks of the README, by name. */
function examples(markdown) {
  const found = {}
  const marked = /<!-- readme-example: ([\w-]+) -->\n```(\w+)\n([\s\S]*?)\n```\n/g
  for (const [, name, language, code] of markdown.matchAll(marked)) {
    assert.equal(found[name], undefined, `two README examples named ${name}`)
    found[name] = { language, code: `${code}\n` }
  }
  return found
}

const EXAMPLES = examples(README)
const PRIVATE_TEXT = 'Notes nobody else may read.\n'

let css
let dir
let authcodeLogin
test.before(async () => {
  fs.mkdirSync(path.join(ROOT, 'target'), { recursive: true })
  dir = fs.mkdtempSync(path.join(ROOT, 'target', 'readme-examples-'))
  ;({ authcodeLogin } = await import('./support/authcode-login.mjs'))
  css = await startCss({ privateText: PRIVATE_TEXT })
})
test.after(async () => {
  await css?.stop()
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

/** Writes an example to `name` in the scratch directory; its path. */
function write(name, code) {
  const file = path.join(dir, name)
  fs.writeFileSync(file, code)
  return file
}

/** Runs a script to its end; its exit code and output. */
function run(file, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.stderr.on('data', (chunk) => (out += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out })
    })
  })
}

async function freePort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts a server script and waits for its "Listening on URL" line. */
async function startServer(file, env) {
  const child = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stderr.on('data', (chunk) => (out += chunk))
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk
      const match = /Listening on (\S+)/.exec(out)
      if (match) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`the app exited with ${code}:\n${out}`)))
    setTimeout(() => reject(new Error(`the app did not start:\n${out}`)), 30_000).unref()
  })
  return {
    url,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill()
      await exited
    },
  }
}

/** A browser for one origin: follows no redirect by itself, keeps the cookies it is given. */
function browser(origin) {
  const cookies = new Map()
  return {
    cookies,
    async get(pathname) {
      const cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ')
      const res = await fetch(new URL(pathname, origin), { redirect: 'manual', headers: cookie ? { cookie } : {} })
      for (const line of res.headers.getSetCookie()) {
        const [pair, ...attributes] = line.split(';')
        const [name, value] = pair.split('=')
        const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a) || /^\s*max-age=0\s*$/i.test(a))
        if (expired || value === '') cookies.delete(name)
        else cookies.set(name, value)
      }
      return { status: res.status, location: res.headers.get('location'), setCookie: res.headers.getSetCookie(), text: await res.text() }
    },
  }
}

test('the README marks the examples this test runs', () => {
  assert.deepEqual(Object.keys(EXAMPLES).sort(), ['bot', 'express-app', 'redis-storage'])
  for (const { language } of Object.values(EXAMPLES)) assert.equal(language, 'js')
})

test('the Express example compiles as TypeScript under --strict', () => {
  const file = write('express-app.mts', EXAMPLES['express-app'].code)
  const config = write(
    'tsconfig.json',
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2022'],
        types: ['node'],
        skipLibCheck: false,
        // The package's own types, as an installed copy gives them.
        paths: { 'solid-client-authn-native': [path.join(ROOT, 'index.d.ts')] },
      },
      files: [file],
    }),
  )
  const result = spawnSync(process.execPath, [TSC, '-p', config], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  assert.equal(result.status, 0, `tsc --strict:\n${result.stdout}${result.stderr}`)
})

test('the Express example: a user logs in, reads a private resource on two requests, and logs out', async () => {
  const port = await freePort()
  const app = await startServer(write('express-app.mjs', EXAMPLES['express-app'].code), { PORT: String(port) })
  try {
    assert.equal(app.url, `http://localhost:${port}`)
    const b = browser(app.url)
    assert.match((await b.get('/')).text, /^Not logged in/)
    assert.equal((await b.get(`/read?url=${encodeURIComponent(css.privateResource)}`)).status, 401)

    const login = await b.get(`/login?issuer=${encodeURIComponent(css.issuer)}`)
    assert.equal(login.status, 302, login.text)
    assert.ok(login.location.startsWith(css.issuer), login.location)
    assert.ok(new URL(login.location).searchParams.has('request_uri'), 'a pushed request (RFC 9126)')
    assert.match(login.setCookie.join('\n'), /^sid=[^;]+;.*HttpOnly/im)
    const { redirectUrl } = await authcodeLogin({ authorizationUrl: login.location, email: css.email, password: css.password, webId: css.webId })
    assert.ok(redirectUrl.startsWith(`${app.url}/callback?`), redirectUrl)

    const forged = browser(app.url)
    assert.equal((await forged.get(redirectUrl)).status, 400, 'no cookie, no login in progress')

    const back = await b.get(redirectUrl)
    assert.equal(back.status, 302, back.text)
    assert.equal(back.location, '/')
    assert.equal((await b.get(redirectUrl)).status, 400, 'a redirect is used once')
    assert.equal((await b.get('/')).text, `Logged in as ${css.webId}`)

    // Each request restores the session from storage.
    for (let i = 0; i < 2; i += 1) {
      const read = await b.get(`/read?url=${encodeURIComponent(css.privateResource)}`)
      assert.equal(read.status, 200, read.text)
      assert.equal(read.text, PRIVATE_TEXT)
    }

    const sid = b.cookies.get('sid')
    const out = await b.get('/logout')
    assert.equal(out.status, 302)
    assert.equal(b.cookies.get('sid'), undefined, 'the cookie is cleared')
    assert.match((await b.get('/')).text, /^Not logged in/)
    b.cookies.set('sid', sid)
    assert.equal((await b.get(`/read?url=${encodeURIComponent(css.privateResource)}`)).status, 401, 'the old cookie restores nothing')
  } catch (error) {
    error.message += `\n--- the app's output:\n${app.output()}`
    throw error
  } finally {
    await app.stop()
  }
})

test('the Express example refuses a login started in another browser', async () => {
  const port = await freePort()
  const app = await startServer(write('express-app.mjs', EXAMPLES['express-app'].code), { PORT: String(port) })
  try {
    const attacker = browser(app.url)
    const started = await attacker.get(`/login?issuer=${encodeURIComponent(css.issuer)}`)
    const { redirectUrl } = await authcodeLogin({ authorizationUrl: started.location, email: css.email, password: css.password, webId: css.webId })
    const victim = browser(app.url)
    await victim.get(`/login?issuer=${encodeURIComponent(css.issuer)}`)
    const res = await victim.get(redirectUrl)
    assert.equal(res.status, 400)
    assert.match(res.text, /not started in this browser/)
    assert.match((await victim.get('/')).text, /^Not logged in/)
  } finally {
    await app.stop()
  }
})

test('the client-credentials bot logs in, reads a private resource, logs out and exits', async () => {
  const file = write('bot.mjs', EXAMPLES.bot.code)
  const result = await run(file, {
    OIDC_ISSUER: css.issuer,
    CLIENT_ID: css.clientId,
    CLIENT_SECRET: css.clientSecret,
    RESOURCE: css.privateResource,
  })
  assert.equal(result.code, 0, result.out)
  assert.equal(result.out, `logged in as ${css.webId}\n200 ${PRIVATE_TEXT}\n`)
})

test('RedisStorage as the README makes it: sessions stored, restored in another process, and setIfAbsent', async () => {
  const redis = await startRedis()
  try {
    // The README's snippet, then what an app does with it. Each run is a new process.
    const check = `
const { getSessionFromStorage, Session } = await import('solid-client-authn-native')
const [step, issuer, clientId, clientSecret] = process.argv.slice(2)
if (step === 'login') {
  const bot = new Session({ storage }, 'bot')
  await bot.login({ oidcIssuer: issuer, clientId, clientSecret })
  console.log(JSON.stringify({ webId: bot.info.webId, first: await storage.setIfAbsent('k', 'a', 5000), second: await storage.setIfAbsent('k', 'b', 5000), k: await storage.get('k'), missing: (await storage.get('none')) === undefined }))
} else {
  const bot = await getSessionFromStorage('bot', { storage })
  console.log(JSON.stringify({ webId: bot?.info.webId, isLoggedIn: bot?.info.isLoggedIn }))
  await bot?.logout()
}
await storage.close()
`
    const file = write('redis-storage.mjs', EXAMPLES['redis-storage'].code + check)
    const env = { REDIS_URL: redis.url }
    const runStep = async (step) => {
      const result = await new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [file, step, css.issuer, css.clientId, css.clientSecret], {
          cwd: dir,
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let out = ''
        let err = ''
        child.stdout.on('data', (chunk) => (out += chunk))
        child.stderr.on('data', (chunk) => (err += chunk))
        child.once('error', reject)
        child.once('exit', (code) => resolve({ code, out, err }))
      })
      assert.equal(result.code, 0, `${result.out}${result.err}`)
      return JSON.parse(result.out)
    }
    assert.deepEqual(await runStep('login'), { webId: css.webId, first: true, second: false, k: 'a', missing: true })
    assert.deepEqual(await runStep('restore'), { webId: css.webId, isLoggedIn: true })
    assert.deepEqual(await runStep('restore'), {}, 'logged out: nothing to restore')
  } finally {
    await redis.stop()
  }
})

// Type-level consumer of the public API, written against the documented API of
// @inrupt/solid-client-authn-node v5. __test__/types.test.js compiles this file (it is never run)
// against our index.d.ts AND against the reference's types, with the module specifier
// 'solid-client-authn-native' mapped to one or the other: both must compile without errors.
//
// Use only what the reference exports here. Our extras (StorageError, setStorageTimeout, the
// positional getSessionFromStorage form, the names KeyPair/GetSessionOptions...) go in extras.ts,
// which is compiled against ours only.

import { EventEmitter, once } from "node:events";

import * as authn from "solid-client-authn-native";
import {
  ConfigurationError,
  EVENTS,
  InMemoryStorage,
  NotImplementedError,
  Session,
  clearSessionFromStorageAll,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  logout,
  refreshSession,
  refreshTokens,
} from "solid-client-authn-native";
import type {
  AuthorizationRequestState,
  ILoginInputOptions,
  ILogoutOptions,
  ISessionInfo,
  ISessionOptions,
  IStorage,
  SessionTokenSet,
} from "solid-client-authn-native";

// Compile-time assertion helpers: `expectType<T>(value)` fails unless value is assignable to T;
// `Equal` is true only for identical types.
function expectType<T>(value: T): T {
  return value;
}
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertTrue<T extends true>(): void {}

// Names the reference uses in its signatures but does not export: derive them.
type KeyPair = NonNullable<SessionTokenSet["dpopKey"]>;
type GetSessionOptions = NonNullable<Parameters<typeof getSessionFromStorage>[1]>;
type SessionEvents = Session["events"];

// ---------------------------------------------------------------------------------------------
// Every runtime export is there, with the expected kind.
// ---------------------------------------------------------------------------------------------

const runtimeExports = [
  authn.Session,
  authn.EVENTS,
  authn.InMemoryStorage,
  authn.getSessionFromStorage,
  authn.getSessionIdFromStorageAll,
  authn.clearSessionFromStorageAll,
  authn.refreshSession,
  authn.refreshTokens,
  authn.logout,
  authn.ConfigurationError,
  authn.NotImplementedError,
] as const;
expectType<readonly unknown[]>(runtimeExports);

// ---------------------------------------------------------------------------------------------
// EVENTS: exact string-literal values.
// ---------------------------------------------------------------------------------------------

assertTrue<Equal<typeof EVENTS.ERROR, "error">>();
assertTrue<Equal<typeof EVENTS.LOGIN, "login">>();
assertTrue<Equal<typeof EVENTS.LOGOUT, "logout">>();
assertTrue<Equal<typeof EVENTS.NEW_REFRESH_TOKEN, "newRefreshToken">>();
assertTrue<Equal<typeof EVENTS.NEW_TOKENS, "newTokens">>();
assertTrue<Equal<typeof EVENTS.AUTHORIZATION_REQUEST, "authorizationRequest">>();
assertTrue<Equal<typeof EVENTS.SESSION_EXPIRED, "sessionExpired">>();
assertTrue<Equal<typeof EVENTS.SESSION_EXTENDED, "sessionExtended">>();
assertTrue<Equal<typeof EVENTS.SESSION_RESTORED, "sessionRestore">>();
assertTrue<Equal<typeof EVENTS.TIMEOUT_SET, "timeoutSet">>();
type EventName = (typeof EVENTS)[keyof typeof EVENTS];
assertTrue<
  Equal<
    EventName,
    | "error"
    | "login"
    | "logout"
    | "newRefreshToken"
    | "newTokens"
    | "authorizationRequest"
    | "sessionExpired"
    | "sessionExtended"
    | "sessionRestore"
    | "timeoutSet"
  >
>();
const allEventNames: EventName[] = Object.values(EVENTS);

// ---------------------------------------------------------------------------------------------
// Storage: the built-in one, a custom class and a plain object.
// ---------------------------------------------------------------------------------------------

class MapStorage implements IStorage {
  private readonly map = new Map<string, string>();
  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }
  async set(key: string, value: string): Promise<void> {
    this.map.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
}

// A storage over some asynchronous client, written with arrow-function properties.
declare const redis: {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  del(key: string): Promise<number>;
};
const redisStorage: IStorage = {
  get: async (key) => (await redis.get(key)) ?? undefined,
  set: async (key, value) => {
    await redis.set(key, value);
  },
  delete: async (key) => {
    await redis.del(key);
  },
};

const memory = new InMemoryStorage();
const memoryAsStorage: IStorage = memory;
const mapStorage = new MapStorage();

class LoggingStorage extends InMemoryStorage {
  override async set(key: string, value: string): Promise<void> {
    console.log("set", key);
    await super.set(key, value);
  }
}

async function storageUse(storage: IStorage): Promise<void> {
  await storage.set("k", "v");
  const value: string | undefined = await storage.get("k");
  await storage.delete("k");
  const fromMemory: string | undefined = await memory.get("k");
  await new LoggingStorage().set("k", value ?? fromMemory ?? "");
}

// ---------------------------------------------------------------------------------------------
// Session construction, with each option.
// ---------------------------------------------------------------------------------------------

const sessions: Session[] = [
  new Session(),
  new Session({}),
  new Session({}, "my-session-id"),
  new Session(undefined, "my-session-id"),
  new Session({ storage: mapStorage }),
  new Session({ storage: redisStorage }, "redis-session"),
  new Session({ storage: memory, keepAlive: false }),
  new Session({ secureStorage: memory, insecureStorage: mapStorage }),
  new Session({ keepAlive: true }),
  new Session({ sessionInfo: { sessionId: "restored", isLoggedIn: false } }),
  new Session({
    sessionInfo: {
      sessionId: "restored",
      isLoggedIn: true,
      webId: "https://pod.example/profile/card#me",
      clientAppId: "https://app.example/id",
      expirationDate: Date.now() + 3600_000,
    },
  }),
];

const fullOptions: Partial<ISessionOptions> = {
  storage: memory,
  secureStorage: memory,
  insecureStorage: memory,
  keepAlive: false,
  sessionInfo: { sessionId: "abc", isLoggedIn: false },
};
const sessionFromOptions = new Session(fullOptions, "abc");

// A function that builds options, as an app wrapping the constructor would.
function sessionOptionsFor(storage: IStorage, keepAlive = true): Partial<ISessionOptions> {
  return { storage, keepAlive };
}
new Session(sessionOptionsFor(mapStorage));

// ---------------------------------------------------------------------------------------------
// session.info
// ---------------------------------------------------------------------------------------------

const session = new Session({ storage: mapStorage });
const info: ISessionInfo = session.info;
const sessionId: string = session.info.sessionId;
const loggedIn: boolean = session.info.isLoggedIn;
const webId: string | undefined = session.info.webId;
const clientAppId: string | undefined = session.info.clientAppId;
const expires: number | undefined = session.info.expirationDate;
// The object is mutable (the library updates it in place); only the property itself is readonly.
session.info.isLoggedIn = false;
const { sessionId: destructuredId, isLoggedIn } = session.info;

// ---------------------------------------------------------------------------------------------
// Methods are properties: destructuring keeps them usable.
// ---------------------------------------------------------------------------------------------

const { login, fetch: authFetch, logout: sessionLogout, handleIncomingRedirect } = session;
expectType<(options?: ILoginInputOptions) => Promise<void>>(login);
expectType<typeof fetch>(authFetch);
expectType<(options?: ILogoutOptions) => Promise<void>>(sessionLogout);
expectType<(url: string) => Promise<ISessionInfo | undefined>>(handleIncomingRedirect);
assertTrue<Equal<Session["fetch"], typeof fetch>>();
assertTrue<Equal<Parameters<Session["login"]>, [options?: ILoginInputOptions]>>();
assertTrue<Equal<ReturnType<Session["handleIncomingRedirect"]>, Promise<ISessionInfo | undefined>>>();

// Express-like request/response stand-ins.
declare const req: { protocol: string; originalUrl: string; get(name: string): string | undefined };
declare const res: { redirect(url: string): void; send(body: string): void };

async function loginFlows(): Promise<void> {
  // Authorization code flow with a Solid-OIDC Client ID document.
  const authCode: ILoginInputOptions = {
    oidcIssuer: "https://login.example",
    redirectUrl: "https://app.example/callback",
    clientId: "https://app.example/id",
    clientName: "My app",
    tokenType: "DPoP",
    customScopes: ["profile", "email"],
    handleRedirect: (url) => res.redirect(url),
  };
  await login(authCode);

  // Client credentials.
  await session.login({
    oidcIssuer: "https://login.example",
    clientId: "static-client",
    clientSecret: "s3cret",
    tokenType: "Bearer",
  });

  // Refresh token.
  await session.login({
    oidcIssuer: "https://login.example",
    clientId: "https://app.example/id",
    refreshToken: "rt",
  });

  // handleRedirect may return anything (e.g. a promise); the library ignores it.
  await session.login({
    oidcIssuer: "https://login.example",
    handleRedirect: async (url: string) => url.length,
  });
  await session.login();
  await session.login({});

  // Finishing the login on the callback route.
  const callbackUrl = `${req.protocol}://${req.get("host")}${req.originalUrl}`;
  const redirectInfo = await handleIncomingRedirect(callbackUrl);
  if (redirectInfo?.isLoggedIn) {
    const who: string | undefined = redirectInfo.webId;
    res.send(`Logged in as ${who} in session ${redirectInfo.sessionId}`);
  }
  const maybeInfo: ISessionInfo | undefined = await session.handleIncomingRedirect(new URL(callbackUrl).href);
}

async function fetching(): Promise<void> {
  const response: Response = await session.fetch("https://pod.example/private/data.ttl");
  const text: string = await response.text();
  await authFetch(new URL("https://pod.example/private/"), {
    method: "PUT",
    headers: { "Content-Type": "text/turtle" },
    body: text,
  });
  const request = new Request("https://pod.example/x", { method: "DELETE" });
  await session.fetch(request);
  // Handing session.fetch to a library that takes a fetch function.
  const takesFetch = (f: typeof fetch): typeof fetch => f;
  takesFetch(session.fetch);
  // Replacing it (e.g. for instrumentation) is allowed, as in the reference.
  const original = session.fetch;
  session.fetch = async (input, init) => {
    console.log("fetching", input);
    return original(input, init);
  };
}

async function loggingOut(): Promise<void> {
  await session.logout();
  await sessionLogout({ logoutType: "app" });
  await session.logout({ logoutType: "idp" });
  await session.logout({
    logoutType: "idp",
    postLogoutUrl: "https://app.example/bye",
    state: "opaque",
    handleRedirect: (url) => res.redirect(url),
  });
  const options: ILogoutOptions =
    Math.random() > 0.5 ? { logoutType: "app" } : { logoutType: "idp", handleRedirect: (url: string) => res.redirect(url) };
  await session.logout(options);
  if (options.logoutType === "idp") {
    const post: string | undefined = options.postLogoutUrl;
  }
}

// ---------------------------------------------------------------------------------------------
// Events: every event, every subscription method, typed listeners.
// ---------------------------------------------------------------------------------------------

const tokenStore = new Map<string, SessionTokenSet>();
const stateStore = new Map<string, AuthorizationRequestState>();

function subscribe(s: Session): void {
  s.events.on(EVENTS.LOGIN, () => console.log("login", s.info.webId));
  s.events.on("login", () => undefined);
  s.events.on(EVENTS.LOGOUT, () => console.log("logout"));
  s.events.on(EVENTS.SESSION_EXPIRED, () => console.log("expired"));
  s.events.on(EVENTS.SESSION_RESTORED, (currentUrl) => expectType<string>(currentUrl));
  s.events.on(EVENTS.ERROR, (error, errorDescription) => {
    expectType<string | null>(error);
    expectType<string | Error | null | undefined>(errorDescription);
  });
  s.events.on(EVENTS.SESSION_EXTENDED, (expiresIn) => expectType<number>(expiresIn));
  s.events.on(EVENTS.TIMEOUT_SET, (timeoutId) => expectType<number>(timeoutId));
  s.events.on(EVENTS.NEW_REFRESH_TOKEN, (newToken) => expectType<string>(newToken));
  s.events.on(EVENTS.NEW_TOKENS, (tokenSet) => {
    expectType<SessionTokenSet>(tokenSet);
    tokenStore.set(s.info.sessionId, tokenSet);
    const rt: string | undefined = tokenSet.refreshToken;
  });
  s.events.on(EVENTS.AUTHORIZATION_REQUEST, (state) => {
    expectType<AuthorizationRequestState>(state);
    stateStore.set(state.state, state);
  });

  // Listeners declared separately, then added and removed with each method.
  const onLogin = (): void => undefined;
  const onTokens = (tokens: SessionTokenSet): void => {
    tokenStore.set(tokens.clientId, tokens);
  };
  const onState = (state: AuthorizationRequestState): void => {
    stateStore.set(state.state, state);
  };
  const onError = (error: string | null, description?: string | Error | null): void => {
    console.error(error, description);
  };
  const onExtended = (expiresIn: number): void => undefined;
  const onRefreshToken = (token: string): void => undefined;

  s.events
    .addListener(EVENTS.LOGIN, onLogin)
    .addListener(EVENTS.NEW_TOKENS, onTokens)
    .addListener(EVENTS.AUTHORIZATION_REQUEST, onState)
    .addListener(EVENTS.ERROR, onError)
    .addListener(EVENTS.SESSION_EXTENDED, onExtended)
    .addListener(EVENTS.NEW_REFRESH_TOKEN, onRefreshToken)
    .addListener(EVENTS.LOGOUT, onLogin)
    .addListener(EVENTS.SESSION_EXPIRED, onLogin)
    .addListener(EVENTS.SESSION_RESTORED, (url: string) => url)
    .addListener(EVENTS.TIMEOUT_SET, (id: number) => id);

  s.events.once(EVENTS.LOGIN, onLogin);
  s.events.once(EVENTS.LOGOUT, () => undefined);
  s.events.once(EVENTS.NEW_TOKENS, onTokens);
  s.events.once(EVENTS.AUTHORIZATION_REQUEST, onState);
  s.events.once(EVENTS.ERROR, onError);
  s.events.once(EVENTS.SESSION_EXPIRED, onLogin);
  s.events.once(EVENTS.SESSION_EXTENDED, onExtended);
  s.events.once(EVENTS.SESSION_RESTORED, (url) => url.length);
  s.events.once(EVENTS.TIMEOUT_SET, (id) => id + 1);
  s.events.once(EVENTS.NEW_REFRESH_TOKEN, onRefreshToken);

  s.events.off(EVENTS.LOGIN, onLogin);
  s.events.off(EVENTS.NEW_TOKENS, onTokens);
  s.events.off(EVENTS.AUTHORIZATION_REQUEST, onState);
  s.events.off(EVENTS.ERROR, onError);
  s.events.off(EVENTS.SESSION_EXTENDED, onExtended);
  s.events.off(EVENTS.NEW_REFRESH_TOKEN, onRefreshToken);
  s.events.removeListener(EVENTS.LOGOUT, onLogin);
  s.events.removeListener(EVENTS.SESSION_EXPIRED, onLogin);
  s.events.removeListener(EVENTS.NEW_TOKENS, onTokens);
  s.events.removeListener(EVENTS.AUTHORIZATION_REQUEST, onState);
  s.events.removeListener(EVENTS.ERROR, onError);

  // The rest of the EventEmitter API is inherited.
  const count: number = s.events.listenerCount(EVENTS.LOGIN);
  const listeners: Function[] = s.events.listeners(EVENTS.NEW_TOKENS);
  s.events.removeAllListeners(EVENTS.LOGOUT);
  s.events.removeAllListeners();
  s.events.setMaxListeners(20);
  const names: (string | symbol)[] = s.events.eventNames();
}

async function eventsAsEventEmitter(s: Session): Promise<void> {
  // session.events is usable wherever a Node EventEmitter is expected.
  const emitter: EventEmitter = s.events;
  const nodeEmitter: NodeJS.EventEmitter = s.events;
  const events: SessionEvents = s.events;
  await once(s.events, EVENTS.LOGIN);
  const [tokens] = await once(s.events, EVENTS.NEW_TOKENS);
  const loginPromise: Promise<void> = new Promise((resolve) => s.events.once(EVENTS.LOGIN, resolve));
  await loginPromise;
  for (const name of allEventNames) {
    emitter.listenerCount(name);
  }
}

// ---------------------------------------------------------------------------------------------
// Token sets and authorization request state.
// ---------------------------------------------------------------------------------------------

async function tokenSets(): Promise<void> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const publicJwk = await crypto.subtle.exportKey("jwk", keys.publicKey);
  const dpopKey: KeyPair = { privateKey: keys.privateKey, publicKey: { ...publicJwk, alg: "ES256" } };

  const minimal: SessionTokenSet = { issuer: "https://login.example", clientId: "https://app.example/id" };
  const full: SessionTokenSet = {
    accessToken: "at",
    idToken: "id",
    webId: "https://pod.example/profile/card#me",
    refreshToken: "rt",
    expiresAt: Math.floor(Date.now() / 1000) + 300,
    dpopKey,
    issuer: "https://login.example",
    clientId: "https://app.example/id",
  };
  const bearer: SessionTokenSet = { ...full, dpopKey: undefined };
  // Persisting: the private CryptoKey does not survive JSON, so the key is exported apart.
  const { dpopKey: key, ...serializable } = full;
  const persisted = JSON.stringify({ ...serializable, jwk: key && (await crypto.subtle.exportKey("jwk", key.privateKey)) });
  const restored: SessionTokenSet = { ...(JSON.parse(persisted) as Omit<SessionTokenSet, "dpopKey">), dpopKey: key };

  const fromTokens: Session = await Session.fromTokens(full, "session-from-tokens");
  const anonymous: Session = await Session.fromTokens(minimal);
  await fromTokens.fetch("https://pod.example/private");

  const refreshed: SessionTokenSet = await refreshTokens(full);
  const again = await Session.fromTokens(await refreshTokens(refreshed), fromTokens.info.sessionId);
  const refreshedPublicKey = refreshed.dpopKey?.publicKey;
  const algorithm: string | undefined = refreshedPublicKey?.alg;

  await logout(full, (url) => res.redirect(url));
  await logout(full, (url: string) => res.redirect(url), "https://app.example/bye");
  await logout(restored, (url) => {
    console.log(url);
  });

  const state: AuthorizationRequestState = {
    codeVerifier: "verifier",
    state: "state",
    issuer: "https://login.example",
    redirectUrl: "https://app.example/callback",
    dpopBound: true,
    clientId: "https://app.example/id",
  };
  const stored: AuthorizationRequestState = JSON.parse(JSON.stringify(state));
  const resumed: Session = await Session.fromAuthorizationRequestState(stored, "resumed-session");
  await Session.fromAuthorizationRequestState(state);
  const resumedInfo = await resumed.handleIncomingRedirect(`https://app.example/callback?code=c&state=${state.state}`);
  resumed.events.on(EVENTS.NEW_TOKENS, (tokens) => tokenStore.set(resumed.info.sessionId, tokens));
}

// ---------------------------------------------------------------------------------------------
// Sessions in storage.
// ---------------------------------------------------------------------------------------------

async function storedSessions(): Promise<void> {
  const s1: Session | undefined = await getSessionFromStorage("id");
  const s2 = await getSessionFromStorage("id", { storage: mapStorage });
  const s3 = await getSessionFromStorage("id", {
    storage: redisStorage,
    onNewRefreshToken: (newToken) => {
      expectType<string>(newToken);
    },
    refreshSession: false,
  });
  const s4 = await getSessionFromStorage("id", {});
  const s5 = await getSessionFromStorage("id", undefined);
  const s6 = await getSessionFromStorage("id", { refreshSession: true });
  const options: GetSessionOptions = { storage: memory, onNewRefreshToken: async (token: string) => token };
  const s7 = await getSessionFromStorage("id", options);
  if (s2 !== undefined) {
    await s2.fetch("https://pod.example/");
    await refreshSession(s2);
    await refreshSession(s2, { storage: mapStorage });
    await refreshSession(s2, {});
  }

  const ids: string[] = await getSessionIdFromStorageAll();
  const idsInStorage: string[] = await getSessionIdFromStorageAll(mapStorage);
  const loaded = await Promise.all(idsInStorage.map((id) => getSessionFromStorage(id, { storage: mapStorage })));
  const live: Session[] = loaded.filter((s): s is Session => s !== undefined);

  await clearSessionFromStorageAll();
  await clearSessionFromStorageAll(mapStorage);
  const nothing: void = await clearSessionFromStorageAll(redisStorage);
}

// ---------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------

async function errors(): Promise<void> {
  try {
    await session.login({});
  } catch (error) {
    if (error instanceof ConfigurationError) {
      const message: string = error.message;
      const asError: Error = error;
    } else if (error instanceof NotImplementedError) {
      console.warn(error.message, error.stack);
    } else {
      throw error;
    }
  }
  const configurationError: Error = new ConfigurationError("missing issuer");
  const notImplemented: Error = new NotImplementedError("someMethod");
  const rejected: Promise<never> = Promise.reject(new NotImplementedError("other"));
  rejected.catch((e: unknown) => e instanceof NotImplementedError);
}

export {
  allEventNames,
  clientAppId,
  destructuredId,
  errors,
  eventsAsEventEmitter,
  expires,
  fetching,
  info,
  isLoggedIn,
  loggedIn,
  loggingOut,
  loginFlows,
  memoryAsStorage,
  sessionFromOptions,
  sessionId,
  sessions,
  storageUse,
  storedSessions,
  subscribe,
  tokenSets,
  webId,
};

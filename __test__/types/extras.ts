// Type-level consumer of what solid-client-authn-native offers beyond the documented API of
// @inrupt/solid-client-authn-node v5. __test__/types.test.js compiles it (it is never run) against
// our index.d.ts only: the reference does not have these, so it is not compiled against it.

import { EventEmitter } from "node:events";

import {
  EVENTS,
  InMemoryStorage,
  NotImplementedError,
  RedisStorage,
  Session,
  StorageCorruptedError,
  StorageError,
  getSessionFromStorage,
  getSessionIdFromStorageAll,
  setStorageTimeout,
} from "solid-client-authn-native";
import type {
  AuthorizationRequestState,
  RedisStorageOptions,
  IHandleIncomingRedirectOptions,
  ISessionInfo,
  GetSessionOptions,
  IAppLogoutOptions,
  ILogoutOptions,
  IRpLogoutOptions,
  ISessionEventListener,
  IStorage,
  JWK,
  KeyPair,
  SessionTokenSet,
} from "solid-client-authn-native";

function expectType<T>(value: T): T {
  return value;
}
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertTrue<T extends true>(): void {}

const storage: IStorage = new InMemoryStorage();

// ---------------------------------------------------------------------------------------------
// Storage errors and the storage timeout.
// ---------------------------------------------------------------------------------------------

setStorageTimeout(5_000);
setStorageTimeout(250.5);
assertTrue<Equal<ReturnType<typeof setStorageTimeout>, void>>();

async function storageErrors(): Promise<void> {
  try {
    await getSessionIdFromStorageAll(storage);
  } catch (error) {
    if (error instanceof StorageError) {
      const code: "ERR_STORAGE_FAILED" | "ERR_STORAGE_TIMEOUT" | "ERR_STORAGE_LOCK_TIMEOUT" = error.code;
      const key: string | undefined = error.key;
      switch (error.code) {
        case "ERR_STORAGE_FAILED":
          console.error("storage failed", error.message, error.cause);
          break;
        case "ERR_STORAGE_TIMEOUT":
          console.error("storage too slow", error.message);
          break;
        case "ERR_STORAGE_LOCK_TIMEOUT":
          console.error("another operation held a key too long", error.key);
          break;
        default: {
          const unreachable: never = error.code;
        }
      }
    } else if (error instanceof StorageCorruptedError) {
      const code: "ERR_STORAGE_CORRUPTED" = error.code;
      const key: string | undefined = error.key;
      console.error(error.message, key);
    } else if (error instanceof NotImplementedError) {
      console.warn(error.message);
    }
  }
  const failed: Error = new StorageError("get failed", "ERR_STORAGE_FAILED", { cause: new Error("ECONNRESET") });
  const timedOut = new StorageError("no answer", "ERR_STORAGE_TIMEOUT");
  const lockTimedOut = new StorageError("locked", "ERR_STORAGE_LOCK_TIMEOUT");
  assertTrue<Equal<StorageError["code"], "ERR_STORAGE_FAILED" | "ERR_STORAGE_TIMEOUT" | "ERR_STORAGE_LOCK_TIMEOUT">>();
  const corrupted: Error = new StorageCorruptedError("bad JSON under solidClientAuthn:registeredSessions");
  assertTrue<Equal<StorageCorruptedError["code"], "ERR_STORAGE_CORRUPTED">>();
}

// ---------------------------------------------------------------------------------------------
// getSessionFromStorage: the original positional form (removed from the reference in v4) and
// the `refresh` alias of `refreshSession`.
// ---------------------------------------------------------------------------------------------

async function positional(): Promise<void> {
  const s1: Session | undefined = await getSessionFromStorage("id", storage);
  const s2 = await getSessionFromStorage("id", storage, (newToken) => expectType<string>(newToken));
  const s3 = await getSessionFromStorage("id", new InMemoryStorage(), undefined, false);
  const s4 = await getSessionFromStorage("id", undefined, async (token: string) => token, true);
  const s5 = await getSessionFromStorage("id", { refresh: false });
  const s6 = await getSessionFromStorage("id", { storage, refreshSession: false, refresh: true });
  const options: GetSessionOptions = { storage, onNewRefreshToken: (t) => t.length, refresh: false };
  const s7 = await getSessionFromStorage("id", options);
  assertTrue<Equal<GetSessionOptions["refresh"], boolean | undefined>>();
  assertTrue<Equal<GetSessionOptions["refreshSession"], boolean | undefined>>();
  // The options overload comes last, so utility types see it, as with the reference.
  assertTrue<Equal<NonNullable<Parameters<typeof getSessionFromStorage>[1]>, GetSessionOptions>>();
}

// ---------------------------------------------------------------------------------------------
// Type names the reference uses but does not export from its node package.
// ---------------------------------------------------------------------------------------------

async function namedTypes(session: Session): Promise<void> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const jwk: JWK = await crypto.subtle.exportKey("jwk", keys.publicKey);
  const pair: KeyPair = { privateKey: keys.privateKey, publicKey: { ...jwk, alg: "ES256" } };
  // The JWK can go back to Web Crypto.
  await crypto.subtle.importKey("jwk", pair.publicKey, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  assertTrue<Equal<NonNullable<SessionTokenSet["dpopKey"]>, KeyPair>>();

  const events: ISessionEventListener = session.events;
  const asEmitter: EventEmitter = events;
  events.on(EVENTS.NEW_TOKENS, (tokens) => expectType<SessionTokenSet>(tokens));

  const app: IAppLogoutOptions = { logoutType: "app" };
  const idp: IRpLogoutOptions = { logoutType: "idp", postLogoutUrl: "https://app.example/", state: undefined };
  const either: ILogoutOptions[] = [app, idp];
  await session.logout(app);
  await session.logout(idp);
}

// ---------------------------------------------------------------------------------------------
// Authorization-code additions: a mandatory `iss`, and static clients finished elsewhere.
// ---------------------------------------------------------------------------------------------

async function authorizationCodeExtras(session: Session, state: AuthorizationRequestState): Promise<void> {
  const options: IHandleIncomingRedirectOptions = { requireIssuerParameter: true };
  const info = await session.handleIncomingRedirect("https://app.example/cb?code=c&state=s", options);
  expectType<ISessionInfo | undefined>(info);
  const resumed = await Session.fromAuthorizationRequestState({ ...state, clientSecret: "app-secret" }, "s-1");
  expectType<Session>(resumed);
}

// ---------------------------------------------------------------------------------------------
// RedisStorage: an IStorage with setIfAbsent and close.
// ---------------------------------------------------------------------------------------------

async function redisStorage(): Promise<void> {
  const options: RedisStorageOptions = { url: "redis://localhost:6379", keyPrefix: "app:", commandTimeoutMs: 500 };
  const redis = new RedisStorage(options);
  const asStorage: IStorage = redis;
  expectType<boolean>(await redis.setIfAbsent("k", "v", 1000));
  expectType<string | undefined>(await redis.get("k"));
  await getSessionFromStorage("id", { storage: redis });
  await redis.close();
  void asStorage;
  void new RedisStorage({ url: new URL("rediss://redis.example:6380") });
  const cluster: RedisStorageOptions = { cluster: ["redis://10.0.0.1:6379", new URL("redis://10.0.0.2:6379")], connectTimeoutMs: 500 };
  void new RedisStorage(cluster);
  void new RedisStorage({ cluster: "redis://10.0.0.1:6379", keyPrefix: "app:" });
  const sentinel: RedisStorageOptions = {
    sentinel: { nodes: ["redis://:sentinel-pw@10.0.0.1:26379", new URL("rediss://10.0.0.2:26379")], masterName: "mymaster", password: "pw" },
    commandTimeoutMs: 5000,
  };
  void new RedisStorage(sentinel);
  void new RedisStorage({ sentinel: { nodes: ["redis://10.0.0.1:26379"], masterName: "mymaster", username: "app", db: 2 }, keyPrefix: "app:" });
}

export { authorizationCodeExtras, redisStorage, namedTypes, positional, storageErrors };

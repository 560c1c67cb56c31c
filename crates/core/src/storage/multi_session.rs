//! The storage side of the multi-session API: load one session, forget one, clear them all, and
//! store what a login gave so that a clear running meanwhile cannot leave it outside the list.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::Result;
use crate::join::join_all;
use crate::session::stored::StoredSession;
use crate::session::{field, SessionRecord};
use crate::storage::lease;
use crate::storage::registry::{self, ListedId};
use crate::storage::{record_key, Storage, REGISTERED_SESSIONS_KEY, USER_RECORD_PREFIX};

/// Reads a session record; `None` when nothing is stored under its key.
pub async fn read_record(storage: &dyn Storage, id: &str) -> Result<Option<SessionRecord>> {
    SessionRecord::read(storage, &record_key(id)).await
}

/// The stored session `id`, or `None` when it is unknown (or has no issuer, as the reference
/// has it). One storage read (none from the native store, when the record has not changed since
/// the last one: `Storage::stored_session`).
pub async fn load_session(
    storage: &dyn Storage,
    id: &str,
) -> Result<Option<std::sync::Arc<StoredSession>>> {
    storage.stored_session(id, &record_key(id)).await
}

/// The state-mapping keys a record lists. A corrupted list is ignored: the caller is deleting
/// the record anyway.
fn tracked_state_keys(record: &SessionRecord) -> Vec<String> {
    record
        .authorization_states()
        .iter()
        .map(|s| record_key(s))
        .collect()
}

/// Whether a state-mapping record points at one of `ids`.
fn maps_to_one_of(raw: &str, ids: &HashSet<&str>) -> bool {
    // Session records are the bulk of what a scan meets; skip them without parsing.
    if !raw.contains(&format!("\"{}\"", field::SESSION_ID)) {
        return false;
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(fields)) => {
            fields.len() == 1
                && matches!(fields.get(field::SESSION_ID), Some(Value::String(id)) if ids.contains(id.as_str()))
        }
        _ => false,
    }
}

/// The keys of state-mapping records that point at `ids`, found by listing the store's keys
/// when it can list them (the native store can; this finds records the reference wrote).
async fn scanned_state_keys(storage: &dyn Storage, ids: &HashSet<&str>) -> Result<Vec<String>> {
    let Some(keys) = storage.keys_with_prefix(USER_RECORD_PREFIX) else {
        return Ok(Vec::new());
    };
    let candidates: Vec<String> = keys
        .into_iter()
        .filter(|k| !ids.contains(&k[USER_RECORD_PREFIX.len()..]))
        .collect();
    let values = join_all(candidates.iter().map(|k| storage.get(k))).await;
    let mut found = Vec::new();
    for (key, value) in candidates.into_iter().zip(values) {
        if let Some(raw) = value? {
            if maps_to_one_of(&raw, ids) {
                found.push(key);
            }
        }
    }
    Ok(found)
}

/// Deletes the records of `ids` and the state mappings they list. With `scan`, also the state
/// mappings found by listing the store's keys: a whole-store pass, worth it when clearing
/// everything, not when one session logs out.
/// Returns the records as they were (`None` for one absent or corrupted), in the order of `ids`.
async fn delete_sessions(
    storage: &dyn Storage,
    ids: &[String],
    scan: bool,
) -> Result<Vec<Option<SessionRecord>>> {
    let record_keys: Vec<String> = ids.iter().map(|id| record_key(id)).collect();
    // A login or refresh of one of them in this process that read its record writes it back
    // before the record is deleted, not after (which would leave it outside the list).
    let mut held = Vec::with_capacity(record_keys.len());
    for key in &record_keys {
        held.push(storage.locks().lock(key).await?);
    }
    // A refreshed record waiting to be written must not bring a session back.
    if let Some(unsaved) = storage.unsaved() {
        for key in &record_keys {
            unsaved.forget(key);
        }
    }
    let read = join_all(ids.iter().map(|id| read_record(storage, id))).await;
    let mut doomed = record_keys.clone();
    let mut records = Vec::with_capacity(read.len());
    for record in read {
        match record {
            Ok(Some(record)) => {
                doomed.extend(tracked_state_keys(&record));
                records.push(Some(record));
            }
            // A corrupted record is deleted like any other: clearing is how one gets rid of it.
            Ok(None) | Err(crate::error::Error::CorruptedData { .. }) => records.push(None),
            Err(other) => return Err(other),
        }
    }
    if scan {
        let id_set: HashSet<&str> = ids.iter().map(String::as_str).collect();
        doomed.extend(scanned_state_keys(storage, &id_set).await?);
    }
    doomed.sort_unstable();
    doomed.dedup();
    for result in join_all(doomed.iter().map(|k| storage.delete(k))).await {
        result?;
    }
    // Logged out or cleared: their keys need not stay loaded in this process.
    for record in records.iter().flatten() {
        record.forget_dpop_key();
    }
    Ok(records)
}

/// Reads a session record, lets `change` update it, and writes it back, holding the record's
/// key lock throughout. Fields `change` does not touch keep their values and positions.
pub async fn update_record(
    storage: &dyn Storage,
    id: &str,
    change: impl FnOnce(&mut SessionRecord),
) -> Result<()> {
    let key = record_key(id);
    let _guard = storage.locks().lock(&key).await?;
    let mut record = SessionRecord::read(storage, &key)
        .await?
        .unwrap_or_else(|| SessionRecord::empty(&key));
    change(&mut record);
    record.write(storage).await
}

/// What the reference stores for a client with a static id and secret (§6.5): registered in the
/// session list, and described in the session record.
pub async fn remember_static_client(
    storage: &dyn Storage,
    id: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<()> {
    registry::register(storage, id).await?;
    update_record(storage, id, |record| {
        record.store_static_client(client_id, client_secret);
    })
    .await
}

/// Removes one session from storage, as logging out does: its record, the state mappings it
/// lists and its entry in the registered list.
/// Returns the record as it was, for a caller with more to do (revoking its refresh token).
pub async fn forget_session(storage: &dyn Storage, id: &str) -> Result<Option<SessionRecord>> {
    // A login of this same session running meanwhile may write its record between the delete
    // and the list's update, and end unlisted; holding the list's lock across both would order
    // them, at the cost of every logout waiting on every other's deletes. A logout and a login
    // of one session at once is the app's own race; clears and logins are ordered.
    let key = record_key(id);
    let mut records = {
        // Taken before the lease: a restore in this process holds the record's lock while it
        // waits on the lease, so the other order could wait on itself.
        let _guard = storage.locks().lock(&key).await?;
        // A refresh in flight in another process would write the record back after the delete,
        // unlisted, with a refresh token nobody revokes: it ends first, and none begins.
        let lease = if storage.is_shared() {
            lease::exclude_refreshes(storage, id).await?
        } else {
            None
        };
        let deleted = delete_sessions(storage, std::slice::from_ref(&id.to_owned()), false).await;
        if let Some(lease) = lease {
            lease::release(storage, lease).await;
        }
        deleted?
    };
    // After the record's lock is let go: a clear holds the list's lock while it waits for the
    // records'.
    registry::unregister(storage, id).await?;
    Ok(records.pop().flatten())
}

/// Removes every registered session and leaves the list empty (`"[]"`, as the reference does),
/// but for sessions another process registered meanwhile when the storage has `setIfAbsent`.
/// The deletes go out together.
///
/// A login that runs meanwhile ends listed, or leaves no record: logins confirm their entry in
/// the list after writing their record (`registry::confirm_registered`), ordered with this clear
/// by the list's lock in this process, and with `setIfAbsent` by the list lease, held from the
/// first read of the list to its rewrite.
pub async fn clear_all_sessions(storage: &dyn Storage) -> Result<()> {
    let _guard = storage.locks().lock(REGISTERED_SESSIONS_KEY).await?;
    registry::under_list_lease(storage, async |leased| {
        let Some(raw) = storage.get(REGISTERED_SESSIONS_KEY).await? else {
            return Ok(());
        };
        let listed = registry::parse_ids(&raw)?;
        let mut ids = Vec::new();
        let mut unpaired = Vec::new();
        for entry in &listed {
            match entry {
                ListedId::Id(id) => ids.push(id.clone()),
                ListedId::Unpaired(literal) => unpaired.push(literal.clone()),
            }
        }
        delete_sessions(storage, &ids, true).await?;
        // The records of IDs a Rust string cannot hold are deleted by their JSON-escaped keys.
        // Their state mappings are left alone: reading the record would need the same escape.
        let escaped_keys = unpaired.iter().map(|literal| escaped_record_key(literal));
        for result in
            join_all(escaped_keys.map(|k| async move { storage.delete_escaped(&k).await })).await
        {
            result?;
        }
        registry::remove_cleared(storage, &listed, leased).await
    })
    .await
}

/// Writes what a login gave into the session record (`change`), then makes sure the session is
/// listed: a clear that ran while the login did must not leave a logged-in record that no list
/// names, and that no later clear would find.
pub async fn store_login(
    storage: &dyn Storage,
    id: &str,
    change: impl FnOnce(&mut SessionRecord),
) -> Result<()> {
    update_record(storage, id, change).await?;
    registry::confirm_registered(storage, id).await
}

/// The record key of an ID given as a JSON string literal, as a JSON string literal.
fn escaped_record_key(id_literal: &str) -> String {
    // The prefix has nothing JSON escapes.
    format!(
        "\"{USER_RECORD_PREFIX}{}",
        id_literal.strip_prefix('"').unwrap_or(id_literal)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::drive::{Driven, WakeSignal};
    use crate::host::{HostQueue, HostStorage};
    use crate::storage::{KeyLocks, MemoryStorage};
    use crate::tests::support::{block_on, drive_with_map};
    use std::collections::HashMap;
    use std::rc::Rc;
    use std::sync::Arc;

    fn seeded() -> MemoryStorage {
        let s = MemoryStorage::new();
        s.set_now(REGISTERED_SESSIONS_KEY, r#"["s-1","s-2"]"#);
        s.set_now(
            "solidClientAuthenticationUser:s-1",
            r#"{"clientId":"app-7","clientType":"static","clientSecret":"sec"}"#,
        );
        s.set_now(
            "solidClientAuthenticationUser:s-2",
            r#"{"issuer":"https://idp/","refreshToken":"rt","webId":"https://w","authorizationStates":"[\"st-b\"]"}"#,
        );
        s.set_now(
            "solidClientAuthenticationUser:st-a",
            r#"{"sessionId":"s-2"}"#,
        );
        s.set_now(
            "solidClientAuthenticationUser:st-b",
            r#"{"sessionId":"s-2"}"#,
        );
        s.set_now(
            "solidClientAuthenticationUser:st-other",
            r#"{"sessionId":"s-9"}"#,
        );
        s.set_now("issuerConfig:https://idp/", "{}");
        s
    }

    #[test]
    fn loads_known_sessions_only() {
        let s = seeded();
        block_on(async {
            assert_eq!(load_session(&s, "s-1").await.unwrap(), None, "no issuer");
            assert_eq!(load_session(&s, "nope").await.unwrap(), None);
            let loaded = load_session(&s, "s-2").await.unwrap().unwrap();
            assert_eq!(loaded.web_id.as_deref(), Some("https://w"));
        });
    }

    #[test]
    fn clear_all_removes_sessions_and_their_state_mappings() {
        let s = seeded();
        block_on(clear_all_sessions(&s)).unwrap();
        let mut keys = s.keys_with_prefix("").unwrap();
        keys.sort();
        assert_eq!(
            keys,
            [
                "issuerConfig:https://idp/",
                "solidClientAuthenticationUser:st-other",
                "solidClientAuthn:registeredSessions"
            ]
        );
        assert_eq!(s.get_now(REGISTERED_SESSIONS_KEY).as_deref(), Some("[]"));
    }

    #[test]
    fn clear_all_without_a_list_does_nothing() {
        let s = MemoryStorage::new();
        s.set_now("solidClientAuthenticationUser:x", "{}");
        block_on(clear_all_sessions(&s)).unwrap();
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn clear_all_deletes_corrupted_records_but_rejects_a_corrupted_list() {
        let s = MemoryStorage::new();
        s.set_now(REGISTERED_SESSIONS_KEY, r#"["a"]"#);
        s.set_now("solidClientAuthenticationUser:a", "not json");
        block_on(clear_all_sessions(&s)).unwrap();
        assert_eq!(s.get_now("solidClientAuthenticationUser:a"), None);

        s.set_now(REGISTERED_SESSIONS_KEY, "{oops");
        let e = block_on(clear_all_sessions(&s)).unwrap_err();
        assert!(matches!(e, crate::error::Error::CorruptedData { .. }));
    }

    #[test]
    fn forget_drops_the_sessions_loaded_dpop_key() {
        use crate::protocol::dpop::{loaded_keys, DpopKey};
        let key = DpopKey::generate().unwrap();
        let (public, private) = (key.public_jwk_json(), key.private_jwk_json());
        let record = serde_json::json!({ "publicKey": public, "privateKey": private.expose() });
        let s = seeded();
        s.set_now("solidClientAuthenticationUser:s-2", &record.to_string());
        let read = block_on(read_record(&s, "s-2")).unwrap().unwrap();
        assert!(read.dpop_key().unwrap().is_some());
        assert!(loaded_keys::is_kept(&public, private.expose()));
        block_on(forget_session(&s, "s-2")).unwrap();
        assert!(!loaded_keys::is_kept(&public, private.expose()));
    }

    #[test]
    fn forget_removes_one_session() {
        let s = seeded();
        block_on(forget_session(&s, "s-2")).unwrap();
        assert_eq!(
            s.get_now(REGISTERED_SESSIONS_KEY).as_deref(),
            Some(r#"["s-1"]"#)
        );
        assert_eq!(s.get_now("solidClientAuthenticationUser:s-2"), None);
        assert_eq!(s.get_now("solidClientAuthenticationUser:st-b"), None);
        // Untracked mappings are left to clear_all: finding them means a pass over the store.
        assert!(s.get_now("solidClientAuthenticationUser:st-a").is_some());
        assert!(s.get_now("solidClientAuthenticationUser:s-1").is_some());
    }

    #[test]
    fn clear_all_on_a_host_store_batches_its_calls() {
        let mut map: HashMap<String, String> = HashMap::new();
        map.insert(
            REGISTERED_SESSIONS_KEY.into(),
            serde_json::to_string(&(0..100).map(|i| format!("s{i}")).collect::<Vec<_>>()).unwrap(),
        );
        for i in 0..100 {
            map.insert(
                format!("solidClientAuthenticationUser:s{i}"),
                r#"{"issuer":"x","authorizationStates":"[\"st\"]"}"#.into(),
            );
        }
        map.insert(
            "solidClientAuthenticationUser:st".into(),
            r#"{"sessionId":"s1"}"#.into(),
        );
        let queue = HostQueue::new();
        let storage = Rc::new(HostStorage::new(
            queue.clone(),
            Arc::new(KeyLocks::new()),
            1,
        ));
        let op = Driven::new(
            async move { clear_all_sessions(&*storage).await },
            queue,
            WakeSignal::new(|| {}),
        );
        let (result, rounds) = drive_with_map(op, &mut map);
        result.unwrap();
        // list read, record reads, deletes, list write
        assert_eq!(rounds, 4);
        assert_eq!(map.len(), 1);
        assert_eq!(map[REGISTERED_SESSIONS_KEY], "[]");
    }

    /// Logins, refreshes and clears run interleaved at every storage call, in the orders a
    /// scheduler driven by proptest picks: however they interleave, every session record left
    /// is in the session list.
    mod clear_and_login {
        use super::super::*;
        use crate::error::Result;
        use crate::storage::{Family, KeyLocks, Locker, MemoryStorage};
        use proptest::prelude::*;
        use std::future::Future;
        use std::pin::Pin;
        use std::task::{Context, Poll, Waker};

        /// Gives the scheduler a turn once.
        #[derive(Default)]
        struct Turn(bool);

        impl Future for Turn {
            type Output = ();
            fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
                if self.0 {
                    Poll::Ready(())
                } else {
                    self.0 = true;
                    Poll::Pending
                }
            }
        }

        /// One operation's handle on a store shared by every operation: each call gives the
        /// scheduler a turn first. Operations of one process share `locks`; an operation of its
        /// own process has locks of its own.
        struct Handle<'a> {
            map: &'a MemoryStorage,
            locks: &'a KeyLocks,
            family: Family,
            atomic: bool,
        }

        #[async_trait::async_trait(?Send)]
        impl Storage for Handle<'_> {
            async fn get(&self, key: &str) -> Result<Option<String>> {
                Turn::default().await;
                Ok(self.map.get_now(key))
            }
            async fn set(&self, key: &str, value: &str) -> Result<()> {
                Turn::default().await;
                self.map.set_now(key, value);
                Ok(())
            }
            async fn delete(&self, key: &str) -> Result<()> {
                Turn::default().await;
                self.map.delete_now(key);
                Ok(())
            }
            fn locks(&self) -> Locker<'_> {
                Locker::new(self.locks, self.family, None)
            }
            async fn set_if_absent(&self, key: &str, value: &str, _: u64) -> Result<Option<bool>> {
                if !self.atomic {
                    return Ok(None);
                }
                Turn::default().await;
                if self.map.get_now(key).is_some() {
                    return Ok(Some(false));
                }
                self.map.set_now(key, value);
                Ok(Some(true))
            }
        }

        /// A client-credentials login's storage calls: the client stored and registered, the
        /// grant (a turn), the logged-in record written.
        async fn login(storage: &dyn Storage, id: &str) -> Result<()> {
            remember_static_client(storage, id, "client", "SECRET-client").await?;
            Turn::default().await;
            store_login(storage, id, |record| {
                record.store_static_client("client", "SECRET-client");
                record.set_access_token("SECRET-access-token");
                record.set_stored_key("{}", "SECRET-key");
            })
            .await
        }

        /// A refresh's storage calls: the record read and written back under its lock, with
        /// the token request (a turn) between.
        async fn refresh(storage: &dyn Storage, id: &str) -> Result<()> {
            let key = record_key(id);
            let _guard = storage.locks().lock(&key).await?;
            let Some(raw) = storage.get(&key).await? else {
                return Ok(());
            };
            let mut record = SessionRecord::parse(&key, &raw)?;
            Turn::default().await;
            record.set_access_token("SECRET-refreshed");
            record.write(storage).await
        }

        type Running<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

        #[derive(Clone, Copy, Debug)]
        enum Op {
            Login(u8),
            Refresh(u8),
            Clear,
            Logout(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            // Logins of new sessions, logouts of the stored ones (a logout and a login of one
            // session at once is not ordered, see `forget_session`), refreshes of any.
            prop_oneof![
                (2..4_u8).prop_map(Op::Login),
                (0..4_u8).prop_map(Op::Refresh),
                Just(Op::Clear),
                (0..2_u8).prop_map(Op::Logout),
            ]
        }

        /// Runs `ops` interleaved, each step polling the operation `picks` names (round robin
        /// once they run out), until all have ended.
        fn run(ops: &[Op], picks: &[u16], atomic: bool, processes: bool) -> MemoryStorage {
            let map = MemoryStorage::new();
            // Sessions stored before: listed, logged in.
            map.set_now(REGISTERED_SESSIONS_KEY, r#"["s0","s1"]"#);
            for id in ["s0", "s1"] {
                map.set_now(
                    &record_key(id),
                    r#"{"issuer":"i","accessToken":"SECRET-old"}"#,
                );
            }
            let shared = KeyLocks::new();
            let own: Vec<KeyLocks> = ops.iter().map(|_| KeyLocks::new()).collect();
            let handles: Vec<Handle<'_>> = (0..ops.len())
                .map(|i| Handle {
                    map: &map,
                    locks: if processes { &own[i] } else { &shared },
                    family: u32::try_from(i + 1).unwrap(),
                    atomic,
                })
                .collect();
            let ids: Vec<String> = (0..4).map(|i| format!("s{i}")).collect();
            let mut futures: Vec<Option<Running<'_>>> = ops
                .iter()
                .zip(&handles)
                .map(|(op, h)| {
                    let f: Running<'_> = match *op {
                        Op::Login(i) => Box::pin(login(h, &ids[usize::from(i)])),
                        Op::Refresh(i) => Box::pin(refresh(h, &ids[usize::from(i)])),
                        Op::Clear => Box::pin(clear_all_sessions(h)),
                        Op::Logout(i) => {
                            let id: &str = &ids[usize::from(i)];
                            Box::pin(async move { forget_session(h, id).await.map(drop) })
                        }
                    };
                    Some(f)
                })
                .collect();
            let mut cx = Context::from_waker(Waker::noop());
            for step in 0..100_000_usize {
                let live: Vec<usize> = (0..futures.len())
                    .filter(|&i| futures[i].is_some())
                    .collect();
                if live.is_empty() {
                    drop(futures);
                    drop(handles);
                    return map;
                }
                let pick = picks.get(step).map_or(step, |&p| usize::from(p));
                let i = live[pick % live.len()];
                if let Some(future) = &mut futures[i] {
                    if let Poll::Ready(result) = future.as_mut().poll(&mut cx) {
                        result.unwrap_or_else(|e| panic!("{:?} failed: {e}", ops[i]));
                        futures[i] = None;
                    }
                }
            }
            panic!("the operations never ended: a deadlock")
        }

        /// The IDs of session records outside the list.
        fn unlisted(map: &MemoryStorage) -> Vec<String> {
            let listed = registry::parse_ids(
                &map.get_now(REGISTERED_SESSIONS_KEY)
                    .unwrap_or_else(|| "[]".into()),
            )
            .unwrap();
            map.keys_with_prefix(USER_RECORD_PREFIX)
                .unwrap()
                .into_iter()
                .map(|k| k[USER_RECORD_PREFIX.len()..].to_owned())
                .filter(|id| !listed.contains(&registry::ListedId::Id(id.clone())))
                .collect()
        }

        fn config() -> ProptestConfig {
            ProptestConfig {
                failure_persistence: Some(Box::new(
                    proptest::test_runner::FileFailurePersistence::Direct(
                        "target/proptest-regressions/clear_and_login.txt",
                    ),
                )),
                ..ProptestConfig::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            /// One process, with and without `setIfAbsent`: its locks order them.
            #[test]
            fn in_one_process_no_record_is_left_outside_the_list(
                ops in proptest::collection::vec(op(), 1..7),
                picks in proptest::collection::vec(any::<u16>(), 0..400),
                atomic in any::<bool>(),
            ) {
                let map = run(&ops, &picks, atomic, false);
                prop_assert_eq!(unlisted(&map), Vec::<String>::new(), "{:?}", ops);
            }

            /// Each login and clear a process of its own, with `setIfAbsent`: the list lease
            /// orders them. (A refresh or a logout in another process is not ordered with a
            /// clear; without `setIfAbsent` nothing is, across processes.)
            #[test]
            fn across_processes_with_set_if_absent_no_login_is_left_outside_the_list(
                ops in proptest::collection::vec(
                    prop_oneof![(0..4_u8).prop_map(Op::Login), Just(Op::Clear)],
                    1..7,
                ),
                picks in proptest::collection::vec(any::<u16>(), 0..400),
            ) {
                let map = run(&ops, &picks, true, true);
                prop_assert_eq!(unlisted(&map), Vec::<String>::new(), "{:?}", ops);
            }
        }

        #[test]
        fn a_clear_between_a_login_s_grant_and_its_record_used_to_leave_the_record_unlisted() {
            // login registers and stores its client; clear runs whole; login writes its record.
            let ops = [Op::Login(2), Op::Clear];
            let mut picks = vec![0_u16; 5];
            picks.extend([1_u16; 40]);
            let map = run(&ops, &picks, false, false);
            assert_eq!(unlisted(&map), Vec::<String>::new());
            assert!(
                map.get_now(&record_key("s2")).is_some(),
                "the login is kept"
            );
        }
    }
}

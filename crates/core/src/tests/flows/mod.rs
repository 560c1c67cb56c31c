//! The grant flows end to end against the provider in process (`testing::fake_idp`), through
//! the core functions the binding's napi functions call, with the arguments they pass.
//!
//! One file per flow: `authorization_code`, `client_credentials`, `refresh_token` (a login with
//! a refresh token the app holds). What every flow does once logged in (restores, refreshes,
//! logout, concurrent restores, two processes) is written once, in `scenarios`, as functions
//! that take the flow's login; `shared_scenarios!` makes them tests of a flow.
//!
//! Most tests use the native store directly, as the binding does for `InMemoryStorage`. The
//! concurrent ones run operations side by side as the binding runs them (`Process`), on the
//! native store or on stores implemented in JS, one per process, over one set of contents.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use crate::error::{Error, Result, StorageFailure, StorageMethod};
use crate::host::drive::{Driven, WakeSignal};
use crate::host::{HostHttp, HostQueue, HostStorage};
use crate::http::Http;
use crate::logout::LoggedOut;
use crate::protocol::caches::Caches;
use crate::restore::{Renewal, Restore, RestoresInFlight};
use crate::session::record::Record;
use crate::session::Restored;
use crate::storage::{
    record_key, Family, KeyLocks, Locker, MemoryOperation, MemoryStorage, OwnLeases, Storage,
    UnsavedRecords, REGISTERED_SESSIONS_KEY,
};
use crate::tests::support::fake_idp::{Endpoint, FakeIdp};
use crate::tests::support::profiles::{Profiles, WithIdp};
use crate::tests::support::{block_on, drive_together, drive_together_logged};

/// Makes a flow's tests of the scenarios every flow that keeps a refresh token shares. `$flow`
/// is an expression giving the flow's `Flow`.
macro_rules! shared_scenarios {
    ($flow:expr) => {
        use crate::tests::flows::{scenarios, Backing};

        #[test]
        fn a_restore_within_the_tokens_lifetime_asks_the_provider_nothing() {
            scenarios::restore_with_a_good_token($flow);
        }

        #[test]
        fn a_restore_of_a_due_token_refreshes_once() {
            scenarios::restore_with_a_due_token($flow);
        }

        #[test]
        fn a_refresh_stores_the_rotated_refresh_token_before_handing_it_out() {
            scenarios::refresh_with_rotation($flow);
        }

        #[test]
        fn a_refused_refresh_leaves_the_record_byte_for_byte() {
            scenarios::refused_renewal($flow);
        }

        #[test]
        fn an_answer_refused_after_rotation_stores_its_refresh_token_and_nothing_else() {
            scenarios::refused_answer_after_rotation($flow);
        }

        #[test]
        fn a_refreshed_record_that_cannot_be_written_is_written_by_the_next_restore() {
            scenarios::refreshed_record_not_stored($flow);
        }

        #[test]
        fn a_provider_out_of_reach_leaves_the_record_byte_for_byte() {
            scenarios::renewal_out_of_reach($flow);
        }

        #[test]
        fn a_logout_revokes_the_refresh_token_and_forgets_the_session() {
            scenarios::log_out_with_revocation($flow);
        }

        #[test]
        fn concurrent_restores_in_one_process_share_one_refresh() {
            assert_eq!(scenarios::concurrent_restores($flow, Backing::Js), 1);
        }

        #[test]
        fn a_logout_during_a_refresh_waits_for_it_and_revokes_the_new_refresh_token() {
            scenarios::log_out_during_a_refresh($flow, Backing::Js, false);
        }

        #[test]
        fn two_processes_restoring_a_due_session_refresh_once() {
            for backing in [Backing::Js, Backing::JsWithSetIfAbsent] {
                assert_eq!(scenarios::two_processes($flow, backing), 1, "{backing:?}");
            }
        }
    };
}

mod authorization_code;
mod client_credentials;
mod leases;
mod pushed_authorization;
mod refresh_token;
mod restores_in_flight;
mod scenarios;
mod webid_checks;
mod webid_profiles;

/// The session every test logs in.
pub(super) const SESSION: &str = "session-1";
/// The app's redirect URL.
pub(super) const REDIRECT_URL: &str = "https://app.example/callback";

/// A flow, as the shared scenarios see it.
#[derive(Clone, Copy)]
pub(super) struct Flow {
    /// Logs `SESSION` in, with access tokens that live as long as the provider's settings say.
    pub log_in: fn(&World),
    /// The grant a restore renews a due access token with.
    pub renewal_grant: &'static str,
    /// Makes the provider refuse that grant from now on.
    pub refuse_renewal: fn(&World),
}

impl Flow {
    /// A flow whose sessions hold a refresh token, which a restore renews them with.
    pub const fn refreshing(log_in: fn(&World)) -> Self {
        Self {
            log_in,
            renewal_grant: "refresh_token",
            refuse_renewal: |world| {
                world.idp.settings().refreshes =
                    crate::tests::support::fake_idp::Refreshes::Refused;
            },
        }
    }
}

/// A provider, the WebID profiles beside it (the provider's WebID names it), the contents of
/// the store every process shares, and this process's caches.
pub(super) struct World {
    pub idp: FakeIdp,
    pub profiles: Profiles,
    pub store: Rc<MemoryStorage>,
    pub caches: Caches,
}

impl World {
    pub fn new() -> Self {
        Self {
            idp: FakeIdp::new(),
            profiles: Profiles::for_fake_idp(),
            store: Rc::new(MemoryStorage::new()),
            caches: Caches::default(),
        }
    }

    /// The provider and the profiles, as one host: what every operation's requests go to.
    pub fn host(&self) -> WithIdp<'_> {
        WithIdp {
            idp: &self.idp,
            profiles: &self.profiles,
        }
    }

    /// How many requests the profile document of `webid` received.
    pub fn profile_requests(&self, webid: &str) -> usize {
        self.profiles
            .requests_to(crate::tests::support::profiles::document_of(webid))
    }

    /// A world whose provider hands out access tokens that are due as soon as they are stored.
    pub fn with_due_tokens() -> Self {
        let world = Self::new();
        world.idp.settings().access_token_lifetime = 0;
        world
    }

    /// The session record as stored.
    pub fn record(&self) -> Option<String> {
        self.store.get_now(&record_key(SESSION))
    }

    /// A field of the session record.
    pub fn field(&self, name: &str) -> Option<String> {
        let raw = self.record()?;
        let record = Record::parse("test", &raw).expect("a record");
        record.string(name).expect("a string").map(str::to_owned)
    }

    /// Whether the session list names `SESSION`.
    pub fn is_listed(&self) -> bool {
        self.store
            .get_now(REGISTERED_SESSIONS_KEY)
            .is_some_and(|list| list.contains(&format!("\"{SESSION}\"")))
    }

    /// `restoreSession`, as the binding calls it on the native store.
    pub fn restore(&self, renewal: Renewal) -> Result<Option<Restore>> {
        self.restore_checked(renewal, crate::protocol::webid_profile::WebIdCheck::Verify)
    }

    /// `restore`, with the WebID check the app's `verifyWebIdIssuer` gives.
    pub fn restore_checked(
        &self,
        renewal: Renewal,
        check: crate::protocol::webid_profile::WebIdCheck,
    ) -> Result<Option<Restore>> {
        block_on(crate::restore::restore(
            &self.host(),
            &*self.store,
            &self.caches,
            SESSION,
            renewal,
            check,
        ))
    }

    /// A restore that must give credentials.
    pub fn restored(&self, renewal: Renewal) -> Restored {
        restored(self.restore(renewal))
    }

    /// `logOut`, as the binding calls it; `end_session` for an IdP logout.
    pub fn log_out(
        &self,
        end_session: Option<&crate::protocol::end_session::EndSession>,
    ) -> Result<LoggedOut> {
        block_on(crate::logout::log_out(
            &self.host(),
            &*self.store,
            &self.caches,
            SESSION,
            None,
            end_session,
        ))
    }

    /// How many token requests asked for `grant_type`.
    pub fn grants(&self, grant_type: &str) -> usize {
        self.idp.grants(grant_type)
    }

    /// A process on this world's store, with key locks and caches of its own.
    pub fn process(&self, backing: Backing) -> Process {
        Process {
            store: self.store.clone(),
            backing,
            locks: Arc::new(KeyLocks::new()),
            unsaved: Rc::default(),
            own_leases: Rc::default(),
            caches: Caches::default(),
            restores: Rc::default(),
            families: Cell::new(0),
            clock: None,
        }
    }
}

/// The credentials a restore gave; a panic for anything else.
pub(super) fn restored(restore: Result<Option<Restore>>) -> Restored {
    match restore {
        Ok(Some(Restore::Restored(restored))) => *restored,
        Ok(Some(Restore::LoggedOut { .. })) => panic!("restored logged out"),
        Ok(None) => panic!("no session in storage"),
        Err(e) => panic!("the restore failed: {e}"),
    }
}

/// Whether `error` is the provider's OAuth refusal `code`.
pub(super) fn is_refusal(error: &Error, code: &str) -> bool {
    matches!(error, Error::OAuth { error, .. } if error == code)
}

/// Which store a process's operations use.
#[derive(Clone, Copy, Debug)]
pub(super) enum Backing {
    /// A store implemented in JS that other processes may share (`NativeStorage.host`).
    Js,
    /// The same, with the optional atomic `setIfAbsent`.
    JsWithSetIfAbsent,
    /// The native in-memory store (`NativeStorage.memory`).
    Native,
}

/// One process's handle on the store, as the binding's `NativeStorage` is, and its
/// environment's caches. Its operations run as the binding's `start` runs them: HTTP through
/// the host queue, each operation a family of its own.
pub(super) struct Process {
    store: Rc<MemoryStorage>,
    backing: Backing,
    locks: Arc<KeyLocks>,
    unsaved: Rc<UnsavedRecords>,
    own_leases: Rc<OwnLeases>,
    caches: Caches,
    /// The restores under way on its store, as the binding's `NativeStorage` keeps them.
    restores: Rc<RestoresInFlight>,
    families: Cell<Family>,
    /// The clock its stores go by, when the test keeps one (see `support::clock`).
    pub clock: Option<Rc<Cell<u64>>>,
}

impl Process {
    /// An operation, as `binding::operation::start` makes one.
    pub fn operation<T, Fut>(
        &self,
        make: impl FnOnce(Rc<dyn Storage>, Rc<dyn Http>, Caches) -> Fut,
    ) -> Driven<T>
    where
        Fut: std::future::Future<Output = Result<T>> + 'static,
    {
        let family = self.families.get() + 1;
        self.families.set(family);
        let queue = HostQueue::new();
        let storage: Rc<dyn Storage> = match self.backing {
            Backing::Native => Rc::new(MemoryOperation::new(
                self.store.clone(),
                family,
                queue.give_up(),
            )),
            Backing::Js | Backing::JsWithSetIfAbsent => Rc::new(
                HostStorage::new(queue.clone(), self.locks.clone(), family)
                    .with_set_if_absent(matches!(self.backing, Backing::JsWithSetIfAbsent))
                    .with_unsaved(self.unsaved.clone())
                    .with_own_leases(self.own_leases.clone()),
            ),
        };
        let storage: Rc<dyn Storage> = match &self.clock {
            Some(clock) => Rc::new(crate::tests::support::clock::Clocked {
                inner: storage,
                clock: clock.clone(),
            }),
            None => storage,
        };
        let http: Rc<dyn Http> = Rc::new(HostHttp::new(queue.clone()));
        Driven::new(
            make(storage, http, self.caches.clone()),
            queue,
            WakeSignal::new(|| {}),
        )
    }

    /// `restoreSession(sessionId, force: false)`, begun after `delay` storage calls.
    pub fn restore_after(&self, delay: usize) -> Driven<Option<Restore>> {
        self.renew_after(delay, Renewal::IfDue)
    }

    /// A restore of `SESSION` as the binding starts one (`restoreSession`, or a session timer's
    /// `renew`), joined to one of its kind under way in this process, begun after `delay`
    /// storage calls.
    pub fn renew_after(&self, delay: usize, renewal: Renewal) -> Driven<Option<Restore>> {
        let in_flight = self.restores.clone();
        self.operation(move |storage, http, caches| async move {
            storage_calls(&*storage, delay).await?;
            let restore = in_flight.restore(
                &*http,
                &*storage,
                &caches,
                SESSION,
                renewal,
                crate::protocol::webid_profile::WebIdCheck::Verify,
            );
            restore.await
        })
    }
}

/// Makes `count` storage calls that change nothing: on a store implemented in JS each is a round
/// trip to the host, so an operation that makes them first begins that many steps after the
/// others.
pub(super) async fn storage_calls(storage: &dyn Storage, count: usize) -> Result<()> {
    for _ in 0..count {
        storage.get("unrelated").await?;
    }
    Ok(())
}

/// The native store, but for writes of the session record that fail while `failing` says so (a
/// store implemented in JS whose `set` rejects), and with the records a failed write left unsaved,
/// as every store implemented in JS keeps them.
pub(super) struct FailingWrites {
    pub store: Rc<MemoryStorage>,
    pub failing: Cell<bool>,
    unsaved: UnsavedRecords,
}

impl FailingWrites {
    pub fn over(world: &World) -> Self {
        Self {
            store: world.store.clone(),
            failing: Cell::new(true),
            unsaved: UnsavedRecords::default(),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Storage for FailingWrites {
    async fn get(&self, key: &str) -> Result<Option<String>> {
        self.store.get(key).await
    }

    async fn set(&self, key: &str, value: &str) -> Result<()> {
        if self.failing.get() && key == record_key(SESSION) {
            let failure = StorageFailure::Failed("it threw an Error".to_owned());
            return Err(Error::from_failure(StorageMethod::Set, key, failure));
        }
        self.store.set(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.store.delete(key).await
    }

    fn locks(&self) -> Locker<'_> {
        self.store.locks()
    }

    fn unsaved(&self) -> Option<&UnsavedRecords> {
        Some(&self.unsaved)
    }
}

/// Runs operations side by side until each has finished; their results, in order.
pub(super) fn run_together<T>(world: &World, ops: Vec<Driven<T>>) -> Vec<Result<T>> {
    drive_together(ops, &world.store, &world.host())
}

/// `run_together`, with the storage calls the operations made: method and key, in order.
pub(super) fn run_together_logged<T>(
    world: &World,
    ops: Vec<Driven<T>>,
) -> (Vec<Result<T>>, Vec<(StorageMethod, String)>) {
    drive_together_logged(ops, &world.store, &world.idp)
}

#[test]
fn the_provider_answers_discovery_keys_and_unknown_urls() {
    let world = World::new();
    let found = block_on(
        world
            .caches
            .discovery
            .discover(&world.idp, crate::tests::support::fake_idp::ISSUER),
    )
    .unwrap();
    let keys = block_on(
        world
            .caches
            .jwks
            .keys(&world.idp, &found.metadata.jwks_uri, None),
    );
    assert!(keys.is_ok());
    let unknown = block_on(
        world
            .idp
            .send(crate::http::HttpRequest::get(FakeIdp::url("nope"))),
    );
    assert_eq!(unknown.map(|r| r.status), Ok(404));
    assert_eq!(world.idp.count(Endpoint::Discovery), 1);
    assert_eq!(world.idp.count(Endpoint::Jwks), 1);
    assert_eq!(world.idp.count(Endpoint::Unknown), 1);
}

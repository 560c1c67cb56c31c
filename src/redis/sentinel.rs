//! A `RedisStorage` behind Redis Sentinel: the sentinels are asked which server is the master
//! (the `redis` crate's `SentinelClient`), and batches go to it on one multiplexed connection,
//! on the Redis thread of `super` (the engine), which times them as for one Redis.
//!
//! Why more than the crate gives: its client asks the sentinels once, when a connection is made,
//! and a connection stays with the server it was made to. After a failover that server is gone,
//! or is a replica that refuses writes (`READONLY`). So here a connection that broke, or a
//! `READONLY` answer, drops the connection, and the batch is tried again on the master the
//! sentinels name now, after a short wait; the tries run inside the batch's timeout, which drops
//! them with the batch (as the cluster client's retries do in `cluster`). A store that never
//! found its master does not wait for one: it fails at once, saying why (no sentinel answered, no
//! master of that name, the master refusing), as a standalone store fails while Redis is down.
//!
//! A master the sentinels demote by a forced failover (`SENTINEL FAILOVER`) keeps answering as
//! master, writes included, until they reconfigure it some seconds later; writes it takes then
//! are lost; and a master frozen past the sentinels' patience is replaced while the connection to
//! it stays open. So, twice a second at most, a batch also asks the sentinels which server is
//! master (`SENTINEL MASTER`, on a connection kept to each, beside the batch; the newest
//! configuration wins, as a sentinel may not have heard of a failover yet), and when they name
//! another, the batch is made again on the new master, whether the old one answered it or not
//! (and the batches still waiting on the old connection are woken to be tried again too). A new
//! connection goes to the newest configuration's master as well, as the crate takes the first
//! sentinel's word.
//!
//! A batch tried again may have been carried out before its connection broke: a lease's `SET NX`
//! would then find its own value and answer "taken", so that answer is read back as on a cluster
//! (`cluster::taken_leases`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::Either;
use redis::aio::MultiplexedConnection;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, RedisError, Value};

use crate::error::StorageFailure;
use crate::redis::cluster::{confirm_leases, lease_reads, taken_leases};
use crate::redis::commands::{described, each, pipeline, Command, Reply};
pub use crate::redis::sentinel_setup::SentinelTarget;
use crate::redis::sentinel_setup::{address_of, client_for, moved_to};

/// The wait before a batch is tried again, doubling up to the maximum: a failover takes a
/// second or two once the sentinels agree that the master is down.
const MIN_RETRY_WAIT_MS: u64 = 25;
const MAX_RETRY_WAIT_MS: u64 = 250;

/// How often a batch also asks the sentinels which server is master, and how long a sentinel
/// may take to answer that: beside a batch (which waits for it), and for a new connection.
const CHECK_EVERY: Duration = Duration::from_millis(500);
const CHECK_LIMIT: Duration = Duration::from_millis(200);
const LOOKUP_LIMIT: Duration = Duration::from_secs(1);

/// The master behind the sentinels, as one store reaches it. A store's clones share it.
pub struct Master {
    name: String,
    /// Asks the sentinels: one lookup at a time (the client needs `&mut`), and a batch that
    /// waited for another's lookup uses the connection that lookup made.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<Current>>,
    /// Numbers the connections made, so that a batch forgets only the one it saw break.
    made: AtomicU64,
    /// Whether a master was ever found: from then on, a failed lookup is a failover under way.
    found: AtomicBool,
    /// The sentinels again, for the check of which server is master, and a connection to each
    /// once made.
    watch: Vec<redis::Client>,
    watching: tokio::sync::Mutex<Vec<Option<MultiplexedConnection>>>,
    /// When a batch last asked (or the master was found); unset until then.
    checked: Mutex<Option<Instant>>,
}

/// The connection to the master the sentinels named last, and the master's address.
#[derive(Clone)]
struct Current {
    connection: MultiplexedConnection,
    number: u64,
    address: (String, u16),
    retired: Arc<Retired>,
}

/// Set when a connection is forgotten, waking the batches still waiting on it: they are tried
/// again on the new master rather than waiting for an old one that may never answer.
#[derive(Default)]
struct Retired {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Master {
    /// The master named in `target`, found on first use. Fails for URLs the crate cannot use or
    /// that do not go together; the message never repeats a password.
    pub fn open(target: SentinelTarget) -> Result<Self, String> {
        let (sentinels, watch) = client_for(&target)?;
        Ok(Self {
            name: target.master_name,
            sentinels: tokio::sync::Mutex::new(sentinels),
            current: Mutex::new(None),
            made: AtomicU64::new(0),
            found: AtomicBool::new(false),
            watching: tokio::sync::Mutex::new(watch.iter().map(|_| None).collect()),
            watch,
            checked: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        // A panic while it was held leaves it whole: each change is one assignment.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this batch should ask which server is master: one batch every `CHECK_EVERY`.
    fn check_due(&self) -> bool {
        let mut checked = self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if checked.is_some_and(|at| now.duration_since(at) < CHECK_EVERY) {
            return false;
        }
        *checked = Some(now);
        true
    }

    /// The master's address as the sentinels name it now: of those that answer within `limit`,
    /// the one with the newest configuration, since a sentinel that has not heard of a failover
    /// yet still names the old master. `None` when none answered, or when `wait` is false and a
    /// check is under way already.
    async fn named_now(&self, limit: Duration, wait: bool) -> Option<(String, u16)> {
        let mut watching = if wait {
            self.watching.lock().await
        } else {
            self.watching.try_lock().ok()?
        };
        let asks = watching
            .iter_mut()
            .zip(&self.watch)
            .map(|(kept, sentinel)| async move {
                let asked = tokio::time::timeout(limit, ask(kept, sentinel, &self.name, limit));
                asked.await.ok().flatten()
            });
        newest(futures_util::future::join_all(asks).await)
    }

    /// Drops connection `number` if it is still the current one (not one made since).
    fn forget(&self, number: u64) {
        let mut current = self.lock();
        if let Some(forgotten) = current.take_if(|c| c.number == number) {
            forgotten.retired.flag.store(true, Ordering::Relaxed);
            forgotten.retired.notify.notify_waiters();
        }
    }

    /// The connection to the master, asking the sentinels first when there is none.
    async fn connected(&self, connect: Duration) -> Result<Current, StorageFailure> {
        if let Some(current) = self.lock().clone() {
            return Ok(current);
        }
        let mut sentinels = self.sentinels.lock().await;
        // Another batch may have found the master while this one waited for the lookup.
        if let Some(current) = self.lock().clone() {
            return Ok(current);
        }
        let client = match sentinels.async_get_client().await {
            Ok(client) => client,
            Err(error) => return Err(self.lookup_failed(&mut sentinels, &error).await),
        };
        // The crate takes the first sentinel's word, which may be out of date during a failover:
        // the newest configuration among the sentinels' answers wins, on the crate's settings.
        let mut info = client.get_connection_info().clone();
        let mut address = address_of(info.addr());
        let named = self.named_now(connect.min(LOOKUP_LIMIT), true).await;
        let substituted = named.filter(|named| *named != address);
        if let Some(named) = substituted.clone() {
            let addr = moved_to(info.addr(), named.clone());
            info = info.set_addr(addr);
            address = named;
        }
        let client = redis::Client::open(info).map_err(|e| self.unreached(&e))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect))
            // The batch's own timeout bounds every round trip.
            .set_response_timeout(None);
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.unreached(&e))?;
        if substituted.is_some() {
            // Checked as the crate checks its own choice.
            let role = redis::cmd("ROLE")
                .query_async::<redis::Role>(&mut connection)
                .await;
            if !matches!(role, Ok(redis::Role::Primary { .. })) {
                return Err(StorageFailure::Failed(format!(
                    "the server the sentinels name as master \"{}\" is not master yet",
                    crate::quote::text(&self.name)
                )));
            }
        }
        let current = Current {
            connection,
            number: self.made.fetch_add(1, Ordering::Relaxed) + 1,
            address,
            retired: Arc::default(),
        };
        // A lookup is as good as a check.
        *self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        *self.lock() = Some(current.clone());
        self.found.store(true, Ordering::Relaxed);
        Ok(current)
    }

    /// Why the sentinels gave no master, in our words: the crate's may quote an address with its
    /// password, and it says "not found" both for a name no sentinel knows and for a master they
    /// all see down.
    async fn lookup_failed(
        &self,
        sentinels: &mut SentinelClient,
        error: &RedisError,
    ) -> StorageFailure {
        if error.kind() == redis::ErrorKind::MasterNameNotFoundBySentinel {
            return StorageFailure::Failed(format!(
                "no sentinel names a master \"{}\" that is up",
                crate::quote::text(&self.name)
            ));
        }
        // Whether the sentinels or the master they named failed: the crate keeps which to itself,
        // so a sentinel is asked who it is. (The crate checks every sentinel through the
        // connection it keeps for the first; any sentinel answering is what matters here.)
        match sentinels.async_get_sentinel_client().await {
            Err(unreached) => {
                StorageFailure::Failed(format!("no sentinel answered ({})", described(&unreached)))
            }
            Ok(_) => self.unreached(error),
        }
    }

    fn unreached(&self, error: &RedisError) -> StorageFailure {
        StorageFailure::Failed(format!(
            "the master the sentinels name for \"{}\" could not be reached ({})",
            crate::quote::text(&self.name),
            described(error)
        ))
    }
}

/// Asks one sentinel for the master's configuration (`SENTINEL MASTER`) on the connection kept
/// in `kept`, made first when there is none: its epoch and address.
async fn ask(
    kept: &mut Option<MultiplexedConnection>,
    sentinel: &redis::Client,
    name: &str,
    connect: Duration,
) -> Option<(u64, (String, u16))> {
    if kept.is_none() {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect))
            .set_response_timeout(None);
        let made = sentinel.get_multiplexed_async_connection_with_config(&config);
        *kept = Some(made.await.ok()?);
    }
    let connection = kept.as_mut()?;
    let fields = redis::cmd("SENTINEL")
        .arg("MASTER")
        .arg(name)
        .query_async::<HashMap<String, String>>(connection)
        .await;
    match fields {
        Ok(fields) => configuration(&fields),
        Err(error) => {
            // A connection that failed is made again next time; an error answer keeps it.
            if error.code().is_none() {
                *kept = None;
            }
            None
        }
    }
}

/// A master's configuration epoch and address, from a sentinel's `SENTINEL MASTER` fields.
fn configuration(fields: &HashMap<String, String>) -> Option<(u64, (String, u16))> {
    let epoch = fields.get("config-epoch")?.parse().ok()?;
    let port = fields.get("port")?.parse().ok()?;
    Some((epoch, (fields.get("ip")?.clone(), port)))
}

/// The address of the newest configuration among the sentinels' answers (the first of equals).
fn newest(answers: Vec<Option<(u64, (String, u16))>>) -> Option<(String, u16)> {
    let mut best: Option<(u64, (String, u16))> = None;
    for (epoch, address) in answers.into_iter().flatten() {
        if best.as_ref().is_none_or(|(newest, _)| epoch > *newest) {
            best = Some((epoch, address));
        }
    }
    best.map(|(_, address)| address)
}

/// Whether a reply says the server is a replica now: a demoted master refuses writes so.
pub fn is_read_only(reply: &Value) -> bool {
    matches!(reply, Value::ServerError(e) if e.code() == "READONLY")
}

/// The wait before the next try, after `wait`.
pub fn next_wait(wait: Duration) -> Duration {
    (wait * 2).min(Duration::from_millis(MAX_RETRY_WAIT_MS))
}

/// What `query` on `current` got, or `None` when the sentinels name another master now, or the
/// connection was forgotten meanwhile. When a check is due they are asked beside it, and a query
/// the old master has not answered by then is dropped: a master frozen past the sentinels'
/// patience is replaced, and would hold it to the batch's timeout.
async fn beside_check(
    master: &Master,
    current: &Current,
    query: impl std::future::Future<Output = redis::RedisResult<Vec<Value>>>,
    limit: Duration,
) -> Option<redis::RedisResult<Vec<Value>>> {
    let retired = current.retired.notify.notified();
    let mut retired = std::pin::pin!(retired);
    retired.as_mut().enable();
    if current.retired.flag.load(Ordering::Relaxed) {
        return None;
    }
    let query = std::pin::pin!(query);
    let query = async {
        match futures_util::future::select(query, retired).await {
            Either::Left((replies, _)) => Some(replies),
            Either::Right(((), _)) => None,
        }
    };
    if !master.check_due() {
        return query.await;
    }
    let moved = |named: Option<(String, u16)>| named.is_some_and(|n| n != current.address);
    let query = std::pin::pin!(query);
    let check = std::pin::pin!(master.named_now(limit, false));
    match futures_util::future::select(query, check).await {
        Either::Left((replies, check)) => {
            let named = check.await;
            replies.filter(|_| !moved(named))
        }
        Either::Right((named, query)) => {
            if moved(named) {
                None
            } else {
                query.await
            }
        }
    }
}

/// Makes `sent` on the master, in one round trip when all is well. After a broken connection or
/// a `READONLY`, the sentinels are asked again and the batch is tried again, until it is done or
/// the next try could not start before `deadline` (the batch's timeout, which drops a try under
/// way). A failure on a connection is worded by `failure_of`.
pub async fn round_trip(
    master: &Master,
    prefix: &str,
    sent: &[Command],
    deadline: Instant,
    connect: Duration,
    failure_of: impl Fn(&RedisError) -> StorageFailure,
) -> Vec<Reply> {
    let mut wait = Duration::from_millis(MIN_RETRY_WAIT_MS);
    // Whether a try was cut off on a connection that broke: its commands may have been done.
    let mut maybe_done = false;
    loop {
        let failure = match master.connected(connect).await {
            Err(failure) => failure,
            Ok(current) => {
                let mut connection = current.connection.clone();
                let batch = pipeline(prefix, sent);
                let query = batch.query_async::<Vec<Value>>(&mut connection);
                match beside_check(master, &current, query, connect.min(CHECK_LIMIT)).await {
                    None => {
                        master.forget(current.number);
                        // Cut off, it may have been carried out.
                        maybe_done = true;
                        StorageFailure::Failed(format!(
                            "the sentinels name another master for \"{}\" now",
                            crate::quote::text(&master.name)
                        ))
                    }
                    Some(Ok(values)) if !values.iter().any(is_read_only) => {
                        let mut replies = each(sent.len(), Ok(values));
                        if maybe_done {
                            let taken = taken_leases(sent, &replies);
                            if !taken.is_empty() {
                                let reads = lease_reads(sent, &taken);
                                let read = pipeline(prefix, &reads)
                                    .query_async::<Vec<Value>>(&mut connection)
                                    .await
                                    .map_err(|e| failure_of(&e));
                                confirm_leases(sent, &mut replies, &taken, each(reads.len(), read));
                            }
                        }
                        return replies;
                    }
                    Some(Ok(_)) => {
                        master.forget(current.number);
                        StorageFailure::Failed(format!(
                            "the server the sentinels named as master \"{}\" is a replica now",
                            crate::quote::text(&master.name)
                        ))
                    }
                    Some(Err(error)) => {
                        master.forget(current.number);
                        maybe_done = true;
                        failure_of(&error)
                    }
                }
            }
        };
        if !master.found.load(Ordering::Relaxed) || Instant::now() + wait >= deadline {
            return sent.iter().map(|_| Err(failure.clone())).collect();
        }
        tokio::time::sleep(wait).await;
        wait = next_wait(wait);
    }
}

#[cfg(test)]
#[path = "sentinel_tests.rs"]
mod tests;

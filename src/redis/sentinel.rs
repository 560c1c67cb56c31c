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
//! found its master does not wait for one: it fails at once, saying why (no sentinel reached, no
//! master of that name, the master refusing), as a standalone store fails while Redis is down.
//!
//! A master the sentinels demote by a forced failover (`SENTINEL FAILOVER`) keeps answering as
//! master, writes included, until they reconfigure it some seconds later; writes it takes then
//! are lost. So, twice a second at most, a batch also asks the sentinels which server is master
//! (`SENTINEL MASTER`, on a connection kept to each, beside the batch and in the same wait; the
//! newest configuration wins, as a sentinel may not have heard of a failover yet), and when they
//! name another, the batch is made again on the new master. A new connection is checked so too,
//! as the crate takes the first sentinel's word.
//!
//! A batch tried again may have been carried out before its connection broke: a lease's `SET NX`
//! would then find its own value and answer "taken", so that answer is read back as on a cluster
//! (`cluster::taken_leases`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionAddr, RedisError, TlsMode, Value};

use crate::error::StorageFailure;
use crate::redis::cluster::{confirm_leases, lease_reads, taken_leases};
use crate::redis::commands::{described, each, pipeline, Command, Reply};
use crate::secret::Secret;

/// The wait before a batch is tried again, doubling up to the maximum: a failover takes a
/// second or two once the sentinels agree that the master is down.
const MIN_RETRY_WAIT_MS: u64 = 25;
const MAX_RETRY_WAIT_MS: u64 = 250;

/// How often a batch also asks the sentinels which server is master, and how long a sentinel
/// may take to answer that: beside a batch (which waits for it), and for a new connection.
const CHECK_EVERY: Duration = Duration::from_millis(500);
const CHECK_LIMIT: Duration = Duration::from_millis(200);
const LOOKUP_LIMIT: Duration = Duration::from_secs(1);

/// Where the sessions are behind Sentinel, as `new RedisStorage({ sentinel })` gave it.
pub struct SentinelTarget {
    /// Some of the sentinels' URLs (`redis://[user:password@]host:port`, `rediss://`), all with
    /// the same user, password and TLS mode: the sentinels' own.
    pub nodes: Vec<String>,
    /// The name the sentinels monitor the master under (`sentinel monitor <name> …`).
    pub master_name: String,
    /// The master's user and password (not the sentinels').
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The master's database.
    pub db: Option<i64>,
}

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
        if current.as_ref().is_some_and(|c| c.number == number) {
            *current = None;
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
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect))
            // The batch's own timeout bounds every round trip.
            .set_response_timeout(None);
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.unreached(&e))?;
        let address = match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                (host.clone(), *port)
            }
            // The crate names masters by host and port only.
            _ => (String::new(), 0),
        };
        // The crate takes the first sentinel's word; during a failover it may be out of date.
        if self
            .named_now(connect.min(LOOKUP_LIMIT), true)
            .await
            .is_some_and(|named| named != address)
        {
            return Err(StorageFailure::Failed(format!(
                "the sentinels do not agree yet on the master for \"{}\"",
                crate::quote::text(&self.name)
            )));
        }
        let current = Current {
            connection,
            number: self.made.fetch_add(1, Ordering::Relaxed) + 1,
            address,
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

/// The sentinels' connection info from `target`'s URLs, which must go together.
fn sentinels_of(target: &SentinelTarget) -> Result<Vec<redis::ConnectionInfo>, String> {
    let refused = |url: &str, why: &str| {
        format!(
            "RedisStorage: the sentinel url {} is not usable: {why}",
            crate::quote::text(url)
        )
    };
    if target.master_name.is_empty() {
        return Err("RedisStorage: sentinel.masterName must name the master".to_owned());
    }
    let mut nodes = Vec::with_capacity(target.nodes.len());
    for url in &target.nodes {
        let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())
            .map_err(|e| refused(url, &format!("{:?}", e.kind())))?;
        if matches!(info.addr(), ConnectionAddr::Unix(_)) {
            return Err(refused(url, "sentinels are reached over TCP"));
        }
        if info.redis_settings().db() != 0 {
            return Err(refused(
                url,
                "a sentinel has no database (sentinel.db is the master's)",
            ));
        }
        nodes.push(info);
    }
    let Some(first) = nodes.first() else {
        return Err(
            "RedisStorage: sentinel.nodes must list at least one sentinel's url".to_owned(),
        );
    };
    let together = nodes.iter().all(|info| {
        tls_of(info) == tls_of(first)
            && info.redis_settings().username() == first.redis_settings().username()
            && info.redis_settings().password() == first.redis_settings().password()
    });
    if !together {
        return Err(
            "RedisStorage: the sentinel urls must all have the same user, password and TLS mode"
                .to_owned(),
        );
    }
    Ok(nodes)
}

/// Whether `info` is TLS, and if so whether it skips the host name check (`#insecure`).
fn tls_of(info: &redis::ConnectionInfo) -> Option<bool> {
    match info.addr() {
        ConnectionAddr::TcpTls { insecure, .. } => Some(*insecure),
        _ => None,
    }
}

/// A sentinel client for `target`, and a plain client for each sentinel (for the check of which
/// server is master). `rediss://` sentinels, and then the master, trust what a standalone store
/// trusts.
fn client_for(target: &SentinelTarget) -> Result<(SentinelClient, Vec<redis::Client>), String> {
    let unusable = |e: RedisError| {
        format!(
            "RedisStorage: the sentinel options are not usable: {:?}",
            e.kind()
        )
    };
    let nodes = sentinels_of(target)?;
    let (tls, settings) = match nodes.first() {
        Some(first) => (tls_of(first), first.redis_settings().clone()),
        None => return Err("RedisStorage: sentinel.nodes is empty".to_owned()),
    };
    let addresses: Vec<ConnectionAddr> = nodes.iter().map(|info| info.addr().clone()).collect();
    let roots = tls.and_then(|_| crate::redis::tls::tls_roots());
    let watch = nodes
        .into_iter()
        .map(|info| match &roots {
            Some(roots) => redis::Client::build_with_tls(info, roots.clone()),
            None => redis::Client::open(info),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(unusable)?;
    let mut builder =
        SentinelClientBuilder::new(addresses, &target.master_name, SentinelServerType::Master)
            .map_err(unusable)?;
    if let Some(user) = settings.username() {
        builder = builder.set_client_to_sentinel_username(user);
    }
    if let Some(password) = settings.password() {
        builder = builder.set_client_to_sentinel_password(password);
    }
    if let Some(insecure) = tls {
        // The master speaks TLS as its sentinels do.
        let mode = if insecure {
            TlsMode::Insecure
        } else {
            TlsMode::Secure
        };
        builder = builder.set_client_to_redis_tls_mode(mode);
        if let Some(roots) = roots {
            builder = builder
                .set_client_to_sentinel_certificates(roots.clone())
                .set_client_to_redis_certificates(roots);
        }
    }
    if let Some(user) = &target.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &target.password {
        builder = builder.set_client_to_redis_password(password.expose());
    }
    if let Some(db) = target.db {
        builder = builder.set_client_to_redis_db(db);
    }
    Ok((builder.build().map_err(unusable)?, watch))
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
                let (replies, named) = if master.check_due() {
                    let check = master.named_now(connect.min(CHECK_LIMIT), false);
                    futures_util::future::join(query, check).await
                } else {
                    (query.await, None)
                };
                let moved = named.filter(|named| *named != current.address);
                match replies {
                    _ if moved.is_some() => {
                        master.forget(current.number);
                        StorageFailure::Failed(format!(
                            "the sentinels name another master for \"{}\" now",
                            crate::quote::text(&master.name)
                        ))
                    }
                    Ok(values) if !values.iter().any(is_read_only) => {
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
                    Ok(_) => {
                        master.forget(current.number);
                        StorageFailure::Failed(format!(
                            "the server the sentinels named as master \"{}\" is a replica now",
                            crate::quote::text(&master.name)
                        ))
                    }
                    Err(error) => {
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

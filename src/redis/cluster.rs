//! A `RedisStorage` on a Redis Cluster: the `redis` crate's async cluster client, on the Redis
//! thread of `super` (the engine), which makes the batches and times them as for one Redis.
//!
//! Why batches are split here: a batch's keys (a session's record, its lease, the session list)
//! hash to different slots, and the crate sends a pipeline to the node of its first key's slot
//! and refuses one whose keys span slots (`CROSSSLOT`) rather than splitting it. So a batch goes
//! out as one pipeline per slot, all at once, and the replies are put back in the batch's order.
//! Commands on one key share a slot, hence a pipeline, and so keep their order.
//!
//! The crate follows `MOVED` and `ASK` redirections, learns the new layout after a failover,
//! and reconnects to nodes that went away; its retries are bounded by the batch's timeout, which
//! drops them with the batch. A retry can make a lease's `SET NX` find its own value, which is
//! why one answered "taken" is read back (`taken_leases`).

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{RedisError, Value};

use crate::error::StorageFailure;
use crate::redis::commands::{each, pipeline, Command, Reply};

/// How many times the crate may send a request again (after a redirection, a lost connection,
/// `TRYAGAIN` or `CLUSTERDOWN`), and how long it waits between tries. The crate's default waits
/// start at 1.28 s, longer than a failover takes here (~2.5 s in all) and a fair share of the
/// storage timeout; the batch's timeout bounds them all anyway.
const RETRIES: u32 = 16;
const MIN_RETRY_WAIT_MS: u64 = 20;
const MAX_RETRY_WAIT_MS: u64 = 500;

/// A cluster client for the nodes at `urls` (any of the cluster's nodes: the client learns the
/// others from them). `rediss://` trusts what a standalone `RedisStorage` trusts. Errors never
/// repeat a URL's password.
pub fn client_for(urls: &[String]) -> Result<ClusterClient, String> {
    let refused = |url: &str, why: &str| {
        format!(
            "RedisStorage: the cluster url {} is not usable: {why}",
            crate::quote::text(url)
        )
    };
    if urls.is_empty() {
        return Err("RedisStorage: cluster must list at least one node's url".to_owned());
    }
    let mut nodes = Vec::with_capacity(urls.len());
    for url in urls {
        let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())
            .map_err(|e| refused(url, &format!("{:?}", e.kind())))?;
        if matches!(info.addr(), redis::ConnectionAddr::Unix(_)) {
            // Cluster nodes name each other by address and port only.
            return Err(refused(url, "a cluster's nodes are reached over TCP"));
        }
        nodes.push(info);
    }
    let tls = matches!(nodes[0].addr(), redis::ConnectionAddr::TcpTls { .. });
    let mut builder = ClusterClientBuilder::new(nodes)
        .retries(RETRIES)
        .min_retry_wait(MIN_RETRY_WAIT_MS)
        .max_retry_wait(MAX_RETRY_WAIT_MS);
    if tls {
        if let Some(roots) = crate::redis::tls::tls_roots() {
            builder = builder.certs(roots);
        }
    }
    builder.build().map_err(|e| {
        // The crate's reasons for a configuration it refuses (nodes with different passwords
        // or TLS modes) are fixed texts without a detail, which quote nothing given.
        let why = if e.kind() == redis::ErrorKind::InvalidClientConfig && e.detail().is_none() {
            e.to_string()
        } else {
            format!("{:?}", e.kind())
        };
        format!(
            "RedisStorage: the cluster urls are not usable together: {}",
            crate::quote::text(&why)
        )
    })
}

/// The cluster connection, connecting in the background; a batch sent before it is ready waits
/// for it (within the batch's timeout). Must run on the runtime (it spawns its task there).
pub fn connect(client: &ClusterClient, connect_timeout: Duration) -> ClusterConnection {
    // No response timeout of the crate's: the batch's own bounds every request, retries included.
    client.get_pending_async_connection_with_config(
        ClusterConfig::new().set_connection_timeout(connect_timeout),
    )
}

/// The indexes of `sent`'s commands grouped by the slot of their key under `prefix`: one group
/// per slot, in the order each slot first appears, each in the commands' order.
pub fn by_slot(prefix: &str, sent: &[Command]) -> Vec<Vec<usize>> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, command) in sent.iter().enumerate() {
        let key = match command {
            Command::Get(k)
            | Command::Set(k, _)
            | Command::Delete(k)
            | Command::SetIfAbsent(k, _, _) => k,
            // No command is sent for a pause; `execute` leaves them out before this.
            Command::Sleep(_) => continue,
        };
        let slot = Slot::for_key(format!("{prefix}{key}"));
        // A batch holds a handful of commands: a linear search beats a map.
        if let Some(at) = slots.iter().position(|s| *s == slot) {
            groups[at].push(index);
        } else {
            slots.push(slot);
            groups.push(vec![index]);
        }
    }
    groups
}

/// The replies to `count` commands from each group's replies, each put back in its command's
/// place; a place no group answered (a sleep, which `execute` leaves out first) fails.
pub fn reassemble(
    count: usize,
    groups: &[Vec<usize>],
    replies: Vec<Result<Vec<Value>, StorageFailure>>,
) -> Vec<Reply> {
    let mut placed: Vec<Option<Reply>> = (0..count).map(|_| None).collect();
    for (group, replies) in groups.iter().zip(replies) {
        for (index, reply) in group.iter().zip(each(group.len(), replies)) {
            if let Some(place) = placed.get_mut(*index) {
                *place = Some(reply);
            }
        }
    }
    placed
        .into_iter()
        .map(|reply| {
            reply.unwrap_or_else(|| {
                Err(StorageFailure::Failed(
                    "a command of the batch was not sent".to_owned(),
                ))
            })
        })
        .collect()
}

/// Makes `sent` on the cluster: one pipeline per slot, all in flight at once, each failing
/// alone (a master down fails its slots' commands, not the others'). A `SET NX` answered "taken"
/// is then checked (below).
pub async fn round_trip(
    connection: &ClusterConnection,
    prefix: &str,
    sent: &[Command],
    failure_of: impl Fn(&RedisError) -> StorageFailure,
) -> Vec<Reply> {
    let mut replies = per_slot(connection, prefix, sent, &failure_of).await;
    let taken = taken_leases(sent, &replies);
    if !taken.is_empty() {
        let reads = lease_reads(sent, &taken);
        let read = per_slot(connection, prefix, &reads, &failure_of).await;
        confirm_leases(sent, &mut replies, &taken, read);
    }
    replies
}

async fn per_slot(
    connection: &ClusterConnection,
    prefix: &str,
    sent: &[Command],
    failure_of: &impl Fn(&RedisError) -> StorageFailure,
) -> Vec<Reply> {
    let groups = by_slot(prefix, sent);
    let pipelines = groups.iter().map(|group| {
        let mut connection = connection.clone();
        let pipe = pipeline(prefix, group.iter().filter_map(|&i| sent.get(i)));
        async move { pipe.query_async::<Vec<Value>>(&mut connection).await }
    });
    let replies = futures_util::future::join_all(pipelines)
        .await
        .into_iter()
        .map(|replies| replies.map_err(|e| failure_of(&e)))
        .collect();
    reassemble(sent.len(), &groups, replies)
}

/// The indexes of the `SET NX`s of `sent` answered "taken". The crate sends a pipeline again
/// when its connection was lost before the answer came, so one of them may have stored on the
/// first try and found its own value on the second: the process would then wait for its own
/// lease to lapse as for another's.
pub fn taken_leases(sent: &[Command], replies: &[Reply]) -> Vec<usize> {
    sent.iter()
        .zip(replies)
        .enumerate()
        .filter(|(_, (command, reply))| {
            matches!(command, Command::SetIfAbsent(..)) && matches!(reply, Ok(Value::Nil))
        })
        .map(|(i, _)| i)
        .collect()
}

/// A `GET` of the key of each `SET NX` at `taken` in `sent`, in that order.
pub fn lease_reads(sent: &[Command], taken: &[usize]) -> Vec<Command> {
    taken
        .iter()
        .filter_map(|&i| match sent.get(i) {
            Some(Command::SetIfAbsent(k, _, _)) => Some(Command::Get(k.clone())),
            _ => None,
        })
        .collect()
}

/// Turns each "taken" of `taken` into "stored" when the key was read back holding the very value
/// that `SET NX` set: a lease's value names its owner, so no other process wrote it. A read that
/// failed leaves "taken", which is what the lease holder's absence costs anyway.
pub fn confirm_leases(sent: &[Command], replies: &mut [Reply], taken: &[usize], read: Vec<Reply>) {
    for (&i, found) in taken.iter().zip(read) {
        if let (Some(Command::SetIfAbsent(_, value, _)), Ok(Value::BulkString(bytes))) =
            (sent.get(i), &found)
        {
            if bytes.as_slice() == value.as_bytes() {
                if let Some(reply) = replies.get_mut(i) {
                    *reply = Ok(Value::Okay);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;

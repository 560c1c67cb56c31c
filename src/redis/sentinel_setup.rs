//! What `new RedisStorage({ sentinel })` becomes: the sentinels' URLs checked (they must go
//! together), the `redis` crate's sentinel client that finds the master, a plain client per
//! sentinel for `crate::redis::sentinel`'s check of which server is master, and a master's address
//! read or moved. Apart from the engine that uses them, so that it reads as what happens to a
//! batch.

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, RedisError, TlsMode};

use crate::secret::Secret;

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
pub fn client_for(target: &SentinelTarget) -> Result<(SentinelClient, Vec<redis::Client>), String> {
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

/// The host and port of `addr` (the crate names masters by them only).
pub fn address_of(addr: &ConnectionAddr) -> (String, u16) {
    match addr {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            (host.clone(), *port)
        }
        _ => (String::new(), 0),
    }
}

/// `addr` at another host and port, with the same TLS settings.
pub fn moved_to(addr: &ConnectionAddr, (host, port): (String, u16)) -> ConnectionAddr {
    match addr {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host, port),
    }
}

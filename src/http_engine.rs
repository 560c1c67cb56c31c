//! Makes the HTTP requests that operations hand out, with reqwest and rustls.
//!
//! One client serves the whole process (it pools connections per host); it is built on first
//! use, so that loading the module costs nothing. Redirects are never followed: an IdP answer
//! that redirects is an answer like any other, and credentials never travel to another origin.
//! While private networks are blocked (`set_block_private_networks`), requests go through a
//! second client whose DNS resolver refuses a name that resolves to an address off the public
//! internet (`crate::addresses`), so the check holds for the address actually connected to; a
//! host that is such an address is refused before any request.
//! TLS trusts what Node trusts by default on this machine: the system's roots, plus the PEM file
//! named by `NODE_EXTRA_CA_CERTS`, so an IdP behind a private CA works.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::http::{HttpFailure, HttpRequest, HttpResponse};

/// openid-client's default, which the reference inherits.
pub const DEFAULT_TIMEOUT_MS: u64 = 3_500;
/// A response body larger than this is refused: no IdP answer is anywhere near it.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

static TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_TIMEOUT_MS);
static SENT: AtomicU64 = AtomicU64::new(0);
static BLOCK_PRIVATE_NETWORKS: AtomicBool = AtomicBool::new(false);

/// Whether requests to hosts on private, loopback, link-local and other non-public addresses
/// are refused. Off by default, so that a provider on `localhost` works in development.
pub fn set_block_private_networks(block: bool) {
    BLOCK_PRIVATE_NETWORKS.store(block, Ordering::Relaxed);
}

pub fn blocks_private_networks() -> bool {
    BLOCK_PRIVATE_NETWORKS.load(Ordering::Relaxed)
}

/// How many requests this process has started: for tests and benchmarks that count the
/// requests an operation makes.
pub fn requests_sent() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// How long a request may take, from connecting to the last byte of the body.
pub fn set_timeout_ms(millis: u64) {
    TIMEOUT_MS.store(millis.max(1), Ordering::Relaxed);
}

pub fn timeout_ms() -> u64 {
    TIMEOUT_MS.load(Ordering::Relaxed)
}

fn tls_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped, as Node skips them.
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    // Node ignores an empty or unreadable NODE_EXTRA_CA_CERTS (it prints a warning itself).
    if let Some(path) = std::env::var_os("NODE_EXTRA_CA_CERTS").filter(|p| !p.is_empty()) {
        use rustls_pki_types::pem::PemObject;
        if let Ok(certs) = rustls_pki_types::CertificateDer::pem_file_iter(&path) {
            roots.add_parsable_certificates(certs.filter_map(std::result::Result::ok));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Node's `fetch`, which the reference makes its requests with, ignores `HTTP_PROXY`,
/// `HTTPS_PROXY` and `NO_PROXY` unless `NODE_USE_ENV_PROXY=1` (Node 24 and later honour it);
/// so do these requests, so that switching packages does not change the route to the identity
/// provider.
fn env_proxy() -> bool {
    std::env::var_os("NODE_USE_ENV_PROXY").is_some_and(|v| v == "1")
}

/// The host names of the proxies reqwest takes from the environment: the guard's resolver lets
/// them through, since the proxy, not this process, connects to the provider.
fn proxy_hosts() -> Vec<String> {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .filter_map(|name| std::env::var(name).ok())
    .filter_map(|value| {
        let value = value.trim();
        let url = if value.contains("://") {
            reqwest::Url::parse(value)
        } else {
            reqwest::Url::parse(&format!("http://{value}"))
        };
        url.ok()?.host_str().map(str::to_ascii_lowercase)
    })
    .collect()
}

/// How long an idle pooled connection is kept (undici's default `keepAliveTimeout`).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// The process's client: `guarded` is the one whose resolver refuses non-public addresses. Each
/// is built on first use; connections pooled by one are never used by the other, so turning the
/// guard on leaves no connection to a private address open for its requests.
fn client(guarded: bool) -> Result<&'static reqwest::Client, HttpFailure> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    static GUARDED_CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    let cell = if guarded { &GUARDED_CLIENT } else { &CLIENT };
    cell.get_or_init(|| {
        let builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config()?)
            .redirect(reqwest::redirect::Policy::none())
            // As Node's fetch does by default: a connection idle longer is not used again.
            // Servers close idle connections (Node's, CSS among them, after 5 s), and a request
            // sent on one as it closes fails with a reset; a middlebox may drop one silently.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT);
        let builder = if env_proxy() {
            builder
        } else {
            builder.no_proxy()
        };
        let builder = if guarded {
            let proxy_hosts = if env_proxy() {
                proxy_hosts()
            } else {
                Vec::new()
            };
            builder.dns_resolver(PublicOnlyResolver { proxy_hosts })
        } else {
            builder
        };
        builder
            .build()
            .map_err(|e| format!("the HTTP client could not be set up: {e}"))
    })
    .as_ref()
    .map_err(|reason| HttpFailure::Invalid(reason.clone()))
}

/// A name that resolved to an address off the public internet, while private networks are
/// blocked.
#[derive(Debug)]
struct BlockedAddress {
    host: String,
    kind: &'static str,
}

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves to {}", self.host, self.kind)
    }
}

impl std::error::Error for BlockedAddress {}

/// The system's resolver (getaddrinfo, as reqwest's own), refusing a name any of whose
/// addresses is off the public internet: one public address beside a private one does not make
/// a name safe, since the connection may go to either.
struct PublicOnlyResolver {
    proxy_hosts: Vec<String>,
}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let is_proxy = self
            .proxy_hosts
            .iter()
            .any(|proxy| proxy.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let addresses = resolve_public(&host, !is_proxy).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The addresses of `host`; with `check`, an error when any of them is not public.
async fn resolve_public(
    host: &str,
    check: bool,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if check {
        if let Some(kind) = addresses
            .iter()
            .find_map(|a| crate::addresses::non_public(a.ip()))
        {
            return Err(Box::new(BlockedAddress {
                host: host.to_owned(),
                kind,
            }));
        }
    }
    Ok(addresses)
}

/// Refuses, while private networks are blocked, a URL whose host is an address off the public
/// internet (no DNS is asked, so the resolver never sees it); and, when a proxy may carry the
/// request, one whose name resolves to such an address here (the proxy resolves it again).
async fn check_host(url: &reqwest::Url) -> Result<(), HttpFailure> {
    let blocked = |host: &str, resolved, kind| HttpFailure::Blocked {
        host: host.to_owned(),
        resolved,
        kind,
    };
    match url.host() {
        Some(url::Host::Ipv4(address)) => crate::addresses::non_public(address.into())
            .map_or(Ok(()), |kind| {
                Err(blocked(&address.to_string(), false, kind))
            }),
        Some(url::Host::Ipv6(address)) => crate::addresses::non_public(address.into())
            .map_or(Ok(()), |kind| {
                Err(blocked(&format!("[{address}]"), false, kind))
            }),
        Some(url::Host::Domain(name)) if env_proxy() => {
            let millis = timeout_ms();
            let resolving = resolve_public(name, true);
            match tokio::time::timeout(Duration::from_millis(millis), resolving).await {
                Err(_) => Err(HttpFailure::TimedOut(millis)),
                Ok(Err(e)) => match e.downcast::<BlockedAddress>() {
                    Ok(found) => Err(blocked(&found.host, true, found.kind)),
                    // A name that does not resolve here may resolve at the proxy.
                    Err(_) => Ok(()),
                },
                Ok(Ok(_)) => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The guard's refusal inside a reqwest error, if that is what it is.
fn blocked_in(error: &reqwest::Error) -> Option<HttpFailure> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<BlockedAddress>() {
            return Some(HttpFailure::Blocked {
                host: found.host.clone(),
                resolved: true,
                kind: found.kind,
            });
        }
        cause = current.source();
    }
    None
}

/// What went wrong, from the innermost cause (say, "Connection refused (os error 111)"), or in
/// words for a TLS failure whose own message is protocol jargon.
fn describe(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    loop {
        if let Some(tls) = tls_error(innermost) {
            return describe_tls(tls);
        }
        match innermost.source() {
            Some(source) => innermost = source,
            None => return innermost.to_string(),
        }
    }
}

/// The TLS error in `error`, if it is one or I/O errors wrapped around one (an I/O error's
/// `source` skips the error it wraps, so they are unwrapped here).
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = error;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let wrapped = current.downcast_ref::<std::io::Error>()?.get_ref()?;
        current = wrapped;
    }
}

fn describe_tls(error: &rustls::Error) -> String {
    match error {
        // An https:// URL whose server answered in plain HTTP (or anything but TLS).
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not answer in TLS (is it an http:// server? the URL says https://)"
                .to_owned()
        }
        rustls::Error::InvalidCertificate(reason) => {
            format!("its TLS certificate was refused ({reason:?}); a private CA can be trusted with NODE_EXTRA_CA_CERTS")
        }
        other => format!("the TLS handshake failed ({other})"),
    }
}

/// Makes `request`; runs on the runtime of whoever awaits it (napi's tokio runtime).
pub async fn send(request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let guarded = blocks_private_networks();
    let client = client(guarded)?;
    let millis = timeout_ms();
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| HttpFailure::Invalid(format!("{} is not an HTTP method", request.method)))?;
    let url = reqwest::Url::parse(&request.url)
        .map_err(|e| HttpFailure::Invalid(format!("{} is not a valid URL: {e}", request.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpFailure::Invalid(format!(
            "{} is not an http or https URL",
            request.url
        )));
    }
    // reqwest would send them as Basic authentication.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HttpFailure::Invalid(
            "the URL includes a user name or password, which are never sent".to_owned(),
        ));
    }
    if guarded {
        check_host(&url).await?;
    }
    let mut builder = client
        .request(method, url)
        .timeout(Duration::from_millis(millis));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let failed = |e: reqwest::Error| {
        if let Some(blocked) = blocked_in(&e) {
            blocked
        } else if e.is_timeout() {
            HttpFailure::TimedOut(millis)
        } else if e.is_builder() {
            HttpFailure::Invalid(describe(&e))
        } else {
            HttpFailure::Unreachable(describe(&e))
        }
    };
    SENT.fetch_add(1, Ordering::Relaxed);
    let mut response = builder.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(HttpFailure::Unreachable(format!(
                "the response body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use solid_client_authn_core::tests::support::block_on;

    #[test]
    fn a_url_with_credentials_is_never_requested() {
        for url in [
            "http://alice:hunter2@127.0.0.1:9/x",
            "http://alice@127.0.0.1:9/x",
        ] {
            let outcome = block_on(send(HttpRequest::get(url)));
            let Err(HttpFailure::Invalid(reason)) = outcome else {
                panic!("{url}: {outcome:?}")
            };
            assert!(reason.contains("user name or password"), "{reason}");
            assert!(!reason.contains("hunter2"), "{reason}");
        }
    }

    #[test]
    fn hosts_that_are_non_public_addresses_are_refused_without_dns() {
        for (url, host) in [
            ("http://127.0.0.1:3000/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
            ),
            ("http://[::1]/", "[::1]"),
            ("http://[::ffff:10.0.0.1]/", "[::ffff:10.0.0.1]"),
            ("http://[fd00::1]/", "[fd00::1]"),
        ] {
            let url = reqwest::Url::parse(url).unwrap();
            let outcome = block_on(check_host(&url));
            let Err(HttpFailure::Blocked {
                host: found,
                resolved: false,
                ..
            }) = outcome
            else {
                panic!("{url}: {outcome:?}")
            };
            assert_eq!(found, host);
        }
        for url in ["https://8.8.8.8/", "https://[2606:4700:4700::1111]/"] {
            let url = reqwest::Url::parse(url).unwrap();
            assert_eq!(block_on(check_host(&url)), Ok(()), "{url}");
        }
    }
}

//! Makes the HTTP requests that operations hand out, with reqwest and rustls.
//!
//! One client serves the whole process (it pools connections per host); it is built on first
//! use, so that loading the module costs nothing. Redirects are never followed: an IdP answer
//! that redirects is an answer like any other, and credentials never travel to another origin.
//! TLS trusts what Node trusts by default on this machine: the system's roots, plus the PEM file
//! named by `NODE_EXTRA_CA_CERTS`, so an IdP behind a private CA works.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::http::{HttpFailure, HttpRequest, HttpResponse};

/// openid-client's default, which the reference inherits.
pub const DEFAULT_TIMEOUT_MS: u64 = 3_500;
/// A response body larger than this is refused: no IdP answer is anywhere near it.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

static TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_TIMEOUT_MS);
static SENT: AtomicU64 = AtomicU64::new(0);

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

fn client() -> Result<&'static reqwest::Client, HttpFailure> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let builder = reqwest::Client::builder()
                .use_preconfigured_tls(tls_config()?)
                .redirect(reqwest::redirect::Policy::none());
            // Node's `fetch`, which the reference makes its requests with, ignores
            // HTTP_PROXY, HTTPS_PROXY and NO_PROXY unless NODE_USE_ENV_PROXY=1 (Node 24 and later
            // honour it); so do these requests, so that switching packages does not change the
            // route to the identity provider.
            let env_proxy = std::env::var_os("NODE_USE_ENV_PROXY").is_some_and(|v| v == "1");
            let builder = if env_proxy {
                builder
            } else {
                builder.no_proxy()
            };
            builder
                .build()
                .map_err(|e| format!("the HTTP client could not be set up: {e}"))
        })
        .as_ref()
        .map_err(|reason| HttpFailure::Invalid(reason.clone()))
}

/// What went wrong, from the innermost cause (say, "Connection refused (os error 111)").
fn describe(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// Makes `request`; runs on the runtime of whoever awaits it (napi's tokio runtime).
pub async fn send(request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let client = client()?;
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
        if e.is_timeout() {
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
    use crate::testing::block_on;

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
}

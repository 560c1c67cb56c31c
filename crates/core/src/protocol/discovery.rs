//! OpenID Provider discovery: where an issuer's endpoints are, cached per issuer.
//!
//! The reference runs discovery on every login, every restore and every background refresh, and
//! never reads back the `issuerConfig:<issuer>` record it writes each time. Here the metadata is
//! kept in memory per issuer for an hour, and the record is still written, in the reference's
//! shape, so that a process running the reference finds what it expects.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::http::{carries_userinfo, Http, HttpRequest};
use crate::quote;
use crate::single_flight::SingleFlight;
use crate::storage::{issuer_config_key, Storage};

/// How long discovered metadata is used before it is fetched again.
pub const CACHE_LIFETIME: Duration = Duration::from_hours(1);

/// The metadata this crate uses, read from the discovery document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct IssuerMetadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// Where authorization requests are pushed (RFC 9126), when the provider takes them.
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes_supported: Vec<String>,
    #[serde(default = "default_grant_types")]
    pub grant_types_supported: Vec<String>,
    #[serde(default = "default_auth_methods")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

// openid-client's defaults, which the reference inherits.
fn default_scopes() -> Vec<String> {
    vec!["openid".to_owned()]
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".to_owned(), "implicit".to_owned()]
}

fn default_auth_methods() -> Vec<String> {
    vec!["client_secret_basic".to_owned()]
}

/// Where the discovery document of `issuer` is: its path, a `/`, then
/// `.well-known/openid-configuration`, unless the issuer already names a well-known URL.
pub fn well_known_url(issuer: &str) -> String {
    if issuer.contains("/.well-known/") {
        return issuer.to_owned();
    }
    let mut url = issuer.to_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(".well-known/openid-configuration");
    url
}

fn same_issuer(requested: &str, advertised: &str) -> bool {
    requested.trim_end_matches('/') == advertised.trim_end_matches('/')
}

/// Reads a discovery document fetched from `url` for `issuer`.
pub fn parse(issuer: &str, url: &str, body: &[u8]) -> Result<(IssuerMetadata, Map<String, Value>)> {
    let document: Value = serde_json::from_slice(body).map_err(|e| {
        Error::idp_response(
            url,
            format!(
                "the discovery document is not JSON ({})",
                crate::session::record::syntax_reason(&e)
            ),
        )
    })?;
    let Value::Object(fields) = document else {
        return Err(Error::idp_response(
            url,
            "the discovery document is not a JSON object",
        ));
    };
    let metadata: IssuerMetadata =
        serde_json::from_value(Value::Object(fields.clone())).map_err(|e| {
            // serde's "invalid type" messages quote the value; "missing field" ones only name it.
            let message = e.to_string();
            let reason = if message.starts_with("missing field") {
                format!("incomplete: {message}")
            } else {
                "incomplete: a member it must have is not of the type the standard gives it"
                    .to_owned()
            };
            Error::idp_response(url, format!("the discovery document is {reason}"))
        })?;
    // A document that names another issuer may be a mix-up attack, or a misconfiguration
    // (127.0.0.1 for localhost): either way its tokens would not verify.
    if !same_issuer(issuer, &metadata.issuer) {
        return Err(Error::idp_response(
            url,
            format!(
                "the discovery document is for the issuer {}, not {}",
                quote::text(&metadata.issuer),
                quote::text(issuer)
            ),
        ));
    }
    check_endpoints(url, &metadata)?;
    Ok((metadata, fields))
}

/// Every endpoint the document names must be one this crate can send a request to: an http or
/// https URL, without a `user:password@` (fetch refuses such URLs, and the password would be sent
/// as Basic authentication). Checked here, once, so that a bad one is the provider's fault in the
/// error rather than a failure of whatever request first uses it.
fn check_endpoints(url: &str, metadata: &IssuerMetadata) -> Result<()> {
    let endpoints = [
        ("token_endpoint", Some(&metadata.token_endpoint)),
        ("jwks_uri", Some(&metadata.jwks_uri)),
        (
            "authorization_endpoint",
            metadata.authorization_endpoint.as_ref(),
        ),
        (
            "registration_endpoint",
            metadata.registration_endpoint.as_ref(),
        ),
        (
            "end_session_endpoint",
            metadata.end_session_endpoint.as_ref(),
        ),
        ("revocation_endpoint", metadata.revocation_endpoint.as_ref()),
        ("userinfo_endpoint", metadata.userinfo_endpoint.as_ref()),
        (
            "pushed_authorization_request_endpoint",
            metadata.pushed_authorization_request_endpoint.as_ref(),
        ),
    ];
    for (name, endpoint) in endpoints {
        let Some(endpoint) = endpoint else { continue };
        // A URL parser drops tabs and line breaks; a provider that sends them is not to be
        // second-guessed about which URL it meant.
        let problem = match url::Url::parse(endpoint) {
            _ if endpoint.chars().any(char::is_control) => "holds control characters",
            Err(_) => "is not a URL",
            Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
                "is not an http or https URL"
            }
            Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
                "carries a user name or password"
            }
            Ok(_) => continue,
        };
        return Err(Error::idp_response(
            url,
            format!(
                "the discovery document's {name} {problem}: {}",
                quote::text(endpoint)
            ),
        ));
    }
    Ok(())
}

/// The `issuerConfig:<issuer>` record as the reference writes it: camel-cased names, in its
/// order, with openid-client's defaults filled in, and absent members left out.
pub fn issuer_config_record(fields: &Map<String, Value>) -> String {
    const MEMBERS: [(&str, &str); 16] = [
        ("issuer", "issuer"),
        ("authorization_endpoint", "authorizationEndpoint"),
        ("subject_types_supported", "subjectTypesSupported"),
        ("claims_supported", "claimsSupported"),
        ("token_endpoint", "tokenEndpoint"),
        ("jwks_uri", "jwksUri"),
        ("userinfo_endpoint", "userinfoEndpoint"),
        ("registration_endpoint", "registrationEndpoint"),
        (
            "token_endpoint_auth_methods_supported",
            "tokenEndpointAuthMethodsSupported",
        ),
        (
            "token_endpoint_auth_signing_alg_values_supported",
            "tokenEndpointAuthSigningAlgValuesSupported",
        ),
        (
            "request_object_signing_alg_values_supported",
            "requestObjectSigningAlgValuesSupported",
        ),
        ("grant_types_supported", "grantTypesSupported"),
        ("response_types_supported", "responseTypesSupported"),
        (
            "id_token_signing_alg_values_supported",
            "idTokenSigningAlgValuesSupported",
        ),
        ("scopes_supported", "scopesSupported"),
        ("end_session_endpoint", "endSessionEndpoint"),
    ];
    let default = |name: &str| -> Option<Value> {
        let list = match name {
            "grant_types_supported" => default_grant_types(),
            "token_endpoint_auth_methods_supported" => default_auth_methods(),
            "scopes_supported" => default_scopes(),
            _ => return None,
        };
        Some(Value::from(list))
    };
    let mut out = Map::new();
    for (name, camel) in MEMBERS {
        if let Some(value) = fields.get(name).cloned().or_else(|| default(name)) {
            out.insert(camel.to_owned(), value);
        }
    }
    Value::Object(out).to_string()
}

/// Discovered metadata per issuer, for one Node environment.
#[derive(Default)]
pub struct DiscoveryCache {
    entries: RefCell<HashMap<String, Discovered>>,
    in_flight: SingleFlight<Discovered>,
}

/// What `discover` found.
#[derive(Clone)]
pub struct Discovered {
    pub metadata: Rc<IssuerMetadata>,
    /// The `issuerConfig` record, as the reference writes it.
    pub record: Rc<str>,
    /// Whether the document was fetched just now rather than taken from the cache.
    pub fetched: bool,
    at: Instant,
}

impl Discovered {
    /// Stores the reference's `issuerConfig:<issuer>` record when the document was fetched just
    /// now (the reference writes it; nothing reads it back). Called once what needed discovery
    /// has succeeded, so that a failed login or refresh changes nothing in storage.
    pub async fn record_if_fetched(&self, storage: &dyn Storage, issuer: &str) -> Result<()> {
        if self.fetched {
            storage
                .set(&issuer_config_key(issuer), &self.record)
                .await?;
        }
        Ok(())
    }
}

impl DiscoveryCache {
    fn cached(&self, issuer: &str) -> Option<Discovered> {
        let entries = self.entries.borrow();
        let found = entries.get(issuer)?;
        (found.at.elapsed() < CACHE_LIFETIME).then(|| Discovered {
            fetched: false,
            ..found.clone()
        })
    }

    /// The metadata of `issuer`: from the cache, or fetched (once for concurrent callers).
    pub async fn discover(&self, http: &dyn Http, issuer: &str) -> Result<Discovered> {
        if carries_userinfo(issuer) {
            return Err(Error::Configuration {
                reason: "The issuer URL includes a user name or password: an identity provider's URL cannot carry credentials (fetch refuses such a URL too)".to_owned(),
            });
        }
        if let Some(found) = self.cached(issuer) {
            return Ok(found);
        }
        self.in_flight
            .run(issuer, || self.fetch(http, issuer))
            .await
    }

    /// `discover`, then the `issuerConfig` record stored if the document was fetched.
    pub async fn discover_and_record(
        &self,
        http: &dyn Http,
        storage: &dyn Storage,
        issuer: &str,
    ) -> Result<Discovered> {
        let found = self.discover(http, issuer).await?;
        found.record_if_fetched(storage, issuer).await?;
        Ok(found)
    }

    async fn fetch(&self, http: &dyn Http, issuer: &str) -> Result<Discovered> {
        let url = well_known_url(issuer);
        let response = http
            .send(HttpRequest::get(&url).header("accept", "application/json"))
            .await
            .map_err(|failure| Error::from_http_failure(&url, failure))?;
        if response.status != 200 {
            return Err(Error::idp_response(
                &url,
                format!("discovery answered HTTP {}, expected 200", response.status),
            ));
        }
        let (metadata, fields) = parse(issuer, &url, &response.body)?;
        let found = Discovered {
            metadata: Rc::new(metadata),
            record: issuer_config_record(&fields).into(),
            fetched: true,
            at: Instant::now(),
        };
        self.entries
            .borrow_mut()
            .insert(issuer.to_owned(), found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpFailure, HttpResponse};
    use crate::tests::support::block_on;
    use std::cell::Cell;

    const DOC: &str = r#"{"issuer":"http://localhost:3000/","authorization_endpoint":"http://localhost:3000/.oidc/auth","token_endpoint":"http://localhost:3000/.oidc/token","jwks_uri":"http://localhost:3000/.oidc/jwks","claims_supported":["sub","webid"],"subject_types_supported":["public"],"scopes_supported":["openid","webid","offline_access"],"unknown":1}"#;

    struct Fixed {
        status: u16,
        body: &'static str,
        calls: Cell<u32>,
    }

    #[async_trait::async_trait(?Send)]
    impl Http for Fixed {
        async fn send(
            &self,
            request: HttpRequest,
        ) -> std::result::Result<HttpResponse, HttpFailure> {
            self.calls.set(self.calls.get() + 1);
            assert_eq!(
                request.url,
                "http://localhost:3000/.well-known/openid-configuration"
            );
            Ok(HttpResponse {
                status: self.status,
                headers: Vec::new(),
                body: self.body.as_bytes().to_vec(),
            })
        }
    }

    #[test]
    fn well_known_urls_follow_the_reference() {
        assert_eq!(
            well_known_url("https://idp"),
            "https://idp/.well-known/openid-configuration"
        );
        assert_eq!(
            well_known_url("https://idp/a"),
            "https://idp/a/.well-known/openid-configuration"
        );
        assert_eq!(
            well_known_url("https://idp/a/"),
            "https://idp/a/.well-known/openid-configuration"
        );
        let direct = "https://idp/.well-known/openid-configuration";
        assert_eq!(well_known_url(direct), direct);
    }

    #[test]
    fn discovers_once_and_writes_the_reference_record() {
        let cache = DiscoveryCache::default();
        let http = Fixed {
            status: 200,
            body: DOC,
            calls: Cell::new(0),
        };
        let first = block_on(cache.discover(&http, "http://localhost:3000")).unwrap();
        assert_eq!(
            first.metadata.token_endpoint,
            "http://localhost:3000/.oidc/token"
        );
        assert_eq!(
            first.metadata.token_endpoint_auth_methods_supported,
            ["client_secret_basic"]
        );
        assert!(first.fetched);
        assert_eq!(
            Some(&*first.record),
            Some(
                r#"{"issuer":"http://localhost:3000/","authorizationEndpoint":"http://localhost:3000/.oidc/auth","subjectTypesSupported":["public"],"claimsSupported":["sub","webid"],"tokenEndpoint":"http://localhost:3000/.oidc/token","jwksUri":"http://localhost:3000/.oidc/jwks","tokenEndpointAuthMethodsSupported":["client_secret_basic"],"grantTypesSupported":["authorization_code","implicit"],"scopesSupported":["openid","webid","offline_access"]}"#
            )
        );
        let second = block_on(cache.discover(&http, "http://localhost:3000")).unwrap();
        assert!(!second.fetched);
        assert_eq!(second.record, first.record);
        assert_eq!(http.calls.get(), 1);
    }

    #[test]
    fn bad_documents_are_typed_errors_that_quote_nothing() {
        let cases = [
            (404, DOC, "discovery answered HTTP 404"),
            (200, "<html>secret</html>", "not JSON"),
            (200, "[1]", "not a JSON object"),
            (
                200,
                r#"{"issuer":"http://localhost:3000/"}"#,
                "incomplete: missing field `token_endpoint`",
            ),
            (
                200,
                r#"{"issuer":"http://localhost:3000/","token_endpoint":"t","jwks_uri":"j","scopes_supported":"secret"}"#,
                "not of the type the standard gives it",
            ),
            (
                200,
                r#"{"issuer":"http://127.0.0.1:3000/","token_endpoint":"t","jwks_uri":"j"}"#,
                "for the issuer http://127.0.0.1:3000/, not http://localhost:3000",
            ),
        ];
        for (status, body, expected) in cases {
            let cache = DiscoveryCache::default();
            let http = Fixed {
                status,
                body,
                calls: Cell::new(0),
            };
            let Err(error) = block_on(cache.discover(&http, "http://localhost:3000")) else {
                panic!("{body} must fail")
            };
            let message = error.to_string();
            assert!(matches!(error, Error::IdpResponse { .. }), "{message}");
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("secret"));
        }
    }

    fn document_with(member: &str, value: &str) -> Vec<u8> {
        let mut fields: Map<String, Value> = serde_json::from_str(DOC).unwrap();
        fields.insert(member.to_owned(), Value::from(value));
        Value::Object(fields).to_string().into_bytes()
    }

    #[test]
    fn endpoints_that_no_request_can_go_to_are_the_providers_fault() {
        let url = "http://localhost:3000/.well-known/openid-configuration";
        let cases = [
            ("token_endpoint", "data:text/plain,x", "token_endpoint is not an http or https URL"),
            ("token_endpoint", "/relative/token", "token_endpoint is not a URL"),
            (
                "jwks_uri",
                "https://user:pass@idp.example/jwks",
                "jwks_uri carries a user name or password: https://[redacted]@idp.example/jwks",
            ),
            (
                "token_endpoint",
                "http://localhost:3000/token\r\nX-Injected: 1",
                "token_endpoint holds control characters: http://localhost:3000/token\\u{d}\\u{a}X-Injected: 1",
            ),
            (
                "end_session_endpoint",
                "javascript:alert(1)",
                "end_session_endpoint is not an http or https URL",
            ),
        ];
        for (member, value, expected) in cases {
            let Err(error) = parse("http://localhost:3000", url, &document_with(member, value))
            else {
                panic!("{member} {value} must be refused")
            };
            let message = error.to_string();
            assert!(matches!(error, Error::IdpResponse { .. }), "{message}");
            assert!(message.contains(expected), "{message}");
            assert!(
                !message.contains('\n') && !message.contains(":pass@"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_hostile_issuer_is_quoted_short_and_escaped() {
        let issuer = format!("http://evil/\u{1b}[2J\n{}", "x".repeat(4_000_000));
        let url = "http://localhost:3000/.well-known/openid-configuration";
        let error = parse(
            "http://localhost:3000",
            url,
            &document_with("issuer", &issuer),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.len() < 600, "{} bytes", message.len());
        assert!(
            message.contains("http://evil/\\u{1b}[2J\\u{a}xxx"),
            "{message}"
        );
        assert!(!message.contains('\u{1b}') && !message.contains('\n'));
    }

    #[test]
    fn credentials_in_the_issuer_or_an_endpoint_are_refused_and_never_sent() {
        let cache = DiscoveryCache::default();
        let http = Fixed {
            status: 200,
            body: DOC,
            calls: Cell::new(0),
        };
        for issuer in [
            "http://user:pass@localhost:3000",
            "http://user@localhost:3000",
        ] {
            let Err(error) = block_on(cache.discover(&http, issuer)) else {
                panic!("{issuer} must be refused")
            };
            assert!(matches!(error, Error::Configuration { .. }), "{error}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        assert_eq!(http.calls.get(), 0);

        let body = DOC.replace(
            "\"jwks_uri\":\"http://localhost:3000/",
            "\"jwks_uri\":\"http://user:secret@localhost:3000/",
        );
        let http = Fixed {
            status: 200,
            body: body.leak(),
            calls: Cell::new(0),
        };
        let Err(error) = block_on(cache.discover(&http, "http://localhost:3000")) else {
            panic!("a jwks_uri with credentials must be refused")
        };
        let message = error.to_string();
        assert!(matches!(error, Error::IdpResponse { .. }), "{message}");
        assert!(
            message.contains("jwks_uri carries a user name or password"),
            "{message}"
        );
        assert!(!message.contains("secret"), "{message}");
    }
}

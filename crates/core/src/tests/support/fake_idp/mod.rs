//! An OpenID provider in process, behind the HTTP seam: what the flow tests log in against
//! instead of a Solid server.
//!
//! It serves discovery, its key set, dynamic registration, pushed authorization requests (when
//! a test turns them on), the token endpoint (authorization code with PKCE, client credentials,
//! refresh token with or without rotation) and revocation,
//! and it checks what a strict provider checks: client authentication, the code's client,
//! redirect URI and PKCE verifier, DPoP proofs (signature, method, URL, age, replay, nonce), and
//! the key a refresh token is bound to. A refresh token presented again after it was rotated
//! revokes its whole grant, as providers that detect reuse do. Every request is logged, so tests
//! count what each endpoint received.
//!
//! Nothing waits and nothing leaves the process: every answer is made inside `send`. The user's
//! part of the authorization-code flow (following the authorization URL and consenting) is
//! `FakeIdp::authorize`, which gives the URL the provider redirects the user back to.

// A test helper: a panic is how it fails a test.
#![allow(clippy::missing_panics_doc)]

use std::cell::{Cell, RefCell, RefMut};
use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::es256::Es256;
use crate::http::{Http, HttpFailure, HttpRequest, HttpResponse};

mod dpop_proof;
mod pushed_authorization;
mod token_endpoint;

/// The provider's issuer URL.
pub const ISSUER: &str = "https://idp.example/";
/// The WebID every token names.
pub const WEB_ID: &str = "https://alice.example/profile/card#me";
/// How long ID tokens live, in seconds.
pub const ID_TOKEN_LIFETIME: u64 = 3600;
/// How far a DPoP proof's `iat` may be from now, in seconds.
const PROOF_AGE_LIMIT: u64 = 60;
/// The key id of the provider's one signing key.
const KID: &str = "fake-idp-es256";

/// The provider's endpoints, for counting the requests each received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Discovery,
    Jwks,
    Registration,
    /// The pushed authorization request endpoint (RFC 9126).
    PushedAuthorization,
    Token,
    Revocation,
    /// A URL the provider does not serve (answered 404).
    Unknown,
}

impl Endpoint {
    fn of(method: &str, url: &str) -> Self {
        match (method, url.strip_prefix(ISSUER)) {
            ("GET", Some(".well-known/openid-configuration")) => Self::Discovery,
            ("GET", Some("jwks")) => Self::Jwks,
            ("POST", Some("register")) => Self::Registration,
            ("POST", Some("par")) => Self::PushedAuthorization,
            ("POST", Some("token")) => Self::Token,
            ("POST", Some("revoke")) => Self::Revocation,
            _ => Self::Unknown,
        }
    }
}

/// One request the provider received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub endpoint: Endpoint,
    /// The `grant_type` of a token request.
    pub grant_type: Option<String>,
    /// Whether it carried a DPoP proof.
    pub dpop: bool,
}

/// What the token endpoint does with a refresh token it issued and that is still good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refreshes {
    /// A new refresh token comes with the new tokens; the one presented is spent.
    Rotated,
    /// No refresh token comes back; the one presented stays good.
    Kept,
    /// Every refresh is refused (`invalid_grant`).
    Refused,
}

/// How the provider behaves; tests change it between steps (`FakeIdp::settings`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Access tokens' lifetime in seconds (`expires_in`). 0 makes a token due as soon as it is
    /// stored: the next restore renews it.
    pub access_token_lifetime: u64,
    /// What the token endpoint does with a refresh.
    pub refreshes: Refreshes,
    /// Whether the client-credentials grant answers with an ID token too. Community Solid
    /// Server sends none; the WebID is then read from the access token.
    pub id_token_for_client_credentials: bool,
    /// The DPoP nonce the token endpoint requires, if any (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    /// Whether every request fails as if the provider could not be reached.
    pub unreachable: bool,
    /// Whether ID tokens name another client as their audience: an answer the client must
    /// refuse after the provider has spent the refresh token it presented.
    pub id_tokens_for_another_client: bool,
    /// Whether discovery advertises the pushed authorization request endpoint, and how it
    /// answers.
    pub pushed_requests: PushedRequests,
}

/// The pushed authorization request endpoint (RFC 9126), as discovery advertises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushedRequests {
    /// Not advertised (nor served).
    Off,
    /// Advertised, and taking requests.
    Taken,
    /// Advertised, and out of reach.
    Unreachable,
    /// Advertised, and answering 201 with a body that is not JSON.
    Garbage,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_token_lifetime: 3600,
            refreshes: Refreshes::Rotated,
            id_token_for_client_credentials: false,
            dpop_nonce: None,
            unreachable: false,
            id_tokens_for_another_client: false,
            pushed_requests: PushedRequests::Off,
        }
    }
}

/// A client the provider knows: registered, or a static one a test added.
struct Client {
    secret: Option<String>,
    redirect_uris: Vec<String>,
}

/// An authorization code not exchanged yet.
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
}

/// What a refresh token stands for.
struct RefreshGrant {
    client_id: String,
    /// The thumbprint of the DPoP key it is bound to (a public client's, RFC 9449 §5).
    jkt: Option<String>,
    /// The login it descends from: a reused token revokes all of them.
    family: u64,
    spent: bool,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, Client>,
    codes: HashMap<String, Code>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    proof_ids: HashSet<String>,
    revoked: Vec<String>,
    seen: Vec<Seen>,
    /// Pushed authorization requests by their `request_uri`: their parameters, in order.
    pushed: HashMap<String, Vec<(String, String)>>,
}

/// The provider. One per test: its state is the test's.
pub struct FakeIdp {
    key: Es256,
    settings: RefCell<Settings>,
    state: RefCell<State>,
    counter: Cell<u64>,
    /// The bodies of pushed authorization requests, as received.
    pushed_bodies: RefCell<Vec<String>>,
}

impl Default for FakeIdp {
    fn default() -> Self {
        Self::new()
    }
}

/// An error as RFC 6749 §5.2 words it.
fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string().into_bytes(),
    }
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The members of a form body.
fn form(request: &HttpRequest) -> HashMap<String, String> {
    let body = request.body.as_deref().unwrap_or_default();
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

impl FakeIdp {
    pub fn new() -> Self {
        Self {
            key: Es256::from_seed(7),
            settings: RefCell::default(),
            state: RefCell::default(),
            counter: Cell::new(0),
            pushed_bodies: RefCell::default(),
        }
    }

    /// How the provider behaves from now on.
    pub fn settings(&self) -> RefMut<'_, Settings> {
        self.settings.borrow_mut()
    }

    /// The provider's signing key, to sign tokens of one's own with (an ID token for
    /// `check_id_token`, say).
    pub fn signing_key(&self) -> &Es256 {
        &self.key
    }

    /// A URL of the provider's.
    pub fn url(path: &str) -> String {
        format!("{ISSUER}{path}")
    }

    /// A number not handed out before.
    fn next(&self) -> u64 {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }

    /// A fresh name: `prefix-1`, `prefix-2`, and so on.
    fn fresh(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next())
    }

    /// Makes a client known, as an administrator registers a static one; `None` for a public
    /// client.
    pub fn add_client(&self, client_id: &str, secret: Option<&str>) {
        self.state.borrow_mut().clients.insert(
            client_id.to_owned(),
            Client {
                secret: secret.map(str::to_owned),
                redirect_uris: Vec::new(),
            },
        );
    }

    /// Forgets a client: the provider then refuses it (`invalid_client`).
    pub fn remove_client(&self, client_id: &str) {
        self.state.borrow_mut().clients.remove(client_id);
    }

    /// A refresh token for `client_id`, as an earlier login elsewhere would have left it: bound
    /// to the key of thumbprint `jkt` when given.
    pub fn mint_refresh_token(&self, client_id: &str, jkt: Option<&str>) -> String {
        let token = self.fresh("rt");
        let family = self.next();
        self.state.borrow_mut().refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                jkt: jkt.map(str::to_owned),
                family,
                spent: false,
            },
        );
        token
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.borrow().seen.clone()
    }

    /// How many requests `endpoint` received.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.state
            .borrow()
            .seen
            .iter()
            .filter(|s| s.endpoint == endpoint)
            .count()
    }

    /// How many token requests asked for `grant_type`.
    pub fn grants(&self, grant_type: &str) -> usize {
        self.state
            .borrow()
            .seen
            .iter()
            .filter(|s| s.grant_type.as_deref() == Some(grant_type))
            .count()
    }

    /// The tokens the revocation endpoint took back, in order.
    pub fn revoked(&self) -> Vec<String> {
        self.state.borrow().revoked.clone()
    }

    /// The refresh tokens that would be accepted now.
    pub fn live_refresh_tokens(&self) -> Vec<String> {
        let state = self.state.borrow();
        let live = state.refresh_tokens.iter().filter(|(_, g)| !g.spent);
        live.map(|(token, _)| token.clone()).collect()
    }

    /// Whether `refresh_token` would be accepted now.
    pub fn is_live(&self, refresh_token: &str) -> bool {
        self.state
            .borrow()
            .refresh_tokens
            .get(refresh_token)
            .is_some_and(|grant| !grant.spent)
    }

    /// The user follows `authorization_url` and consents: the URL the provider redirects them
    /// to, with a code bound to the request's PKCE challenge, its state and the issuer.
    pub fn authorize(&self, authorization_url: &str) -> String {
        let url = url::Url::parse(authorization_url).expect("an authorization URL");
        assert_eq!(
            url[..url::Position::AfterPath],
            Self::url("authorize"),
            "sent to the authorization endpoint"
        );
        let mut query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        if let Some(request_uri) = query.get("request_uri").cloned() {
            let pushed = self.state.borrow_mut().pushed.remove(&request_uri);
            let pushed = pushed.unwrap_or_else(|| panic!("unknown request_uri {request_uri}"));
            let pushed: HashMap<String, String> = pushed.into_iter().collect();
            assert_eq!(query.get("client_id"), pushed.get("client_id"));
            query = pushed;
        }
        let param = |name: &str| {
            query
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("the authorization request has no {name}"))
        };
        assert_eq!(param("response_type"), "code");
        assert_eq!(param("code_challenge_method"), "S256");
        assert!(param("scope").split(' ').any(|s| s == "openid"));
        let (client_id, redirect_uri) = (param("client_id"), param("redirect_uri"));
        if let Some(client) = self.state.borrow().clients.get(&client_id) {
            assert!(
                client.redirect_uris.is_empty() || client.redirect_uris.contains(&redirect_uri),
                "{redirect_uri} is not a redirect URI of {client_id}"
            );
        } else {
            // A Solid-OIDC Client ID document: a public client named by its URL.
            assert!(
                url::Url::parse(&client_id).is_ok(),
                "unknown client {client_id}"
            );
        }
        let code = self.fresh("code");
        self.state.borrow_mut().codes.insert(
            code.clone(),
            Code {
                client_id,
                redirect_uri: redirect_uri.clone(),
                challenge: param("code_challenge"),
            },
        );
        let mut back = url::Url::parse(&redirect_uri).expect("a redirect URI");
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &param("state"))
            .append_pair("iss", ISSUER);
        back.to_string()
    }

    fn discovery(&self) -> Value {
        let mut document = Self::plain_discovery();
        if self.settings.borrow().pushed_requests != PushedRequests::Off {
            document["pushed_authorization_request_endpoint"] = Value::from(Self::url("par"));
        }
        document
    }

    fn plain_discovery() -> Value {
        json!({
            "issuer": ISSUER,
            "authorization_endpoint": Self::url("authorize"),
            "token_endpoint": Self::url("token"),
            "jwks_uri": Self::url("jwks"),
            "registration_endpoint": Self::url("register"),
            "revocation_endpoint": Self::url("revoke"),
            "end_session_endpoint": Self::url("logout"),
            "scopes_supported": ["openid", "offline_access", "webid"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "claims_supported": ["sub", "webid", "azp"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "dpop_signing_alg_values_supported": ["ES256"],
        })
    }

    fn register(&self, request: &HttpRequest) -> HttpResponse {
        let Some(Value::Object(body)) = request
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
        else {
            return oauth_error(400, "invalid_client_metadata", "not a JSON object");
        };
        let redirect_uris: Vec<String> = body
            .get("redirect_uris")
            .and_then(Value::as_array)
            .map(|uris| {
                uris.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if redirect_uris.is_empty() {
            return oauth_error(400, "invalid_redirect_uri", "no redirect_uris");
        }
        let client_id = self.fresh("client");
        let secret = self.fresh("secret");
        self.state.borrow_mut().clients.insert(
            client_id.clone(),
            Client {
                secret: Some(secret.clone()),
                redirect_uris: redirect_uris.clone(),
            },
        );
        json_response(
            201,
            &json!({
                "client_id": client_id,
                "client_secret": secret,
                "client_secret_expires_at": 0,
                "redirect_uris": redirect_uris,
                "id_token_signed_response_alg": "ES256",
                "token_endpoint_auth_method": "client_secret_basic",
            }),
        )
    }

    fn answer(&self, request: &HttpRequest, endpoint: Endpoint) -> HttpResponse {
        match endpoint {
            Endpoint::Discovery => json_response(200, &self.discovery()),
            Endpoint::Jwks => json_response(200, &json!({ "keys": [self.key.jwk(Some(KID))] })),
            Endpoint::Registration => self.register(request),
            Endpoint::PushedAuthorization => self.push(request),
            Endpoint::Token => self.token(request),
            Endpoint::Revocation => self.revoke(request),
            Endpoint::Unknown => oauth_error(404, "not_found", "no such endpoint"),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Http for FakeIdp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let endpoint = Endpoint::of(request.method, &request.url);
        self.state.borrow_mut().seen.push(Seen {
            endpoint,
            grant_type: form(&request).remove("grant_type"),
            dpop: header(&request, "dpop").is_some(),
        });
        let settings = self.settings.borrow().clone();
        let push_unreachable = endpoint == Endpoint::PushedAuthorization
            && settings.pushed_requests == PushedRequests::Unreachable;
        if settings.unreachable || push_unreachable {
            return Err(HttpFailure::Unreachable("connection refused".to_owned()));
        }
        Ok(self.answer(&request, endpoint))
    }
}

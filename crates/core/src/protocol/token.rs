//! The token endpoint (RFC 6749 §3.2): one request per grant, with client authentication, a
//! DPoP proof, and one retry when the provider asks for a DPoP nonce (RFC 9449 §8).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest, HttpResponse};
use crate::protocol::token_type::TokenType;
use crate::secret::Secret;

/// How the client proves who it is at the token endpoint.
pub enum ClientAuth<'a> {
    /// `client_secret_basic`: id and secret in the Authorization header.
    Basic {
        client_id: &'a str,
        secret: &'a Secret,
    },
    /// `client_secret_post`: id and secret in the form.
    Post {
        client_id: &'a str,
        secret: &'a Secret,
    },
    /// A public client (`none`): only its id, in the form.
    Public { client_id: &'a str },
}

impl<'a> ClientAuth<'a> {
    /// The method openid-client (and so the reference) picks: Basic, unless the provider lists
    /// `client_secret_post` and not `client_secret_basic`.
    pub fn for_provider(
        methods: &[String],
        client_id: &'a str,
        secret: Option<&'a Secret>,
    ) -> Self {
        let Some(secret) = secret else {
            return ClientAuth::Public { client_id };
        };
        let lists = |m: &str| methods.iter().any(|x| x == m);
        if lists("client_secret_post") && !lists("client_secret_basic") {
            ClientAuth::Post { client_id, secret }
        } else {
            ClientAuth::Basic { client_id, secret }
        }
    }
}

/// What a successful token request gave.
#[derive(Debug)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: TokenType,
    /// Seconds, as the provider said, at most [`MAX_LIFETIME_SECONDS`].
    pub expires_in: Option<u64>,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<Secret>,
}

/// The longest access-token lifetime taken as said: a year. A longer one (up to the 2^64 s a
/// provider may write) is cut to it, since it changes nothing but the date a JS `Date` must
/// hold; the session is refreshed or expires long before either way.
pub const MAX_LIFETIME_SECONDS: u64 = 365 * 24 * 60 * 60;

/// A token request that failed, with the new refresh token its answer held, if any: a provider
/// that rotates refresh tokens has spent the old one once it answers, so that token must be kept
/// whatever else in the answer was wrong. Converts into the error for callers with nothing to
/// keep.
#[derive(Debug)]
pub struct Refused {
    pub error: Error,
    pub new_refresh_token: Option<Secret>,
}

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Self {
            error,
            new_refresh_token: None,
        }
    }
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Self {
        refused.error
    }
}

/// Whether a token can be sent as it is in an HTTP header (`Authorization: DPoP <token>`), and
/// so be stored at all: visible ASCII only. A control character (CR, LF, NUL) would make every
/// request with it fail, in an error that quotes the header, token and all; a space would
/// change what the header says.
pub fn is_header_safe_token(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_graphic())
}

/// The latest `DPoP-Nonce` each origin sent, for one Node environment.
///
/// Any server `session.fetch` reaches can send one, so what is kept is bounded: one entry per
/// origin as the URL standard spells it (`http://A:0080` and `http://a` are one), at most
/// `MAX_ORIGINS` of them (the one set longest ago goes first), and no nonce longer than
/// `MAX_NONCE_BYTES`.
#[derive(Default, Debug)]
pub struct NonceCache {
    entries: RefCell<NonceEntries>,
}

#[derive(Default, Debug)]
struct NonceEntries {
    /// Per origin: its nonce, and when it was set (a count, the key of `by_age`).
    by_origin: HashMap<String, (String, u64)>,
    /// The origins by when their nonce was set, oldest first.
    by_age: BTreeMap<u64, String>,
    sets: u64,
}

/// How many origins' nonces are kept: far more than the servers one process talks to at a time.
pub const MAX_ORIGINS: usize = 4096;
/// A longer nonce is not kept (RFC 9449 nonces are short opaque strings, tens of characters).
pub const MAX_NONCE_BYTES: usize = 512;
/// An origin longer than this (a host name beyond what DNS allows) keeps no nonce.
const MAX_ORIGIN_BYTES: usize = 300;

/// The origin of a URL as the URL standard serialises it: scheme, lower-cased host and port,
/// the scheme's default port left out (`https://idp.example:8443`). `None` for a URL that does
/// not parse or has no such origin (`data:`, `file:`).
pub fn origin_of(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

impl NonceCache {
    pub fn get(&self, url: &str) -> Option<String> {
        let origin = origin_of(url)?;
        let entries = self.entries.borrow();
        entries
            .by_origin
            .get(&origin)
            .map(|(nonce, _)| nonce.clone())
    }

    /// Keeps `nonce` as the latest for the origin of `url`. One that is too long to keep still
    /// replaces what was kept: the origin's earlier nonce is stale now.
    pub fn set(&self, url: &str, nonce: &str) {
        let Some(origin) = origin_of(url).filter(|o| o.len() <= MAX_ORIGIN_BYTES) else {
            return;
        };
        let mut entries = self.entries.borrow_mut();
        let entries = &mut *entries;
        if let Some((_, set_at)) = entries.by_origin.remove(&origin) {
            entries.by_age.remove(&set_at);
        }
        if nonce.len() > MAX_NONCE_BYTES {
            return;
        }
        while entries.by_origin.len() >= MAX_ORIGINS {
            let Some((_, oldest)) = entries.by_age.pop_first() else {
                break;
            };
            entries.by_origin.remove(&oldest);
        }
        entries.sets += 1;
        let set_at = entries.sets;
        entries.by_age.insert(set_at, origin.clone());
        entries.by_origin.insert(origin, (nonce.to_owned(), set_at));
    }

    pub fn remember(&self, url: &str, response: &HttpResponse) {
        if let Some(nonce) = response.header("dpop-nonce") {
            self.set(url, nonce);
        }
    }

    /// How many origins have a nonce kept.
    pub fn len(&self) -> usize {
        self.entries.borrow().by_origin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `application/x-www-form-urlencoded`, as RFC 6749 §2.3.1 wants the Basic credentials encoded.
pub fn basic_credentials(client_id: &str, secret: &Secret) -> String {
    let encode = |text: &str| {
        let form = HttpRequest::post_form("", &[("x", text)])
            .body
            .unwrap_or_default();
        form.trim_start_matches("x=").to_owned()
    };
    let pair = format!("{}:{}", encode(client_id), encode(secret.expose()));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Signs a DPoP proof for a POST to the token endpoint, with the nonce it last sent.
pub type ProofSigner<'a> = &'a dyn Fn(Option<&str>) -> Result<String>;

/// Makes a token request. `proof` signs a DPoP proof for a POST to the endpoint with the given
/// nonce; without it the request (and its token) is Bearer.
pub async fn request(
    http: &dyn Http,
    endpoint: &str,
    grant: &[(&str, &str)],
    auth: &ClientAuth<'_>,
    proof: Option<ProofSigner<'_>>,
    nonces: &NonceCache,
) -> Result<TokenResponse, Refused> {
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    let mut authorization = None;
    match auth {
        ClientAuth::Basic { client_id, secret } => {
            authorization = Some(basic_credentials(client_id, secret));
        }
        ClientAuth::Post { client_id, secret } => {
            form.push(("client_id", client_id));
            form.push(("client_secret", secret.expose()));
        }
        ClientAuth::Public { client_id } => form.push(("client_id", client_id)),
    }
    let mut nonce = nonces.get(endpoint);
    let mut retried = false;
    loop {
        let mut request =
            HttpRequest::post_form(endpoint, &form).header("accept", "application/json");
        if let Some(value) = &authorization {
            request = request.header("authorization", value.clone());
        }
        if let Some(sign) = proof {
            request = request.header("dpop", sign(nonce.as_deref())?);
        }
        let response = http
            .send(request)
            .await
            .map_err(|failure| Error::from_http_failure(endpoint, failure))?;
        nonces.remember(endpoint, &response);
        if response.status == 200 {
            return parse_token_response(endpoint, &response.body);
        }
        let error = oauth_error(endpoint, &response);
        let wants_nonce = matches!(&error, Error::OAuth { error, .. } if error == "use_dpop_nonce");
        let fresh_nonce = response.header("dpop-nonce").map(str::to_owned);
        if wants_nonce && proof.is_some() && !retried && fresh_nonce.is_some() {
            retried = true;
            nonce = fresh_nonce;
            continue;
        }
        return Err(error.into());
    }
}

/// `request`, with DPoP proofs signed by `key` (none: the request, and its token, are Bearer).
pub async fn request_with_key(
    http: &dyn Http,
    endpoint: &str,
    grant: &[(&str, &str)],
    auth: &ClientAuth<'_>,
    key: Option<&crate::protocol::dpop::DpopKey>,
    nonces: &NonceCache,
) -> Result<TokenResponse, Refused> {
    let Some(key) = key else {
        return request(http, endpoint, grant, auth, None, nonces).await;
    };
    let sign =
        |nonce: Option<&str>| -> Result<String> { Ok(key.proof("POST", endpoint, None, nonce)?) };
    request(http, endpoint, grant, auth, Some(&sign), nonces).await
}

/// The error a refusing token endpoint sent, or a description of its answer when it sent none.
fn oauth_error(url: &str, response: &HttpResponse) -> Error {
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&response.body) {
        if let Some(Value::String(error)) = fields.get("error") {
            let description = match fields.get("error_description") {
                Some(Value::String(d)) => Some(d.as_str()),
                _ => None,
            };
            return Error::oauth(url, error, description);
        }
    }
    Error::idp_response(
        url,
        format!(
            "the token endpoint answered HTTP {} without an OAuth error",
            response.status
        ),
    )
}

/// A lifetime in whole seconds, at most [`MAX_LIFETIME_SECONDS`]; `None` for one that is
/// negative or not finite.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "the value is finite, non-negative and clamped to a year before the cast"
)]
fn whole_seconds(seconds: f64) -> Option<u64> {
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| seconds.min(MAX_LIFETIME_SECONDS as f64).round() as u64)
}

/// `expires_in` as the provider wrote it (a number, or a numeric string as some send): `None`
/// when absent, an error when it is not a lifetime.
fn lifetime(value: Option<Value>) -> Result<Option<u64>, &'static str> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(whole) => return Ok(Some(whole.min(MAX_LIFETIME_SECONDS))),
            None => n.as_f64(),
        },
        // Empty, as for the token members: absent.
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => return Err("has an expires_in that is not a number"),
    };
    seconds
        .and_then(whole_seconds)
        .map(Some)
        .ok_or("has an expires_in that is not a finite, non-negative number of seconds")
}

/// A token member of a token response: none when absent or empty, refused when it is not a
/// string that can go into a header (the reason, to follow "the token response").
fn take_token(fields: &mut Map<String, Value>, name: &str) -> Result<Option<Secret>, String> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if is_header_safe_token(&s) => Ok(Some(Secret::new(s))),
        Some(Value::String(_)) => Err(format!(
            "has a {name} that is not a valid HTTP header value (it holds a space, a control or a non-ASCII character)"
        )),
        Some(_) => Err(format!("has a {name} that is not a string")),
    }
}

fn parse_token_response(url: &str, body: &[u8]) -> Result<TokenResponse, Refused> {
    let bad = |reason: &str| Error::idp_response(url, format!("the token response {reason}"));
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("is not a JSON object").into());
    };
    // First, so that whatever else is wrong, a rotated refresh token is handed back.
    let refresh_token = take_token(&mut fields, "refresh_token").map_err(|r| bad(&r))?;
    let refused = |reason: &str| Refused {
        error: bad(reason),
        new_refresh_token: refresh_token.clone(),
    };
    let access_token = take_token(&mut fields, "access_token")
        .map_err(|r| refused(&r))?
        .ok_or_else(|| refused("has no access_token"))?;
    let id_token = take_token(&mut fields, "id_token").map_err(|r| refused(&r))?;
    let token_type = match fields.remove("token_type") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case("dpop") => TokenType::DPoP,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => TokenType::Bearer,
        None | Some(Value::Null) => return Err(refused("has no token_type")),
        Some(Value::String(t)) if t.is_empty() => return Err(refused("has no token_type")),
        Some(Value::String(_)) => {
            return Err(refused("has a token_type other than DPoP or Bearer"))
        }
        Some(_) => return Err(refused("has a token_type that is not a string")),
    };
    let expires_in = lifetime(fields.remove("expires_in")).map_err(refused)?;
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        id_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpFailure;
    use crate::testing::block_on;
    use std::cell::RefCell;

    /// Answers from a list, in order, and keeps the requests.
    struct Scripted {
        answers: RefCell<Vec<HttpResponse>>,
        seen: RefCell<Vec<HttpRequest>>,
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn scripted(answers: Vec<HttpResponse>) -> Scripted {
        Scripted {
            answers: RefCell::new(answers.into_iter().rev().collect()),
            seen: RefCell::default(),
        }
    }

    #[async_trait::async_trait(?Send)]
    impl Http for Scripted {
        async fn send(
            &self,
            request: HttpRequest,
        ) -> std::result::Result<HttpResponse, HttpFailure> {
            self.seen.borrow_mut().push(request);
            self.answers
                .borrow_mut()
                .pop()
                .ok_or_else(|| HttpFailure::Unreachable("no more answers".into()))
        }
    }

    const OK: &str =
        r#"{"access_token":"AT-SECRET","token_type":"DPoP","expires_in":600,"scope":"webid"}"#;

    #[test]
    fn client_credentials_with_basic_auth_and_a_proof() {
        let http = scripted(vec![answer(200, &[], OK)]);
        let secret = Secret::new("s3cr:et");
        let auth =
            ClientAuth::for_provider(&["client_secret_basic".into()], "app id", Some(&secret));
        let sign = |nonce: Option<&str>| Ok(format!("proof-{}", nonce.unwrap_or("none")));
        let nonces = NonceCache::default();
        let tokens = block_on(request(
            &http,
            "https://idp/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid webid"),
            ],
            &auth,
            Some(&sign),
            &nonces,
        ))
        .map_err(Error::from)
        .unwrap();
        assert_eq!(tokens.access_token.expose(), "AT-SECRET");
        assert_eq!(tokens.token_type, TokenType::DPoP);
        assert_eq!(tokens.expires_in, Some(600));
        assert!(tokens.refresh_token.is_none());
        let seen = http.seen.borrow();
        assert_eq!(
            seen[0].body.as_deref(),
            Some("grant_type=client_credentials&scope=openid+webid")
        );
        let header = |name: &str| {
            seen[0]
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        // base64("app+id:s3cr%3Aet")
        assert_eq!(
            header("authorization").as_deref(),
            Some("Basic YXBwK2lkOnMzY3IlM0FldA==")
        );
        assert_eq!(header("dpop").as_deref(), Some("proof-none"));
        assert!(!format!("{tokens:?}").contains("AT-SECRET"));
    }

    #[test]
    fn post_auth_when_it_is_the_only_one_listed_and_public_clients() {
        let secret = Secret::new("sec");
        assert!(matches!(
            ClientAuth::for_provider(&["client_secret_post".into()], "a", Some(&secret)),
            ClientAuth::Post { .. }
        ));
        assert!(matches!(
            ClientAuth::for_provider(
                &["client_secret_post".into(), "client_secret_basic".into()],
                "a",
                Some(&secret)
            ),
            ClientAuth::Basic { .. }
        ));
        let http = scripted(vec![answer(200, &[], OK)]);
        block_on(request(
            &http,
            "https://idp/token",
            &[("grant_type", "x")],
            &ClientAuth::Public { client_id: "a" },
            None,
            &NonceCache::default(),
        ))
        .map_err(Error::from)
        .unwrap();
        assert_eq!(
            http.seen.borrow()[0].body.as_deref(),
            Some("grant_type=x&client_id=a")
        );
        assert!(http.seen.borrow()[0]
            .headers
            .iter()
            .all(|(k, _)| k != "dpop" && k != "authorization"));
    }

    #[test]
    fn a_nonce_request_is_retried_once_and_the_nonce_remembered() {
        let use_nonce = r#"{"error":"use_dpop_nonce","error_description":"nonce please"}"#;
        let http = scripted(vec![
            answer(400, &[("dpop-nonce", "n-1")], use_nonce),
            answer(200, &[("dpop-nonce", "n-2")], OK),
        ]);
        let sign = |nonce: Option<&str>| Ok(format!("proof-{}", nonce.unwrap_or("none")));
        let nonces = NonceCache::default();
        let auth = ClientAuth::Public { client_id: "a" };
        block_on(request(
            &http,
            "https://idp:8443/token",
            &[],
            &auth,
            Some(&sign),
            &nonces,
        ))
        .map_err(Error::from)
        .unwrap();
        let proofs: Vec<String> = http
            .seen
            .borrow()
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .find(|(k, _)| k == "dpop")
                    .unwrap()
                    .1
                    .clone()
            })
            .collect();
        assert_eq!(proofs, ["proof-none", "proof-n-1"]);
        assert_eq!(nonces.get("https://idp:8443/other").as_deref(), Some("n-2"));

        // Asked twice: the second refusal is the error.
        let http = scripted(vec![
            answer(400, &[("dpop-nonce", "a")], use_nonce),
            answer(400, &[("dpop-nonce", "b")], use_nonce),
        ]);
        let e = block_on(request(
            &http,
            "https://idp/token",
            &[],
            &auth,
            Some(&sign),
            &NonceCache::default(),
        ))
        .map_err(Error::from)
        .unwrap_err();
        assert!(matches!(e, Error::OAuth { ref error, .. } if error == "use_dpop_nonce"));
    }

    #[test]
    fn refusals_and_bad_answers_are_typed_and_quote_no_token() {
        let auth = ClientAuth::Public { client_id: "a" };
        let run = |status, body: &str| {
            let http = scripted(vec![answer(status, &[], body)]);
            block_on(request(
                &http,
                "https://idp/token",
                &[],
                &auth,
                None,
                &NonceCache::default(),
            ))
            .map_err(Error::from)
            .unwrap_err()
        };
        let e = run(
            400,
            r#"{"error":"invalid_grant","error_description":"the refresh token was revoked"}"#,
        );
        assert_eq!(
            e.to_string(),
            "the identity provider refused the request to https://idp/token: invalid_grant (the refresh token was revoked)"
        );
        let e = run(401, r#"{"error":"invalid_client"}"#);
        assert!(
            matches!(e, Error::OAuth { ref error, ref description, .. } if error == "invalid_client" && description.is_none())
        );
        for (status, body, reason) in [
            (
                502,
                "<html>SECRET</html>",
                "answered HTTP 502 without an OAuth error",
            ),
            (200, "SECRET", "is not a JSON object"),
            (
                200,
                r#"{"token_type":"DPoP","refresh_token":"SECRET"}"#,
                "has no access_token",
            ),
            (
                200,
                r#"{"access_token":"SECRET","token_type":"MAC"}"#,
                "token_type other than DPoP or Bearer",
            ),
            (
                200,
                r#"{"access_token":"SECRET","token_type":"bearer","expires_in":{}}"#,
                "expires_in that is not a number",
            ),
        ] {
            let e = run(status, body);
            let message = e.to_string();
            assert!(message.contains(reason), "{message}");
            assert!(!message.contains("SECRET"), "{message}");
        }
    }

    fn parse(body: &str) -> Result<TokenResponse, Refused> {
        parse_token_response("https://idp/token", body.as_bytes())
    }

    #[test]
    fn lifetimes_are_cut_to_a_year_and_nonsense_is_refused_without_a_panic() {
        let with = |expires_in: &str| {
            parse(&format!(
                r#"{{"access_token":"AT","token_type":"DPoP","expires_in":{expires_in}}}"#
            ))
        };
        for (written, seconds) in [
            ("600", Some(600)),
            ("0", Some(0)),
            ("599.6", Some(600)),
            (r#""3600""#, Some(3600)),
            (r#"" 60 ""#, Some(60)),
            ("null", None),
            (r#""""#, None),
            ("9223372036854775808", Some(MAX_LIFETIME_SECONDS)),
            ("18446744073709551615", Some(MAX_LIFETIME_SECONDS)),
            ("1e300", Some(MAX_LIFETIME_SECONDS)),
            ("3e17", Some(MAX_LIFETIME_SECONDS)),
            (r#""9223372036854775808""#, Some(MAX_LIFETIME_SECONDS)),
            (r#""99999999999999999999999""#, Some(MAX_LIFETIME_SECONDS)),
        ] {
            assert_eq!(with(written).unwrap().expires_in, seconds, "{written}");
        }
        for written in [
            "-1",
            "-0.5",
            r#""-1""#,
            r#""soon""#,
            r#""NaN""#,
            r#""inf""#,
            "[]",
            "true",
        ] {
            let refused = with(written).unwrap_err();
            assert!(
                matches!(refused.error, Error::IdpResponse { ref reason, .. } if reason.contains("expires_in")),
                "{written}: {:?}",
                refused.error
            );
        }
        // Far beyond any Date, the expiry stays a number a JS Date holds.
        let tokens = with("3e17").unwrap();
        let at = crate::protocol::credentials::expiry_from_now(tokens.expires_in.unwrap());
        assert!(at < 8_640_000_000_000_000, "{at}");
    }

    #[test]
    fn tokens_that_are_not_header_values_are_refused_unquoted() {
        for bad in [
            "AT\r\nX-Injected: 1",
            "AT\0",
            "A T",
            "AT\t",
            "\u{e9}t\u{e9}",
            "AT\u{7f}",
        ] {
            for name in ["access_token", "id_token", "refresh_token"] {
                let mut fields = serde_json::json!({"access_token": "AT", "token_type": "DPoP", "expires_in": 60});
                fields[name] = Value::String(bad.to_owned());
                let refused = parse(&fields.to_string()).unwrap_err();
                let message = refused.error.to_string();
                assert!(
                    matches!(refused.error, Error::IdpResponse { .. }) && message.contains(name),
                    "{name} {bad:?}: {message}"
                );
                assert!(
                    message.contains("not a valid HTTP header value"),
                    "{message}"
                );
                assert!(!message.contains("AT"), "{message}");
                assert!(
                    refused.new_refresh_token.is_none(),
                    "a bad refresh token is not one to keep"
                );
            }
        }
        assert!(is_header_safe_token("eyJhbGciOiJFUzI1NiJ9.e30.sig-_~+/="));
        assert!(!is_header_safe_token("a b"));
    }

    #[test]
    fn a_new_refresh_token_is_handed_back_whatever_else_is_wrong() {
        for body in [
            r#"{"refresh_token":"RT-NEW","token_type":"DPoP"}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"A\nT","token_type":"DPoP"}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"AT","token_type":"MAC"}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"AT","token_type":"DPoP","expires_in":-5}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"AT","token_type":"DPoP","id_token":7}"#,
        ] {
            let refused = parse(body).unwrap_err();
            assert!(matches!(refused.error, Error::IdpResponse { .. }), "{body}");
            assert_eq!(
                refused.new_refresh_token.as_ref().map(Secret::expose),
                Some("RT-NEW"),
                "{body}"
            );
            assert!(!refused.error.to_string().contains("RT-NEW"));
        }
    }

    #[test]
    fn origins_are_normalised() {
        let cases = [
            (
                "https://idp.example:8443/a/b?c#d",
                "https://idp.example:8443",
            ),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://LocalHost:0003000/x", "http://localhost:3000"),
            ("https://IDP.example:443/", "https://idp.example"),
            ("HTTP://idp.example:80", "http://idp.example"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("http://127.000.000.001:8080/", "http://127.0.0.1:8080"),
        ];
        for (url, origin) in cases {
            assert_eq!(origin_of(url).as_deref(), Some(origin), "{url}");
        }
        assert_eq!(origin_of("data:text/plain,x"), None);
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn a_nonce_is_kept_once_per_origin_however_it_is_spelled() {
        let nonces = NonceCache::default();
        for zeros in 0..3000 {
            let port = format!("{}3000", "0".repeat(zeros));
            nonces.set(&format!("http://LOCALHOST:{port}/r{zeros}"), "n");
        }
        assert_eq!(nonces.len(), 1);
        assert_eq!(nonces.get("http://localhost:3000/").as_deref(), Some("n"));
        nonces.set("http://localhost:3000/x", "m");
        assert_eq!(nonces.get("http://localhost:03000/y").as_deref(), Some("m"));
        // No origin, no nonce.
        nonces.set("data:text/plain,x", "n");
        assert_eq!(nonces.len(), 1);
    }

    #[test]
    fn nonces_are_bounded_in_number_and_length() {
        let nonces = NonceCache::default();
        for port in 1..=MAX_ORIGINS + 100 {
            nonces.set(&format!("http://rs.example:{port}/"), "n");
        }
        assert_eq!(nonces.len(), MAX_ORIGINS);
        // The earliest set went first; the latest are kept.
        assert_eq!(nonces.get("http://rs.example:1/"), None);
        assert_eq!(nonces.get("http://rs.example:100/"), None);
        let last = format!("http://rs.example:{}/", MAX_ORIGINS + 100);
        assert_eq!(nonces.get(&last).as_deref(), Some("n"));
        // Setting again makes an origin the newest.
        let early = "http://rs.example:101/";
        nonces.set(early, "again");
        nonces.set("http://another.example/", "n");
        assert_eq!(nonces.get(early).as_deref(), Some("again"));
        assert_eq!(nonces.get("http://rs.example:102/"), None);
        assert_eq!(nonces.len(), MAX_ORIGINS);

        // Too long to keep: the origin's earlier nonce goes too.
        nonces.set(&last, &"x".repeat(MAX_NONCE_BYTES + 1));
        assert_eq!(nonces.get(&last), None);
        nonces.set(&last, &"x".repeat(MAX_NONCE_BYTES));
        assert_eq!(nonces.get(&last).map(|n| n.len()), Some(MAX_NONCE_BYTES));
        let long_host = format!("http://{}.example/", "a".repeat(400));
        nonces.set(&long_host, "n");
        assert_eq!(nonces.get(&long_host), None);
    }
}

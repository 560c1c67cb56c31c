//! The token endpoint (RFC 6749 §3.2): one request per grant, with client authentication, a
//! DPoP proof, and one retry when the provider asks for a DPoP nonce (RFC 9449 §8).
//!
//! This module makes the request; `response` reads what a successful one gave, and
//! `nonce_cache` keeps the latest `DPoP-Nonce` of each origin.

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest, HttpResponse};
use crate::protocol::discovery::IssuerMetadata;
use crate::protocol::dpop::DpopKey;
use crate::secret::Secret;

mod nonce_cache;
mod response;

pub use nonce_cache::{origin_of, NonceCache, MAX_NONCE_BYTES, MAX_ORIGINS};
pub use response::{is_header_safe_token, Refused, TokenResponse, MAX_LIFETIME_SECONDS};

use response::parse_token_response;

#[cfg(test)]
mod properties;

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

    /// Puts the client's credentials into a request to one of the provider's endpoints: into
    /// `form`, or as the returned `Authorization` header value.
    pub fn apply<'f>(&'f self, form: &mut Vec<(&'f str, &'f str)>) -> Option<String> {
        match self {
            ClientAuth::Basic { client_id, secret } => Some(basic_credentials(client_id, secret)),
            ClientAuth::Post { client_id, secret } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", secret.expose()));
                None
            }
            ClientAuth::Public { client_id } => {
                form.push(("client_id", client_id));
                None
            }
        }
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
    let authorization = auth.apply(&mut form);
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
    key: Option<&DpopKey>,
    nonces: &NonceCache,
) -> Result<TokenResponse, Refused> {
    let Some(key) = key else {
        return request(http, endpoint, grant, auth, None, nonces).await;
    };
    let sign =
        |nonce: Option<&str>| -> Result<String> { Ok(key.proof("POST", endpoint, None, nonce)?) };
    request(http, endpoint, grant, auth, Some(&sign), nonces).await
}

/// A grant at the provider's token endpoint for a client (`secret`: none for a public one),
/// authenticated the way the provider takes, with DPoP proofs signed by `key` (none: Bearer).
pub async fn request_for_client(
    http: &dyn Http,
    metadata: &IssuerMetadata,
    client_id: &str,
    secret: Option<&Secret>,
    grant: &[(&str, &str)],
    key: Option<&DpopKey>,
    nonces: &NonceCache,
) -> Result<TokenResponse, Refused> {
    let auth = ClientAuth::for_provider(
        &metadata.token_endpoint_auth_methods_supported,
        client_id,
        secret,
    );
    request_with_key(http, &metadata.token_endpoint, grant, &auth, key, nonces).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpFailure;
    use crate::protocol::token_type::TokenType;
    use crate::tests::support::block_on;
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
}

//! Checking the tokens an identity provider issues, and reading the WebID from them.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::discovery::IssuerMetadata;
use crate::protocol::end_session::{end_session_url, EndSession};
use crate::protocol::jwks::JwksCache;
use crate::protocol::jwt;
use crate::protocol::webid_profile::{check_login, WebIdCheck};

/// How far the provider's clock may be from ours.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

fn invalid(reason: impl std::fmt::Display) -> Error {
    Error::InvalidToken {
        reason: reason.to_string(),
    }
}

/// The claims of `token` once its signature (with the provider's keys), issuer, audience and
/// lifetime check out.
pub async fn verified_claims(
    http: &dyn Http,
    jwks: &JwksCache,
    metadata: &IssuerMetadata,
    token: &str,
    audience: &str,
) -> Result<Map<String, Value>> {
    let decoded = jwt::decode(token).map_err(invalid)?;
    let keys = jwks.keys(http, &metadata.jwks_uri, decoded.kid()).await?;
    let claims = decoded.verify(&keys).map_err(|e| match e {
        // The provider's key set is at fault, not the token: name where the set is.
        jwt::JwtError::MultipleMatchingKeys { .. } => {
            Error::idp_response(&metadata.jwks_uri, e.to_string())
        }
        e => invalid(e),
    })?;
    jwt::check_claims(
        &claims,
        &metadata.issuer,
        audience,
        crate::clock::now_seconds(),
        CLOCK_SKEW_SECONDS,
    )
    .map_err(invalid)?;
    Ok(claims)
}

/// The claims of an ID token issued to `client_id`: verified as `verified_claims` does, and its
/// authorized party, when it names one, must be the client (OpenID Connect Core §3.1.3.7): a
/// token issued to another client that merely lists us among its audiences is not ours.
pub async fn verified_id_token_claims(
    http: &dyn Http,
    jwks: &JwksCache,
    metadata: &IssuerMetadata,
    id_token: &str,
    client_id: &str,
) -> Result<Map<String, Value>> {
    let claims = verified_claims(http, jwks, metadata, id_token, client_id).await?;
    match claims.get("azp") {
        None => Ok(claims),
        Some(Value::String(azp)) if azp == client_id => Ok(claims),
        Some(_) => Err(invalid(
            "the ID token was issued to another client (its azp claim is not our client id)",
        )),
    }
}

/// The WebID a grant's tokens name: from the ID token (issued to `client_id`) or, when the
/// provider issued none (CSS, for client credentials), from the access token, whose audience
/// is "solid".
pub async fn web_id_from_grant(
    http: &dyn Http,
    jwks: &JwksCache,
    metadata: &IssuerMetadata,
    tokens: &crate::protocol::token::TokenResponse,
    client_id: &str,
) -> Result<String> {
    let claims = match &tokens.id_token {
        Some(id_token) => {
            verified_id_token_claims(http, jwks, metadata, id_token.expose(), client_id).await?
        }
        None => {
            verified_claims(http, jwks, metadata, tokens.access_token.expose(), "solid").await?
        }
    };
    web_id(&claims)
}

/// The credentials a grant gave: the token response checked for its WebID, its access token
/// bound to `key` when the provider issued a DPoP token. The token type must be the one asked
/// for: a DPoP token for a request made without a key cannot be presented, and a Bearer token
/// for a DPoP request would silently downgrade the session to a token anyone who sees it can
/// use, which the caller did not choose.
pub async fn credentials_from_grant(
    http: &dyn Http,
    jwks: &JwksCache,
    metadata: &IssuerMetadata,
    tokens: crate::protocol::token::TokenResponse,
    key: Option<crate::protocol::dpop::DpopKey>,
    client_id: String,
) -> Result<crate::protocol::credentials::Credentials> {
    let dpop_key = match (tokens.token_type, key) {
        (crate::protocol::token_type::TokenType::Bearer, None) => None,
        (crate::protocol::token_type::TokenType::DPoP, Some(key)) => Some(key),
        (crate::protocol::token_type::TokenType::DPoP, None) => {
            return Err(Error::idp_response(
                &metadata.token_endpoint,
                "the token response has token_type DPoP for a Bearer request",
            ))
        }
        (crate::protocol::token_type::TokenType::Bearer, Some(_)) => {
            return Err(Error::idp_response(
                &metadata.token_endpoint,
                "the token response has token_type Bearer for a DPoP request (log in with tokenType \"Bearer\" to accept Bearer tokens)",
            ))
        }
    };
    let web_id = web_id_from_grant(http, jwks, metadata, &tokens, &client_id).await?;
    Ok(crate::protocol::credentials::Credentials {
        expires_at_ms: tokens.expires_in.map(crate::clock::expiry_from_now),
        issued_at_ms: Some(crate::clock::expiry_from_now(0)),
        refresh_token: tokens.refresh_token,
        access_token: tokens.access_token,
        dpop_key,
        id_token: tokens.id_token,
        web_id,
        issuer: metadata.issuer.clone(),
        client_id,
        ath: std::cell::OnceCell::new(),
    })
}

/// The WebID a token names: its `webid` claim, or else a `sub` that is an IRI (Solid-OIDC §5).
/// Either must be an absolute http(s) IRI: a WebID is dereferenced to read a profile, and it
/// becomes `info.webId`, which apps show and link to (a `javascript:` one would be a script).
pub fn web_id(claims: &Map<String, Value>) -> Result<String> {
    match claims.get("webid") {
        Some(Value::String(web_id)) if is_http_iri(web_id) => return Ok(web_id.clone()),
        Some(Value::String(_)) => {
            return Err(invalid("its webid claim is not an absolute http(s) IRI"))
        }
        // As in the reference, a webid that is not a string is no webid: `sub` is read instead.
        _ => {}
    }
    match claims.get("sub") {
        Some(Value::String(sub)) if is_http_iri(sub) => Ok(sub.clone()),
        Some(Value::String(_)) => Err(invalid(
            "it has no webid claim, and its sub claim is not an absolute http(s) IRI",
        )),
        _ => Err(invalid("it has neither a webid claim nor a sub claim")),
    }
}

/// Whether `text` is an absolute http or https IRI with a host, without the spaces and control
/// characters a URL parser would silently drop.
fn is_http_iri(text: &str) -> bool {
    !text.is_empty()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && url::Url::parse(text).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
        })
}

/// What an ID token the app holds says, once checked.
#[derive(Debug)]
pub struct CheckedIdToken {
    pub web_id: String,
    /// Where to send the user to log out of the provider with this token, when the provider has
    /// an end-session endpoint.
    pub end_session_url: Option<crate::secret::Secret>,
}

/// Checks an ID token issued to `client_id` by `issuer` (signature with the provider's keys,
/// issuer, audience, lifetime) and reads its WebID, whose profile must name the provider unless
/// `webid_check` is off (`Session.fromTokens` checks it; an IdP logout, which only needs the
/// token as a hint, does not); `end_session` holds the token as the hint of an IdP logout.
/// `now_ms` is the clock the WebID cache goes by.
pub async fn check_held_id_token(
    http: &dyn Http,
    caches: &Caches,
    now_ms: u64,
    issuer: &str,
    client_id: &str,
    end_session: &EndSession,
    webid_check: WebIdCheck,
) -> Result<CheckedIdToken> {
    let found = caches.discovery.discover(http, issuer).await?;
    let claims = verified_id_token_claims(
        http,
        &caches.jwks,
        &found.metadata,
        end_session.id_token_hint.expose(),
        client_id,
    )
    .await?;
    let web_id = web_id(&claims)?;
    check_login(
        &caches.webid,
        http,
        now_ms,
        webid_check,
        &web_id,
        &found.metadata.issuer,
    )
    .await?;
    let end_session_url = match &found.metadata.end_session_endpoint {
        Some(endpoint) => Some(end_session_url(endpoint, end_session)?),
        None => None,
    };
    Ok(CheckedIdToken {
        web_id,
        end_session_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_web_id_is_the_webid_claim_or_an_iri_sub() {
        assert_eq!(
            web_id(&claims(r#"{"webid":"https://w/#me","sub":"x"}"#)).unwrap(),
            "https://w/#me"
        );
        assert_eq!(
            web_id(&claims(r#"{"sub":"https://w/#me"}"#)).unwrap(),
            "https://w/#me"
        );
        assert!(web_id(&claims(r#"{"sub":"alice"}"#))
            .unwrap_err()
            .to_string()
            .contains("not an absolute http(s) IRI"));
        assert!(web_id(&claims("{}")).is_err());
    }

    #[test]
    fn a_webid_that_is_not_an_http_iri_is_refused_not_replaced_by_sub() {
        for bad in [
            r#""""#,
            r#""javascript:alert(1)""#,
            r#""data:text/html,<script>1</script>""#,
            r#""urn:uuid:1""#,
            r#""/alice#me""#,
            r#"" https://w/#me""#,
            r#""https://w/\n#me""#,
        ] {
            let error = web_id(&claims(&format!(
                r#"{{"webid":{bad},"sub":"https://w/#me"}}"#
            )))
            .unwrap_err();
            assert!(matches!(error, Error::InvalidToken { .. }), "{bad}");
            assert!(!error.to_string().contains("alert"), "{error}");
        }
        assert_eq!(
            web_id(&claims(r#"{"webid":42,"sub":"https://w/#me"}"#)).unwrap(),
            "https://w/#me"
        );
        let error = web_id(&claims(r#"{"sub":"javascript:alert(1)"}"#)).unwrap_err();
        assert!(matches!(error, Error::InvalidToken { .. }));
        assert_eq!(
            web_id(&claims(
                r#"{"webid":"http://localhost:3000/alice/profile/card#me"}"#
            ))
            .unwrap(),
            "http://localhost:3000/alice/profile/card#me"
        );
    }
}

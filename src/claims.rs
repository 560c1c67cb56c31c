//! Checking the tokens an identity provider issues, and reading the WebID from them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::discovery::IssuerMetadata;
use crate::error::{Error, Result};
use crate::http::Http;
use crate::jwks::JwksCache;
use crate::jwt;

/// How far the provider's clock may be from ours.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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
    let claims = decoded.verify(&keys).map_err(invalid)?;
    jwt::check_claims(
        &claims,
        &metadata.issuer,
        audience,
        now_seconds(),
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
    tokens: &crate::token::TokenResponse,
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
/// bound to `key` when the provider issued a DPoP token (one for a request made without a key
/// cannot be presented, so it is refused).
pub async fn credentials_from_grant(
    http: &dyn Http,
    jwks: &JwksCache,
    metadata: &IssuerMetadata,
    tokens: crate::token::TokenResponse,
    key: Option<crate::dpop::DpopKey>,
    client_id: String,
) -> Result<crate::credentials::Credentials> {
    let dpop_key = match tokens.token_type {
        crate::stored_session::TokenType::Bearer => None,
        crate::stored_session::TokenType::DPoP => Some(key.ok_or_else(|| {
            Error::idp_response(
                &metadata.token_endpoint,
                "the token response has token_type DPoP for a Bearer request",
            )
        })?),
    };
    let web_id = web_id_from_grant(http, jwks, metadata, &tokens, &client_id).await?;
    Ok(crate::credentials::Credentials {
        expires_at_ms: tokens.expires_in.map(crate::credentials::expiry_from_now),
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
pub fn web_id(claims: &Map<String, Value>) -> Result<String> {
    if let Some(Value::String(web_id)) = claims.get("webid") {
        return Ok(web_id.clone());
    }
    match claims.get("sub") {
        Some(Value::String(sub)) if reqwest::Url::parse(sub).is_ok() => Ok(sub.clone()),
        Some(Value::String(_)) => Err(invalid(
            "it has no webid claim, and its sub claim is not an IRI",
        )),
        _ => Err(invalid("it has neither a webid claim nor a sub claim")),
    }
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
            .contains("not an IRI"));
        assert!(web_id(&claims("{}")).is_err());
    }
}

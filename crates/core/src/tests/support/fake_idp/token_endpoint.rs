//! The token endpoint (authorization code, client credentials, refresh token) and the
//! revocation endpoint, with the client authentication both take.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::{
    form, header, json_response, oauth_error, FakeIdp, RefreshGrant, Refreshes, ID_TOKEN_LIFETIME,
    ISSUER, KID, WEB_ID,
};
use crate::clock::now_seconds;
use crate::http::{HttpRequest, HttpResponse};

/// One form-encoded value, decoded (the parts of Basic credentials, RFC 6749 §2.3.1).
fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl FakeIdp {
    /// The client a request authenticates as (Basic, or the form), or the refusal.
    pub(super) fn authenticate(
        &self,
        request: &HttpRequest,
        form: &HashMap<String, String>,
    ) -> Result<String, HttpResponse> {
        let refused = || oauth_error(401, "invalid_client", "client authentication failed");
        let (client_id, secret) =
            match header(request, "authorization").and_then(|v| v.strip_prefix("Basic ")) {
                Some(basic) => {
                    let decoded = STANDARD.decode(basic).map_err(|_| refused())?;
                    let decoded = String::from_utf8(decoded).map_err(|_| refused())?;
                    let (id, secret) = decoded.split_once(':').ok_or_else(refused)?;
                    (form_decode(id), Some(form_decode(secret)))
                }
                None => (
                    form.get("client_id").cloned().ok_or_else(refused)?,
                    form.get("client_secret").cloned(),
                ),
            };
        let state = self.state.borrow();
        let expected = match state.clients.get(&client_id) {
            Some(client) => client.secret.as_deref(),
            None if url::Url::parse(&client_id).is_ok() => None,
            None => return Err(refused()),
        };
        if expected == secret.as_deref() {
            Ok(client_id)
        } else {
            Err(refused())
        }
    }

    pub(super) fn token(&self, request: &HttpRequest) -> HttpResponse {
        let form = form(request);
        let client_id = match self.authenticate(request, &form) {
            Ok(id) => id,
            Err(refused) => return refused,
        };
        let jkt = match header(request, "dpop") {
            Some(proof) => match self.check_proof(proof, &Self::url("token")) {
                Ok(jkt) => Some(jkt),
                Err(refused) => return refused,
            },
            None => None,
        };
        let param = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        match param("grant_type") {
            "authorization_code" => {
                let code = self.state.borrow_mut().codes.remove(param("code"));
                let Some(code) = code else {
                    return oauth_error(400, "invalid_grant", "unknown or used code");
                };
                let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(param("code_verifier")));
                if code.client_id != client_id
                    || code.redirect_uri != param("redirect_uri")
                    || code.challenge != challenge
                {
                    return oauth_error(400, "invalid_grant", "code, client or verifier mismatch");
                }
                self.issue(&client_id, jkt, true, Some(self.next()))
            }
            "refresh_token" => self.refresh(&client_id, param("refresh_token"), jkt),
            "client_credentials" => {
                let state = self.state.borrow();
                if state
                    .clients
                    .get(&client_id)
                    .is_none_or(|c| c.secret.is_none())
                {
                    return oauth_error(400, "unauthorized_client", "a public client");
                }
                drop(state);
                let id_token = self.settings.borrow().id_token_for_client_credentials;
                self.issue(&client_id, jkt, id_token, None)
            }
            _ => oauth_error(400, "unsupported_grant_type", "not served here"),
        }
    }

    fn refresh(&self, client_id: &str, token: &str, jkt: Option<String>) -> HttpResponse {
        let refreshes = self.settings.borrow().refreshes;
        let refused = |why: &str| oauth_error(400, "invalid_grant", why);
        if refreshes == Refreshes::Refused {
            return refused("refreshes are refused");
        }
        let rotate = refreshes == Refreshes::Rotated;
        let mut state = self.state.borrow_mut();
        let Some(grant) = state.refresh_tokens.get(token) else {
            return refused("unknown refresh token");
        };
        let family = grant.family;
        if grant.spent {
            // Reuse of a spent token: whoever holds the newer one may be a thief.
            for other in state.refresh_tokens.values_mut() {
                if other.family == family {
                    other.spent = true;
                }
            }
            return refused("the refresh token was used before");
        }
        if grant.client_id != client_id {
            return refused("issued to another client");
        }
        if grant.jkt.is_some() && grant.jkt != jkt {
            return refused("the refresh token is bound to another key");
        }
        if rotate {
            if let Some(grant) = state.refresh_tokens.get_mut(token) {
                grant.spent = true;
            }
        }
        drop(state);
        self.issue(client_id, jkt, true, rotate.then_some(family))
    }

    /// A token response for `client_id`: an access token (DPoP-bound to `jkt` when given), an
    /// ID token when asked for, and a new refresh token of `family` when given.
    fn issue(
        &self,
        client_id: &str,
        jkt: Option<String>,
        id_token: bool,
        family: Option<u64>,
    ) -> HttpResponse {
        let now = now_seconds();
        let lifetime = self.settings.borrow().access_token_lifetime;
        let mut access = json!({
            "iss": ISSUER, "aud": "solid", "sub": WEB_ID, "webid": WEB_ID,
            "client_id": client_id, "iat": now, "exp": now + lifetime,
            "jti": self.fresh("at"),
        });
        if let (Some(jkt), Value::Object(claims)) = (&jkt, &mut access) {
            claims.insert("cnf".to_owned(), json!({ "jkt": jkt }));
        }
        let mut body = json!({
            "access_token": self.key.sign_jwt(KID, &access),
            "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
            "expires_in": lifetime,
            "scope": "openid offline_access webid",
        });
        let Value::Object(members) = &mut body else {
            unreachable!("built as an object")
        };
        if id_token {
            let audience = if self.settings.borrow().id_tokens_for_another_client {
                "another-client"
            } else {
                client_id
            };
            let claims = json!({
                "iss": ISSUER, "aud": audience, "azp": audience, "sub": WEB_ID,
                "webid": WEB_ID, "iat": now, "exp": now + ID_TOKEN_LIFETIME,
                "jti": self.fresh("id"),
            });
            members.insert("id_token".into(), self.key.sign_jwt(KID, &claims).into());
        }
        if let Some(family) = family {
            let token = self.fresh("rt");
            // Bound to the key when the client is public (RFC 9449 §5).
            let public = self
                .state
                .borrow()
                .clients
                .get(client_id)
                .is_none_or(|c| c.secret.is_none());
            self.state.borrow_mut().refresh_tokens.insert(
                token.clone(),
                RefreshGrant {
                    client_id: client_id.to_owned(),
                    jkt: jkt.filter(|_| public),
                    family,
                    spent: false,
                },
            );
            members.insert("refresh_token".into(), token.into());
        }
        json_response(200, &body)
    }

    pub(super) fn revoke(&self, request: &HttpRequest) -> HttpResponse {
        let form = form(request);
        let client_id = match self.authenticate(request, &form) {
            Ok(id) => id,
            Err(refused) => return refused,
        };
        let token = form.get("token").cloned().unwrap_or_default();
        let mut state = self.state.borrow_mut();
        if let Some(grant) = state.refresh_tokens.get_mut(&token) {
            if grant.client_id == client_id {
                grant.spent = true;
                state.revoked.push(token);
            }
        }
        // RFC 7009 §2.2: an unknown token is no error.
        json_response(200, &json!({}))
    }
}

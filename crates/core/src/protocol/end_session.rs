//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the URL of the provider's
//! end-session endpoint that an IdP logout sends the user to.

use crate::error::{Error, Result};
use crate::secret::Secret;

/// What an IdP logout sends the user to the provider with.
#[derive(Debug)]
pub struct EndSession {
    pub id_token_hint: Secret,
    /// Where the provider sends the user back to.
    pub post_logout_redirect_uri: Option<String>,
    /// Handed back with the user; only sent with `post_logout_redirect_uri` (OpenID RP-Initiated
    /// Logout 1.0 §2).
    pub state: Option<String>,
}

/// The provider's end-session endpoint with the logout's parameters, each set as
/// `URLSearchParams.set` sets it (replacing one the endpoint already has), as the reference does.
/// A secret: it carries the ID token.
pub fn end_session_url(endpoint: &str, end_session: &EndSession) -> Result<Secret> {
    let mut url = url::Url::parse(endpoint).map_err(|e| {
        Error::idp_response(
            endpoint,
            format!("the end-session endpoint is not a URL: {e}"),
        )
    })?;
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let mut set = |name: &str, value: &str| match pairs.iter().position(|(n, _)| n == name) {
        Some(first) => {
            value.clone_into(&mut pairs[first].1);
            let mut index = 0;
            pairs.retain(|(n, _)| {
                index += 1;
                index - 1 == first || n != name
            });
        }
        None => pairs.push((name.to_owned(), value.to_owned())),
    };
    set("id_token_hint", end_session.id_token_hint.expose());
    if let Some(uri) = &end_session.post_logout_redirect_uri {
        set("post_logout_redirect_uri", uri);
        if let Some(state) = &end_session.state {
            set("state", state);
        }
    }
    url.query_pairs_mut().clear().extend_pairs(pairs);
    Ok(Secret::new(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_session(post_logout: Option<&str>, state: Option<&str>) -> EndSession {
        EndSession {
            id_token_hint: Secret::new("id.token.sig"),
            post_logout_redirect_uri: post_logout.map(str::to_owned),
            state: state.map(str::to_owned),
        }
    }

    #[test]
    fn the_end_session_url_carries_the_hint_and_the_way_back() {
        let url = end_session_url(
            "https://idp.example/logout",
            &end_session(Some("https://app.example/bye?x=1 2"), Some("s t")),
        )
        .unwrap();
        assert!(!format!("{url:?}").contains("id.token.sig"));
        assert_eq!(
            url.expose(),
            "https://idp.example/logout?id_token_hint=id.token.sig&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye%3Fx%3D1+2&state=s+t"
        );
    }

    #[test]
    fn a_state_without_a_way_back_is_not_sent_and_existing_parameters_are_replaced_in_place() {
        let url = end_session_url(
            "https://idp.example/logout?a=1&id_token_hint=old&b=2&id_token_hint=older",
            &end_session(None, Some("s")),
        )
        .unwrap();
        assert!(!format!("{url:?}").contains("id.token.sig"));
        assert_eq!(
            url.expose(),
            "https://idp.example/logout?a=1&id_token_hint=id.token.sig&b=2"
        );
    }
}

//! Pushed authorization requests (RFC 9126): the authorization request's parameters are sent to
//! the provider server to server, with the client's credentials, and the user gets a short URL
//! that names them by the `request_uri` the provider gave back.
//!
//! Besides the shorter URL, the push is where a provider says it does not know the client
//! (`invalid_client`) while we can still do something about it: without it the user is sent to
//! the provider with that client and is stranded there.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest, HttpResponse};
use crate::protocol::discovery::IssuerMetadata;
use crate::protocol::token::ClientAuth;
use crate::secret::Secret;

/// Pushes `parameters` (the authorization request's, `client_id` among them) to `endpoint`,
/// authenticated as the token endpoint authenticates the client, and gives the `request_uri`
/// that stands for them.
pub(super) async fn push(
    http: &dyn Http,
    endpoint: &str,
    metadata: &IssuerMetadata,
    parameters: &[(&str, &str)],
    client_id: &str,
    client_secret: Option<&Secret>,
) -> Result<String> {
    let auth = ClientAuth::for_provider(
        &metadata.token_endpoint_auth_methods_supported,
        client_id,
        client_secret,
    );
    let mut credentials = Vec::new();
    let authorization = auth.apply(&mut credentials);
    let mut form = parameters.to_vec();
    // `client_id` is among the parameters already.
    form.extend(
        credentials
            .into_iter()
            .filter(|(name, _)| *name != "client_id"),
    );
    let mut request = HttpRequest::post_form(endpoint, &form).header("accept", "application/json");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = http
        .send(request)
        .await
        .map_err(|failure| Error::from_http_failure(endpoint, failure))?;
    if !matches!(response.status, 200 | 201) {
        return Err(refusal(endpoint, &response));
    }
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(fields)) => match fields.get("request_uri") {
            Some(Value::String(uri)) if !uri.is_empty() => Ok(uri.clone()),
            _ => Err(Error::idp_response(
                endpoint,
                "the pushed authorization response has no request_uri",
            )),
        },
        _ => Err(Error::idp_response(
            endpoint,
            "the pushed authorization response is not a JSON object",
        )),
    }
}

/// The OAuth error a refused push carries, or a description of the answer when it has none.
fn refusal(endpoint: &str, response: &HttpResponse) -> Error {
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&response.body) {
        if let Some(Value::String(error)) = fields.get("error") {
            let description = match fields.get("error_description") {
                Some(Value::String(d)) => Some(d.as_str()),
                _ => None,
            };
            return Error::oauth(endpoint, error, description);
        }
    }
    Error::idp_response(
        endpoint,
        format!(
            "the pushed authorization request endpoint answered HTTP {} without an OAuth error",
            response.status
        ),
    )
}

//! The pushed authorization request endpoint (RFC 9126): the client authenticates as at the
//! token endpoint, and the parameters are kept under a `request_uri` that
//! `FakeIdp::authorize` takes in their place.

use serde_json::json;

use super::{json_response, oauth_error, FakeIdp, PushedRequests};
use crate::http::{HttpRequest, HttpResponse};

impl FakeIdp {
    /// The parameters of every pushed request received, in order, as sent.
    pub fn pushed_requests(&self) -> Vec<Vec<(String, String)>> {
        let seen = self.pushed_bodies.borrow();
        seen.iter()
            .map(|body| {
                url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect()
            })
            .collect()
    }

    pub(super) fn push(&self, request: &HttpRequest) -> HttpResponse {
        let body = request.body.clone().unwrap_or_default();
        self.pushed_bodies.borrow_mut().push(body.clone());
        if self.settings.borrow().pushed_requests == PushedRequests::Garbage {
            return HttpResponse {
                status: 201,
                headers: vec![],
                body: b"<html>not json".to_vec(),
            };
        }
        let form = super::form(request);
        let client_id = match self.authenticate(request, &form) {
            Ok(id) => id,
            Err(refused) => return refused,
        };
        if form.get("client_id") != Some(&client_id) {
            return oauth_error(
                400,
                "invalid_request",
                "client_id differs from the client's",
            );
        }
        if form.contains_key("request_uri") {
            return oauth_error(400, "invalid_request", "request_uri in a pushed request");
        }
        let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", self.fresh("par"));
        let parameters = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .filter(|(name, _)| name != "client_secret")
            .collect();
        self.state
            .borrow_mut()
            .pushed
            .insert(request_uri.clone(), parameters);
        json_response(
            201,
            &json!({ "request_uri": request_uri, "expires_in": 60 }),
        )
    }
}

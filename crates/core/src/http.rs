//! HTTP as the protocol core sees it: the requests an operation needs made, and their answers.
//!
//! The core never opens a connection. An operation asks its `Http` for a response; whoever
//! drives the operation makes the request (see `storage::host` and the binding's engine), so
//! the core stays plain Rust that unit tests can answer from a table.

use std::fmt;

/// Headers whose values are credentials: never printed.
const SECRET_HEADERS: [&str; 3] = ["authorization", "dpop", "cookie"];

/// A request an operation needs made. Bodies are small: forms and JSON.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn post_form(url: impl Into<String>, form: &[(&str, &str)]) -> Self {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        Self {
            method: "POST",
            url: url.into(),
            headers: vec![(
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            )],
            body: Some(body),
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

impl fmt::Debug for HttpRequest {
    // Bodies carry client secrets and refresh tokens; some headers carry tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if SECRET_HEADERS.contains(&k.as_str()) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
        }
    }
    out
}

/// Whether a URL carries a user name or password (`https://user:pass@idp.example/`). Such
/// credentials would be sent as Basic authentication to whoever the URL names, so, as fetch
/// refuses such a URL, no request is made to one.
pub fn carries_userinfo(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// A response, whatever its status.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpResponse {
    // Token responses are bodies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Why a request got no response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpFailure {
    /// No connection could be made, or it broke: the text says how (never with a body).
    Unreachable(String),
    /// No complete response within the limit, in milliseconds.
    TimedOut(u64),
    /// The request could not be made at all (a URL that is not http or https, say).
    Invalid(String),
    /// Not made: private networks are blocked, and the host is (`resolved` false), or resolves
    /// to, an address off the public internet. `kind` says which ("a loopback address").
    Blocked {
        host: String,
        resolved: bool,
        kind: &'static str,
    },
}

/// Makes requests for an operation.
#[async_trait::async_trait(?Send)]
pub trait Http {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded_and_secrets_never_printed() {
        let request = HttpRequest::post_form(
            "https://idp/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "a b&c=é"),
            ],
        )
        .header("Authorization", "Basic c2VjcmV0")
        .header("Accept", "application/json");
        assert_eq!(
            request.body.as_deref(),
            Some("grant_type=refresh_token&refresh_token=a+b%26c%3D%C3%A9")
        );
        let printed = format!("{request:?}");
        assert!(!printed.contains("c2VjcmV0") && !printed.contains("refresh_token=a"));
        assert!(printed.contains("application/json"));
        let response = HttpResponse {
            status: 200,
            headers: vec![("dpop-nonce".into(), "n1".into())],
            body: b"{\"access_token\":\"secret\"}".to_vec(),
        };
        assert_eq!(response.header("DPoP-Nonce"), Some("n1"));
        assert!(!format!("{response:?}").contains("secret"));
    }
}

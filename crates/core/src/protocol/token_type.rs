//! How an access token is presented: bound to a DPoP key (RFC 9449) or as a bearer token.

/// The `token_type` of a token response, and the scheme of the `Authorization` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    DPoP,
    Bearer,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::DPoP => "DPoP",
            TokenType::Bearer => "Bearer",
        }
    }
}

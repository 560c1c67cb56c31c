//! What a session record says about a session, read the way the reference reads it.

use crate::error::Result;
use crate::record::Record;
use crate::secret::Secret;

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

#[derive(Clone, Debug, PartialEq)]
pub struct StoredSession {
    pub session_id: String,
    pub issuer: String,
    pub web_id: Option<String>,
    pub client_app_id: Option<String>,
    pub refresh_token: Option<Secret>,
    pub token_type: TokenType,
    /// The stored `keepAlive` flag; the reference reads a missing one as false here.
    pub keep_alive: bool,
}

impl StoredSession {
    /// `None` when the record has no issuer: the reference cannot log such a session in again
    /// (client-credentials sessions store none), so it treats it as unknown.
    pub fn from_record(session_id: &str, record: &Record) -> Result<Option<Self>> {
        let Some(issuer) = record.string("issuer")? else {
            return Ok(None);
        };
        Ok(Some(Self {
            session_id: session_id.to_owned(),
            issuer: issuer.to_owned(),
            web_id: record.string("webId")?.map(str::to_owned),
            client_app_id: record.string("clientAppId")?.map(str::to_owned),
            refresh_token: record.string("refreshToken")?.map(Secret::new),
            token_type: if record.flag("dpop")? {
                TokenType::DPoP
            } else {
                TokenType::Bearer
            },
            keep_alive: record.flag("keepAlive")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_worked_example_record() {
        let raw = r#"{"clientId":"https://app.example/id","clientType":"solid-oidc","clientName":"https://app.example/id","issuer":"https://idp.example/","redirectUrl":"https://app.example/cb","dpop":"true","keepAlive":"true","refreshToken":"rt-1","webId":"https://alice.example/profile/card#me","isLoggedIn":"true"}"#;
        let record = Record::parse("solidClientAuthenticationUser:s-2", raw).unwrap();
        let s = StoredSession::from_record("s-2", &record).unwrap().unwrap();
        assert_eq!(s.issuer, "https://idp.example/");
        assert_eq!(
            s.web_id.as_deref(),
            Some("https://alice.example/profile/card#me")
        );
        assert_eq!(s.client_app_id, None);
        assert_eq!(s.refresh_token.as_ref().map(Secret::expose), Some("rt-1"));
        assert_eq!(s.token_type, TokenType::DPoP);
        assert!(s.keep_alive);
        assert!(!format!("{s:?}").contains("rt-1"));
    }

    #[test]
    fn no_issuer_means_no_session() {
        let record = Record::parse(
            "k",
            r#"{"clientId":"app-7","clientType":"static","clientSecret":"sec"}"#,
        )
        .unwrap();
        assert_eq!(StoredSession::from_record("s-1", &record).unwrap(), None);
    }

    #[test]
    fn defaults_follow_the_reference() {
        let record = Record::parse("k", r#"{"issuer":"https://idp/","webId":""}"#).unwrap();
        let s = StoredSession::from_record("s", &record).unwrap().unwrap();
        assert_eq!(s.web_id, None);
        assert_eq!(s.token_type, TokenType::Bearer);
        assert!(!s.keep_alive);
        assert_eq!(s.refresh_token, None);
    }
}

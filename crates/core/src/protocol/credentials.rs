//! What a logged-in session holds: its tokens and DPoP key, and the headers that present them.

use crate::error::Result;
use crate::protocol::dpop::DpopKey;
use crate::protocol::token::NonceCache;
use crate::protocol::token_type::TokenType;
use crate::secret::Secret;

/// A session's credentials. Never printed: Debug shows what kind they are, not what they hold.
/// Cloned for each restore that joined another's (`restore::RestoresInFlight`).
#[derive(Clone)]
pub struct Credentials {
    pub access_token: Secret,
    /// The key the access token is bound to; `None` for a Bearer token.
    pub dpop_key: Option<DpopKey>,
    /// When the access token expires, in milliseconds since the epoch.
    pub expires_at_ms: Option<u64>,
    /// When the provider issued it (ms since the epoch), when known: with the expiry, its
    /// lifetime, which says when it is due for renewal.
    pub issued_at_ms: Option<u64>,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<Secret>,
    pub web_id: String,
    pub issuer: String,
    pub client_id: String,
    /// The access token's `ath`, computed on first use: the same for every proof.
    pub ath: std::cell::OnceCell<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("token_type", &self.token_type())
            .field("web_id", &self.web_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The headers that authenticate one request.
#[derive(Debug)]
pub struct AuthHeaders {
    pub authorization: Secret,
    pub dpop: Option<String>,
}

/// A token used until it has this long to live, or a fifth of its lifetime when that is shorter.
pub const RENEWAL_MARGIN_MS: u64 = 60_000;

/// When an access token that expires at `expires_at_ms` (issued at `issued_at_ms`, if known) is
/// due for renewal: a minute before it expires, or a fifth of its lifetime before when that is
/// shorter. The one rule for both sides: a restore uses a stored token until then, and a
/// session's background refresh renews it then.
pub fn renewal_due_at_ms(issued_at_ms: Option<u64>, expires_at_ms: u64) -> u64 {
    let margin = match issued_at_ms {
        Some(issued) if issued < expires_at_ms => {
            RENEWAL_MARGIN_MS.min((expires_at_ms - issued) / 5)
        }
        _ => RENEWAL_MARGIN_MS,
    };
    expires_at_ms.saturating_sub(margin)
}

impl Credentials {
    /// When these credentials are due for renewal (see `renewal_due_at_ms`), if they expire.
    pub fn renewal_due_at_ms(&self) -> Option<u64> {
        self.expires_at_ms
            .map(|expires| renewal_due_at_ms(self.issued_at_ms, expires))
    }

    pub fn token_type(&self) -> TokenType {
        if self.dpop_key.is_some() {
            TokenType::DPoP
        } else {
            TokenType::Bearer
        }
    }

    /// The `Authorization` (and, for DPoP, `DPoP`) header for a request. The proof carries the
    /// nonce the resource server last sent, if any.
    pub fn headers_for(&self, method: &str, url: &str, nonces: &NonceCache) -> Result<AuthHeaders> {
        let (authorization, proof) = self.prepare_headers(method, url, nonces)?;
        Ok(AuthHeaders {
            authorization,
            dpop: proof.map(ProofJob::sign).transpose()?,
        })
    }

    /// The `Authorization` header for a request, and for DPoP the proof to sign: checked and
    /// ready here, signed by [`ProofJob::sign`] on whichever thread the caller picks (a
    /// signature is most of a request's cost on a busy JS thread).
    pub fn prepare_headers(
        &self,
        method: &str,
        url: &str,
        nonces: &NonceCache,
    ) -> Result<(Secret, Option<ProofJob>)> {
        let token = self.access_token.expose();
        let Some(key) = &self.dpop_key else {
            return Ok((Secret::new(format!("Bearer {token}")), None));
        };
        let ath = self
            .ath
            .get_or_init(|| crate::protocol::dpop::access_token_hash(token));
        let claims = key.proof_claims(method, url, ath, nonces.get(url).as_deref())?;
        Ok((
            Secret::new(format!("DPoP {token}")),
            Some(ProofJob {
                key: key.clone(),
                claims,
            }),
        ))
    }
}

/// A DPoP proof whose claims are checked and set, to be signed. Holds the key: never printed.
pub struct ProofJob {
    key: DpopKey,
    claims: crate::protocol::dpop::ProofClaims,
}

impl std::fmt::Debug for ProofJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProofJob([redacted])")
    }
}

impl ProofJob {
    pub fn sign(self) -> Result<String> {
        Ok(self.key.sign_claims(&self.claims)?)
    }
}

//! Random strings: OAuth `state` values, PKCE verifiers, lease owners.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::{Error, Result};

/// `N` random bytes from the system, base64url without padding.
pub fn url_safe_token<const N: usize>() -> Result<String> {
    let mut bytes = [0_u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::InvalidRequest {
        reason: format!("the system random number generator failed: {e}"),
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_and_differ() {
        let a = url_safe_token::<32>().unwrap();
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, url_safe_token::<32>().unwrap());
        assert_eq!(url_safe_token::<16>().unwrap().len(), 22);
    }
}

//! The registered claims of a verified token (RFC 7519 §4.1): issuer, audience and the times.

use serde_json::{Map, Number, Value};

use super::{shorten, JwtError};

/// string or an array of strings) contains `audience`; `exp` is present and in the future; `nbf`
/// and `iat`, when present, are not in the future. Each time comparison allows `skew_seconds`.
///
/// `exp` is required: OpenID Connect requires it in ID tokens, and a token that never expires
/// is not one to accept.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now_seconds: u64,
    skew_seconds: u64,
) -> Result<(), JwtError> {
    match claims.get("iss") {
        None => return Err(JwtError::MissingClaim("iss")),
        Some(Value::String(iss)) if iss == issuer => {}
        Some(Value::String(iss)) => {
            return Err(JwtError::UnexpectedIssuer {
                expected: issuer.to_owned(),
                found: shorten(iss),
            })
        }
        Some(_) => {
            return Err(JwtError::InvalidClaim {
                claim: "iss",
                reason: "it is not a string",
            })
        }
    }

    let audience_listed = match claims.get("aud") {
        None => return Err(JwtError::MissingClaim("aud")),
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) if auds.iter().all(Value::is_string) => {
            auds.iter().any(|aud| aud.as_str() == Some(audience))
        }
        Some(_) => {
            return Err(JwtError::InvalidClaim {
                claim: "aud",
                reason: "it is neither a string nor an array of strings",
            })
        }
    };
    if !audience_listed {
        return Err(JwtError::UnexpectedAudience {
            expected: audience.to_owned(),
        });
    }

    let now = as_f64(now_seconds);
    let skew = as_f64(skew_seconds);
    let (exp, exp_seconds) = numeric_date(claims, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
    if exp_seconds + skew <= now {
        return Err(JwtError::Expired {
            exp,
            now: now_seconds,
            skew: skew_seconds,
        });
    }
    if let Some((nbf, nbf_seconds)) = numeric_date(claims, "nbf")? {
        if nbf_seconds > now + skew {
            return Err(JwtError::NotYetValid {
                nbf,
                now: now_seconds,
                skew: skew_seconds,
            });
        }
    }
    if let Some((iat, iat_seconds)) = numeric_date(claims, "iat")? {
        if iat_seconds > now + skew {
            return Err(JwtError::IssuedInFuture {
                iat,
                now: now_seconds,
                skew: skew_seconds,
            });
        }
    }
    Ok(())
}

/// A `NumericDate` claim (RFC 7519 §2: seconds, possibly fractional), when present: the number as
/// written, for messages, and its value, for comparisons.
fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<(Number, f64)>, JwtError> {
    let not_a_number = JwtError::InvalidClaim {
        claim,
        reason: "it is not a number",
    };
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(seconds) => Ok(Some((n.clone(), seconds))),
            None => Err(not_a_number),
        },
        Some(_) => Err(not_a_number),
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "times in seconds stay far below 2^53, where every integer is an exact f64"
)]
fn as_f64(seconds: u64) -> f64 {
    seconds as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jwt::test_fixtures::expected_claims;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn claims(value: &Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn check(value: &Value, skew: u64) -> Result<(), JwtError> {
        check_claims(
            &claims(value),
            "https://idp.example/",
            "https://app.example/id",
            NOW,
            skew,
        )
    }

    #[test]
    fn claims_that_fit_pass() {
        let ok = json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": NOW + 60, "iat": NOW, "nbf": NOW});
        assert_eq!(check(&ok, 0), Ok(()));
        let ok = json!({"iss": "https://idp.example/", "aud": ["solid", "https://app.example/id"], "exp": NOW + 1});
        assert_eq!(check(&ok, 0), Ok(()));
        assert_eq!(check(&Value::Object(expected_claims()), 0), Ok(()));
    }

    #[test]
    fn iss_must_match_exactly() {
        let wrong =
            json!({"iss": "https://idp.example", "aud": "https://app.example/id", "exp": NOW + 60});
        let error = check(&wrong, 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unexpected \"iss\" claim value \"https://idp.example\": expected \"https://idp.example/\""
        );
        let missing = json!({"aud": "https://app.example/id", "exp": NOW + 60});
        assert_eq!(check(&missing, 0), Err(JwtError::MissingClaim("iss")));
        let number = json!({"iss": 1, "aud": "https://app.example/id", "exp": NOW + 60});
        assert!(matches!(
            check(&number, 0),
            Err(JwtError::InvalidClaim { claim: "iss", .. })
        ));
    }

    #[test]
    fn aud_may_be_a_string_or_an_array() {
        let base = |aud: Value| json!({"iss": "https://idp.example/", "aud": aud, "exp": NOW + 60});
        let unexpected_error = JwtError::UnexpectedAudience {
            expected: "https://app.example/id".into(),
        };
        let unexpected = Err(unexpected_error.clone());
        assert_eq!(check(&base(json!("https://app.example/id")), 0), Ok(()));
        assert_eq!(check(&base(json!(["https://app.example/id"])), 0), Ok(()));
        assert_eq!(
            check(&base(json!("https://other.example/id")), 0),
            unexpected
        );
        assert_eq!(check(&base(json!(["a", "b"])), 0), unexpected);
        assert_eq!(check(&base(json!([])), 0), unexpected);
        assert_eq!(
            check(&base(json!("https://app.example/id/")), 0),
            unexpected
        );
        assert!(matches!(
            check(&base(json!(["https://app.example/id", 3])), 0),
            Err(JwtError::InvalidClaim { claim: "aud", .. })
        ));
        assert!(matches!(
            check(&base(json!({"aud": "https://app.example/id"})), 0),
            Err(JwtError::InvalidClaim { claim: "aud", .. })
        ));
        let missing = json!({"iss": "https://idp.example/", "exp": NOW + 60});
        assert_eq!(check(&missing, 0), Err(JwtError::MissingClaim("aud")));
        assert_eq!(
            unexpected_error.to_string(),
            "unexpected \"aud\" claim value: it does not contain \"https://app.example/id\""
        );
    }

    #[test]
    fn exp_is_required_and_checked_with_skew() {
        let with_exp = |exp: Value| json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": exp});
        assert_eq!(
            check(&with_exp(json!(NOW)), 0),
            Err(JwtError::Expired {
                exp: NOW.into(),
                now: NOW,
                skew: 0
            })
        );
        assert_eq!(check(&with_exp(json!(NOW - 30)), 60), Ok(()));
        assert_eq!(
            check(&with_exp(json!(NOW - 60)), 60),
            Err(JwtError::Expired {
                exp: (NOW - 60).into(),
                now: NOW,
                skew: 60
            })
        );
        assert_eq!(
            check(&with_exp(json!(NOW - 61)), 60)
                .unwrap_err()
                .to_string(),
            "the JWT expired at 1699999939 (now 1700000000, tolerance 60 s)"
        );
        assert_eq!(check(&with_exp(json!(1_700_000_000.5)), 0), Ok(()));
        assert!(matches!(
            check(&with_exp(json!("4102444800")), 0),
            Err(JwtError::InvalidClaim { claim: "exp", .. })
        ));
        let missing = json!({"iss": "https://idp.example/", "aud": "https://app.example/id"});
        assert_eq!(check(&missing, 0), Err(JwtError::MissingClaim("exp")));
    }

    #[test]
    fn nbf_and_iat_must_not_be_in_the_future() {
        let with = |name: &str, value: u64| {
            let mut c = json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": NOW + 3600});
            c[name] = value.into();
            c
        };
        assert_eq!(
            check(&with("nbf", NOW + 1), 0),
            Err(JwtError::NotYetValid {
                nbf: (NOW + 1).into(),
                now: NOW,
                skew: 0
            })
        );
        assert_eq!(check(&with("nbf", NOW + 30), 60), Ok(()));
        assert!(matches!(
            check(&with("nbf", NOW + 61), 60),
            Err(JwtError::NotYetValid { .. })
        ));
        assert_eq!(check(&with("nbf", NOW), 0), Ok(()));
        assert_eq!(
            check(&with("iat", NOW + 1), 0),
            Err(JwtError::IssuedInFuture {
                iat: (NOW + 1).into(),
                now: NOW,
                skew: 0
            })
        );
        assert_eq!(check(&with("iat", NOW + 60), 60), Ok(()));
        assert!(matches!(
            check(
                &json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": NOW + 60, "nbf": null}),
                0
            ),
            Err(JwtError::InvalidClaim { claim: "nbf", .. })
        ));
    }
}

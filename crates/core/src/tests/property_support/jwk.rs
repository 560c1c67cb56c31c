//! An ES256 key that signs whatever header and claims a property makes, and JSON Web Keys that
//! are wrong in some way, for the properties of JWTs and key sets.

use std::sync::OnceLock;

use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::{b64, value, Json};

/// An ES256 key that signs any header and claims.
pub struct Es256 {
    pair: EcdsaKeyPair,
    pub x: String,
    pub y: String,
}

pub fn es256() -> &'static Es256 {
    static KEY: OnceLock<Es256> = OnceLock::new();
    KEY.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref()[1..].to_vec();
        let (x, y) = point.split_at(32);
        Es256 {
            x: b64(x),
            y: b64(y),
            pair,
        }
    })
}

impl Es256 {
    pub fn sign(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(signature))
    }

    /// The public JWK, with `kid` when given.
    pub fn jwk(&self, kid: Option<&str>) -> Json {
        let mut members = vec![
            ("kty", Json::str("EC")),
            ("crv", Json::str("P-256")),
            ("x", Json::str(&self.x)),
            ("y", Json::str(&self.y)),
            ("alg", Json::str("ES256")),
        ];
        if let Some(kid) = kid {
            members.push(("kid", Json::str(kid)));
        }
        Json::obj(members)
    }
}

/// The 2048-bit RSA key "rs-1" of the unit tests (made by Node).
pub const RSA_N: &str = "otjd_eLaQskwJhx5lkHHGA1hkozpSpFEjnwYuUB-OO947iBgD0ejjbs8VHr9_ASZGD_2QnS0uI9JIgpNocqj_lvJTglsvDWTo41Ke4V-Dejgoja_3GkdojvBcAEJCMCAWWTmjaWHCvi7LRiCg5wmtXZy6I6Urgir4qpTv6NX5tWz0gbYQo4Q2_5q9pz-zEOCq3V7cj7F_SA2vVccivihYzhoHA-bV7ZvE2PbCRmA87kzmlqQGyJBU8-tK2FrjN3lUW92hOGvB3mn42R4mVl4c_BysaW0lQd0sdTY1DyAFstu9j0DoKxP0fVyCsOW2dW5WV_OPym_qXQIpKMoM0RmyQ";

/// Kids a generated key may have: never "es-1", the kid of the one key that signs.
pub const KIDS: &[&str] = &["rs-1", "k1", "k2", "", "ES256"];

/// A JWK that is wrong in some way, or right but for another key: every `kty`, `crv`,
/// coordinates and moduli of every length (or not base64url, or not strings), every `use`,
/// `key_ops` and `alg`.
pub fn odd_jwk() -> BoxedStrategy<Json> {
    use prop::sample::select;
    const KEY_OPS: &[&[&str]] = &[&["verify"], &["sign"], &[], &["verify", "sign"]];
    fn member(values: BoxedStrategy<Json>) -> BoxedStrategy<Option<Json>> {
        proptest::option::weighted(0.8, values).boxed()
    }
    fn strings(values: &'static [&'static str]) -> BoxedStrategy<Json> {
        prop_oneof![4 => select(values).prop_map(Json::str), 1 => value()].boxed()
    }
    let bytes = |max: usize| {
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..max).prop_map(|b| Json::str(&b64(b))),
            1 => select(&["AA==", "!!", "+/+/", "AAAA AAAA", "A"][..]).prop_map(Json::str),
            1 => value(),
        ]
        .boxed()
    };
    let coordinate = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 32).prop_map(|b| Json::str(&b64(b))),
        1 => bytes(48),
    ]
    .boxed();
    let modulus = prop_oneof![
        2 => Just(Json::str(RSA_N)),
        1 => Just(Json::str(&format!("AAAA{RSA_N}"))),
        2 => prop::collection::vec(any::<u8>(), 250..1100).prop_map(|b| Json::str(&b64(b))),
        1 => bytes(64),
    ]
    .boxed();
    let key_ops = prop_oneof![
        select(KEY_OPS).prop_map(|ops| Json::Arr(ops.iter().map(|op| Json::str(op)).collect())),
        value(),
    ]
    .boxed();
    (
        member(strings(&["EC", "RSA", "OKP", "oct", "ec", ""])),
        member(strings(&[
            "P-256",
            "P-384",
            "secp256k1",
            "Ed25519",
            "p-256",
        ])),
        member(coordinate.clone()),
        member(coordinate),
        member(modulus),
        member(strings(&[
            "AQAB",
            "AQ",
            "Aw",
            "AA",
            "AQAAAAAAAAAB",
            "AAEAAQ",
        ])),
        member(strings(&["sig", "enc", ""])),
        proptest::option::weighted(0.2, key_ops),
        member(strings(&[
            "ES256", "RS256", "none", "HS256", "RSA-OAEP", "es256",
        ])),
        member(strings(KIDS)),
    )
        .prop_map(|(kty, crv, x, y, n, e, key_use, key_ops, alg, kid)| {
            let members = [
                ("kty", kty),
                ("crv", crv),
                ("x", x),
                ("y", y),
                ("n", n),
                ("e", e),
                ("use", key_use),
                ("key_ops", key_ops),
                ("alg", alg),
                ("kid", kid),
            ];
            Json::obj(
                members
                    .into_iter()
                    .filter_map(|(name, value)| value.map(|v| (name, v)))
                    .collect(),
            )
        })
        .boxed()
}

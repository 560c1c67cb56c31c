//! ES256 with p256 0.14 (what crates/core/src/protocol/dpop/ signs DPoP proofs with) against ring 0.17: a key
//! imported from its private scalar (with its public point, as a stored DPoP key is read), and
//! one signature over a DPoP-proof-sized message. Prints microseconds per operation.

use std::hint::black_box;
use std::time::Instant;

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::SecretKey;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

fn per_op(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    // A proof's signing input is about 500-700 bytes (header with the JWK, claims with ath).
    let message = vec![b'a'; 650];
    let d = [7_u8; 32];
    let secret = SecretKey::from_slice(&d).expect("a valid scalar");
    let signing_key = SigningKey::from(&secret);
    let point = signing_key.verifying_key().to_sec1_point(false);
    let rng = SystemRandom::new();
    let key_pair = EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &d,
        point.as_bytes(),
        &rng,
    )
    .expect("a valid pair");

    let p256_import = per_op(500, || {
        let key = SigningKey::from(&SecretKey::from_slice(black_box(&d)).expect("valid"));
        black_box(key.verifying_key().to_sec1_point(false));
    });
    let p256_sign = per_op(2000, || {
        let signature: Signature = signing_key.try_sign(black_box(&message)).expect("signs");
        black_box(signature);
    });
    let ring_import = per_op(2000, || {
        black_box(
            EcdsaKeyPair::from_private_key_and_public_key(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                black_box(&d),
                point.as_bytes(),
                &rng,
            )
            .expect("valid"),
        );
    });
    let ring_sign = per_op(5000, || {
        black_box(key_pair.sign(&rng, black_box(&message)).expect("signs"));
    });
    println!(
        "p256 0.14: key from d with its public point {p256_import:.1} us, sign {p256_sign:.1} us"
    );
    println!("ring 0.17: key from d and public point (pair checked) {ring_import:.1} us, sign {ring_sign:.1} us");
}

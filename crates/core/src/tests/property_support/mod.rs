//! What the property tests of the parsers of outside input share: the case count and where
//! failures are kept, the secret planted in inputs and the check that no message quotes it,
//! generators of JSON, text and URLs gone wrong (`generators`), an ES256 signer and odd JSON Web
//! Keys (`jwk`), and a fake HTTP that answers from a list.
//!
//! The properties themselves live beside their parsers, each in a module named `properties`
//! that the parser's module declares (`#[cfg(test)] mod properties;`), in a file of that name in
//! the parser's folder: `protocol/jwt/properties.rs` beside `protocol/jwt/mod.rs`, and
//! `record/properties.rs` beside `record.rs`. The name is what `scripts/fuzz-campaign.sh`
//! selects them by. Each runs `PROPTEST_CASES` cases
//! (proptest's own variable, 256 when unset); the few that verify signatures run a fraction of
//! that, since a debug build verifies slowly. No input exceeds a few hundred kilobytes.
//! `scripts/fuzz-campaign.sh` runs these same properties with many more cases in an optimised
//! build.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::http::{Http, HttpFailure, HttpRequest, HttpResponse};

mod generators;
mod jwk;

pub use generators::{
    any_bytes, any_text, edited, js_stringify, js_units, json, json_input, number, object, url,
    value, Json,
};
pub use jwk::{es256, odd_jwk, KIDS, RSA_N};

/// A token, secret or key value planted in inputs: no error message may quote it.
pub const SECRET: &str = "SeCrEt7Qm2ZrT8wLk3XvNp";

/// A property's configuration: `PROPTEST_CASES` cases (256 unless set), divided by `weight`
/// for properties whose cases are slow. Failures are kept in `target/`, outside the source
/// tree, and tried first on the next run.
pub fn config(weight: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        cases: (base.cases / weight).max(1),
        // The workspace's target folder: tests run in the crate's own folder.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/proptest-regressions/fuzz.txt"
        )))),
        ..base
    }
}

/// Whether `text` holds `secret` or any 10-character piece of it.
pub fn leaks_secret(text: &str, secret: &str) -> bool {
    secret
        .as_bytes()
        .windows(10)
        .any(|piece| text.contains(std::str::from_utf8(piece).unwrap_or_default()))
}

/// Whether `text` holds [`SECRET`] or a piece of it.
pub fn leaks(text: &str) -> bool {
    leaks_secret(text, SECRET)
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Answers requests from a list, in order, and counts them.
pub struct Answers {
    answers: RefCell<VecDeque<HttpResponse>>,
    pub sent: Cell<usize>,
}

impl Answers {
    pub fn new(answers: Vec<HttpResponse>) -> Self {
        Self {
            answers: RefCell::new(answers.into()),
            sent: Cell::new(0),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Http for Answers {
    async fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        self.sent.set(self.sent.get() + 1);
        self.answers
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| HttpFailure::Unreachable("no more answers".to_owned()))
    }
}

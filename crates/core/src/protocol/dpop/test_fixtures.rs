//! A key made by Node, shared by the unit tests of the DPoP modules.

use super::DpopKey;

/// A P-256 key made by Node's `crypto.generateKeyPairSync("ec", {namedCurve: "P-256"})`,
/// exported as a JWK; its thumbprint was computed by Node over the canonical JSON.
pub(super) const FIXED_PRIVATE: &str = r#"{"kty":"EC","x":"A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY","y":"epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE","crv":"P-256","d":"yJTRFQ_D5g4F7C_Doss17iuNAu9VqsW4UDVzTJIed1g"}"#;
pub(super) const FIXED_PUBLIC: &str = r#"{"crv":"P-256","alg":"ES256","y":"epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE","kty":"EC","x":"A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY"}"#;
pub(super) const FIXED_D: &str = "yJTRFQ_D5g4F7C_Doss17iuNAu9VqsW4UDVzTJIed1g";
pub(super) const FIXED_THUMBPRINT: &str = "T3iokurJUIgmYdEjLMOAaxFBU14T5He80qeR7Ek0Its";

pub(super) fn fixed_key() -> DpopKey {
    DpopKey::from_stored(FIXED_PUBLIC, FIXED_PRIVATE).unwrap()
}

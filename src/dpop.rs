//! DPoP (RFC 9449): the session's ES256 key and the proofs it signs. Being written (see the
//! interface in the task description); this stub keeps the crate building.

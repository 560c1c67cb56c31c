//! JSON Web Tokens: decoding, and verifying signatures against a JSON Web Key Set. Being written;
//! this stub keeps the crate building.

//! TLS for `rediss://`: the roots a Redis client must trust, as Node trusts them.

/// Readies TLS for a `rediss://` client, and gives the roots it must trust when they are not
/// the crate's default (the system's): with `NODE_EXTRA_CA_CERTS` set, the system's and that
/// file's, as Node trusts.
pub fn tls_roots() -> Option<redis::TlsCertificates> {
    // The crate builds its TLS configuration with the process's default provider: ring, which
    // the HTTP engine uses too (no second TLS stack).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let extra = std::env::var_os("NODE_EXTRA_CA_CERTS").filter(|p| !p.is_empty())?;
    // Given roots replace the system's in the crate, so both go in.
    let mut pem = system_roots_pem();
    if let Ok(bytes) = std::fs::read(extra) {
        pem.extend_from_slice(&bytes);
    }
    Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    })
}

fn system_roots_pem() -> Vec<u8> {
    use base64::Engine as _;
    let mut pem = Vec::new();
    for cert in rustls_native_certs::load_native_certs().certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

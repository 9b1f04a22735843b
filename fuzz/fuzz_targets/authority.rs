//! The Host/authority parser and the edge's header checks: any text is accepted or refused,
//! never a panic; what is accepted is a host and a port that fit in the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((host, _port)) = coffer_api::parse_authority(&text) {
        assert!(text.starts_with(host));
    }
    let _ = coffer_api::fuzzing::edge_check("/secrets", &[(b"host", data)]);
    let _ = coffer_api::fuzzing::edge_check(
        "/",
        &[
            (b"host", b"dev.vault.localhost"),
            (b"transfer-encoding", data),
        ],
    );
    let _ = coffer_api::fuzzing::edge_check(
        "/",
        &[(b"host", b"dev.vault.localhost"), (b"content-length", data)],
    );
});

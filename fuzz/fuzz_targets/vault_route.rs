//! The vault route parser: any method and path gives an operation or a refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const METHODS: [http::Method; 6] = [
    http::Method::GET,
    http::Method::PUT,
    http::Method::POST,
    http::Method::PATCH,
    http::Method::DELETE,
    http::Method::HEAD,
];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(*first) % METHODS.len()];
    let path = String::from_utf8_lossy(rest);
    let _ = coffer_api::fuzzing::vault_route(method, &path);
});

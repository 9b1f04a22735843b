//! The strict JSON body parser: any bytes are a value or a refusal, never a panic or a deep
//! recursion.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = coffer_api::fuzzing::json_body(data);
});

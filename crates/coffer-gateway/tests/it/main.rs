//! The gateway runtime in process: TLS by SNI, the proxy, backends and rotation, against a
//! hand-built configuration and small hyper backends on loopback.

// Test support code outside #[test] functions unwraps too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod proxy;
mod rotation;
mod sni;
mod support;

//! Black-box tests: start the real `coffer` binary on loopback and drive it over HTTPS.

// Test support code outside #[test] functions unwraps too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod apim;
mod audit;
mod certificates;
mod cli;
mod directory;
mod doctor;
mod durability;
mod firewall;
mod first_start;
mod gateway_runtime;
mod gateway_seed;
mod hostile;
mod hostile_conn;
mod hostile_http;
mod keys;
mod logs_cli;
mod management;
mod portable;
mod postgres;
mod raw;
mod secrets;
mod seed;
mod signin;
mod throttle;
mod tokens;
mod vaults_arm;

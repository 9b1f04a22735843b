//! Black-box tests: start the real `coffer` binary on loopback and drive it over HTTPS.

mod harness;

mod durability;
mod hostile;
mod secrets;
mod tokens;

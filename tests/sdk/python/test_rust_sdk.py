"""Runs the Rust SDK client (tests/sdk/rust: azure_identity, azure_security_keyvault_secrets,
azure_security_keyvault_keys and azure_security_keyvault_certificates, pinned by its Cargo.lock;
scripts/test.sh builds it) against the same server, inside the same private hosts namespace."""

import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[3]
BINARY = REPO / "target" / "sdk-rust" / "debug" / "coffer-sdk-rust-tests"


def test_rust_sdk_client(contract):
    assert BINARY.exists(), f"{BINARY} is missing: scripts/test.sh builds it before the suites run"
    env = dict(os.environ, SSL_CERT_FILE=contract.ca_cert, AZURE_AUTHORITY_HOST=contract.authority)
    assert env.get("COFFER_BOOTSTRAP"), "the runner passes the contract path"
    result = subprocess.run([str(BINARY)], env=env, capture_output=True, text=True, timeout=300)
    print(result.stdout[-4000:])
    print(result.stderr[-4000:])
    assert result.returncode == 0, "the Rust SDK client failed (output above)"
    assert "rust sdk: set, get latest, list and a missing secret all behaved" in result.stdout
    assert "rust sdk: keys created, signed, verified (p256 too) and read back" in result.stdout
    assert (
        "rust sdk: self-signed PEM certificate created, its secret's cert and key match (x509-parser, p256)"
        in result.stdout
    )

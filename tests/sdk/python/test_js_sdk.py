"""Runs the JavaScript SDK suites (tests/sdk/js, @azure/identity, @azure/keyvault-secrets,
@azure/keyvault-keys and @azure/keyvault-certificates, pinned by package-lock.json) against the same server, inside the same
private hosts namespace."""

import hashlib
import os
import pathlib
import shutil
import subprocess

import pytest

JS_DIR = pathlib.Path(__file__).resolve().parent.parent / "js"


def _npm_ci() -> None:
    """Installs the locked packages, again only when the lockfile changed."""
    lock = (JS_DIR / "package-lock.json").read_bytes()
    want = hashlib.sha256(lock).hexdigest()
    stamp = JS_DIR / "node_modules" / ".lock-sha256"
    if stamp.exists() and stamp.read_text() == want:
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        check=True,
        timeout=600,
    )
    stamp.write_text(want)


# Each suite file and the number of tests in it, all of which must run and pass.
SUITES = {"secrets.test.mjs": 3, "keys.test.mjs": 5, "certificates.test.mjs": 3}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_javascript_sdk_suite(contract, suite):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are required for the JavaScript SDK suite")
    _npm_ci()
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=contract.ca_cert)
    assert env.get("COFFER_BOOTSTRAP"), "the runner passes the contract path"
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", suite],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(result.stdout[-6000:])
    print(result.stderr[-3000:])
    assert result.returncode == 0, f"the JavaScript SDK suite {suite} failed (output above)"
    want = SUITES[suite]
    assert f"pass {want}" in result.stdout, f"expected all {want} tests of {suite} to run and pass"

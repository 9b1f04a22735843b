"""Runs the JavaScript SDK suite (tests/sdk/js, @azure/identity + @azure/keyvault-secrets, pinned by
package-lock.json) against the same server, inside the same private hosts namespace."""

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


def test_javascript_sdk_suite(contract):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are required for the JavaScript SDK suite")
    _npm_ci()
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=contract.ca_cert)
    assert env.get("COFFER_BOOTSTRAP"), "the runner passes the contract path"
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "secrets.test.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(result.stdout[-6000:])
    print(result.stderr[-3000:])
    assert result.returncode == 0, "the JavaScript SDK suite failed (output above)"
    assert "pass 3" in result.stdout, "expected all three JavaScript tests to run and pass"

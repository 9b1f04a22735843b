"""The first ten minutes: the `export` lines `coffer serve` prints (and `coffer env` repeats)
are all an unmodified app needs. A Python and a Node.js app using `DefaultAzureCredential()`
run with only those lines (plus PATH and HOME) in their environment, the way a user pastes
them into a shell."""

import os
import pathlib
import ssl
import subprocess
import sys
import tempfile

import pytest

from test_js_sdk import JS_DIR, _npm_ci

PY_APP = """
import os, uuid
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
client = SecretClient(os.environ["AZURE_KEYVAULT_URL"], DefaultAzureCredential())
name = "first-py-" + uuid.uuid4().hex[:8]
client.set_secret(name, "from-python")
print(name + "=" + client.get_secret(name).value)
"""


def printed_env_block():
    """The `export` lines under the summary's DefaultAzureCredential heading."""
    path = os.environ.get("COFFER_SERVER_STDOUT")
    assert path, "the runner passes the server's stdout as COFFER_SERVER_STDOUT"
    lines = pathlib.Path(path).read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if "env for DefaultAzureCredential" in l)
    block = []
    for line in lines[start + 1 :]:
        if not line.strip().startswith("export "):
            break
        block.append(line.strip())
    assert block, "the summary prints export lines"
    return block


def run_pasted(block, argv, cwd):
    """Runs argv in a shell that has only PATH, HOME and the pasted lines."""
    script = "\n".join(block) + '\nexec "$@"\n'
    with tempfile.TemporaryDirectory() as home:
        env = {"PATH": os.environ["PATH"], "HOME": home}
        return subprocess.run(
            ["sh", "-c", script, "sh", *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def test_coffer_env_prints_the_same_block(contract):
    boot = pathlib.Path(os.environ["COFFER_BOOTSTRAP"])
    out = subprocess.run(
        [os.environ["COFFER_BIN"], "env", "--data-dir", str(boot.parent)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    assert out == printed_env_block()
    names = {l.split()[1].split("=")[0] for l in out}
    assert {"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"} <= names
    # No admin client secret: EnvironmentCredential would take it and stop at instance discovery.
    assert "AZURE_CLIENT_SECRET" not in names


def test_the_ca_bundle_keeps_the_system_cas_and_adds_coffers(contract):
    bundle = contract.raw["ca_bundle"]
    ctx = ssl.create_default_context(cafile=bundle)
    own = ssl.create_default_context(cafile=contract.ca_cert)
    assert ctx.cert_store_stats()["x509_ca"] > own.cert_store_stats()["x509_ca"]
    with open(contract.ca_cert) as f:
        assert f.read().strip() in open(bundle).read()


def test_python_app_with_default_azure_credential_and_only_the_printed_env(contract):
    block = printed_env_block()
    with tempfile.TemporaryDirectory() as d:
        app = pathlib.Path(d) / "app.py"
        app.write_text(PY_APP)
        r = run_pasted(block, [sys.executable, str(app)], d)
    print(r.stdout, r.stderr[-4000:])
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.strip().endswith("=from-python")


def test_node_app_with_default_azure_credential_and_only_the_printed_env(contract):
    import shutil

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are required for the JavaScript check")
    _npm_ci()
    r = run_pasted(printed_env_block(), ["node", "default_credential_app.mjs"], JS_DIR)
    print(r.stdout, r.stderr[-4000:])
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.strip().endswith("=from-node")

"""Fixtures for the official-Python-SDK conformance suite.

The suite talks to a running `coffer serve` described by the JSON contract named in the
COFFER_BOOTSTRAP environment variable (tests/sdk/run_python.sh starts the server and sets it).
Host names such as dev.vault.localhost must resolve to the server (the run script runs pytest
with a private /etc/hosts), and the server's CA must be trusted through REQUESTS_CA_BUNDLE.
"""

import json
import os
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient


class Contract:
    """The bootstrap contract written by `coffer serve` on first start."""

    def __init__(self, data):
        self.raw = data
        self.tenant_id = data["tenant_id"]
        self.client_id = data["client_id"]
        self.client_secret = data["client_secret"]
        self.object_id = data.get("object_id")
        self.authority = data["authority"].rstrip("/")
        self.vault_url = data["vault_url"].rstrip("/")
        self.vault_resource = data["vault_resource"].rstrip("/")
        self.ca_cert = data["ca_cert"]
        parts = urlsplit(self.vault_url)
        self.port = parts.port or 443
        self.vault_host = parts.hostname
        # "dev.vault.localhost" -> "vault.localhost"
        self.vault_domain = parts.hostname.split(".", 1)[1]

    def vault_url_for(self, vault_name):
        return f"https://{vault_name}.{self.vault_domain}:{self.port}"

    def token(self, resource=None, v2=True):
        """Gets an access token from the issuer with plain HTTP calls (no SDK)."""
        resource = resource or self.vault_resource
        if v2:
            url = f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"
            form = {"scope": resource + "/.default"}
        else:
            url = f"{self.authority}/{self.tenant_id}/oauth2/token"
            form = {"resource": resource}
        form.update(
            client_id=self.client_id,
            client_secret=self.client_secret,
            grant_type="client_credentials",
        )
        r = requests.post(url, data=form, verify=self.ca_cert, timeout=30)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert body.get("token_type", "Bearer").lower() == "bearer", body
        assert isinstance(body["expires_in"], int) or str(body["expires_in"]).isdigit(), body
        return body["access_token"]


@pytest.fixture(scope="session")
def contract():
    path = os.environ.get("COFFER_BOOTSTRAP")
    if not path:
        pytest.exit(
            "COFFER_BOOTSTRAP is not set: run the suite with tests/sdk/run_python.sh", returncode=3
        )
    with open(path, encoding="utf-8") as f:
        return Contract(json.load(f))


@pytest.fixture(scope="session")
def credential(contract):
    cred = ClientSecretCredential(
        contract.tenant_id,
        contract.client_id,
        contract.client_secret,
        authority=contract.authority,
        disable_instance_discovery=True,
    )
    yield cred
    cred.close()


@pytest.fixture(scope="session")
def client(contract, credential):
    # Challenge-resource verification stays at its default (on).
    c = SecretClient(contract.vault_url, credential)
    yield c
    c.close()


@pytest.fixture(scope="session")
def run_id():
    """A prefix unique to this run, so reruns against a long-lived server never collide."""
    return "sdkpy" + uuid.uuid4().hex[:10]


@pytest.fixture
def unique_name(run_id, request):
    """Returns a function making secret names unique to this run and this test."""
    counter = iter(range(1_000_000))
    test = "".join(ch for ch in request.node.name if ch.isascii() and ch.isalnum())[:40]

    def make(label="s"):
        label = "".join(ch for ch in label if ch.isascii() and (ch.isalnum() or ch == "-"))
        return f"{run_id}-{test}-{label}-{next(counter)}"[:127]

    return make

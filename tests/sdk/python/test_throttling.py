"""Throttling and the test helpers as the official SDK sees them: a vault whose limit is lowered
through Coffer's test helper (`Coffer.Testing/settings/default`) answers 429 `Throttled` with
`Retry-After`, and the SDK's default retry policy waits and gets every call through on its own
(the audit log shows the 429s it absorbed); an injected 503 burst is retried the same way; and
the vault clock moved forward expires a key and carries out a scheduled purge.

The vault name must be listed in VAULT_NAMES in tests/sdk/run_python.sh (private /etc/hosts).
"""

import os
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from azure.keyvault.secrets import SecretClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families

VAULT = "sdk-kv-throttle"
# A SHA-256 digest to sign (signing always runs in the vault, never locally in the SDK).
DIGEST = bytes(range(32))
API = "2026-02-01"


@pytest.fixture(scope="module")
def arm(contract):
    base = contract.raw["management_url"].rstrip("/")
    token = contract.token(base + "/", v2=False)
    vault_id = (
        f"/subscriptions/{contract.raw['subscription_id']}/resourceGroups/"
        f"{contract.raw['resource_group']}/providers/Microsoft.KeyVault/vaults/{VAULT}"
    )

    def call(method, path, body=None):
        sep = "&" if "?" in path else "?"
        r = requests.request(
            method,
            f"{base}{path}{sep}api-version={API}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            verify=contract.ca_cert,
            timeout=30,
        )
        return r.status_code, (r.json() if r.text else None)

    status, body = call("PUT", vault_id, {
        "location": "local",
        "properties": {
            "tenantId": contract.tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [{
                "tenantId": contract.tenant_id,
                "objectId": contract.object_id,
                "permissions": {
                    "secrets": ["get", "set", "list", "delete", "purge"],
                    "keys": ["create", "get", "sign", "delete", "purge"],
                },
            }],
            "softDeleteRetentionInDays": 7,
        },
    })
    assert status in (200, 201), body
    # The audit log, to count the 429s the SDK retried.
    status, body = call("PUT", f"{vault_id}/providers/Microsoft.Insights/diagnosticSettings/audit", {
        "properties": {
            "workspaceId": "/subscriptions/s/resourceGroups/logs/providers/Microsoft.OperationalInsights/workspaces/w",
            "logs": [{"category": "AuditEvent", "enabled": True}],
        },
    })
    assert status == 200, body
    call.vault_id = vault_id
    yield call
    call("DELETE", vault_id)
    call("POST", f"/subscriptions/{contract.raw['subscription_id']}/providers/Microsoft.KeyVault/locations/local/deletedVaults/{VAULT}/purge")


def test_the_sdk_gets_through_a_throttling_burst_with_its_default_retry_policy(arm, contract, credential):
    status, body = arm("PUT", f"{arm.vault_id}/providers/Coffer.Testing/settings/default",
                       {"properties": {"throttleLimit": 3}})
    assert status == 200, body
    assert body["properties"]["throttleLimit"] == 3
    try:
        # The default policy: no retry options given.
        with SecretClient(contract.vault_url_for(VAULT), credential) as client:
            for i in range(7):
                client.set_secret(f"burst-{i}", f"v{i}")
            assert client.get_secret("burst-6").value == "v6"
    finally:
        arm("PUT", f"{arm.vault_id}/providers/Coffer.Testing/settings/default", {"properties": {}})

    # 8 calls at 3 per 10-second window: some were refused and retried after Retry-After.
    throttled = []
    for _ in range(50):
        status, body = arm("GET", f"{arm.vault_id}/providers/Coffer.Diagnostics/auditEvents?top=1000&status=429")
        assert status == 200, body
        throttled = body["value"]
        if throttled:
            break
        time.sleep(0.1)
    assert throttled, "no 429 reached the audit log"
    event = throttled[0]["properties"]
    assert event["throttling"]["limit"].endswith(": 3 per 10 s per vault"), event
    assert event["throttling"]["retryAfterSeconds"] >= 1, event
    assert event["denyReason"] == {"check": "throttling", "id": "Throttled"}, event

    # The metrics count them by limit.
    url = os.environ.get("COFFER_METRICS_URL")
    if url:
        r = requests.get(url, timeout=30, proxies={"http": None, "https": None})
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        samples = families["coffer_throttled_requests"].samples
        assert any(s.labels["limit"].endswith(": 3 per 10 s per vault") and s.value >= 1
                   for s in samples), samples


def test_an_injected_503_burst_is_retried_by_the_sdk(arm, contract, credential):
    with SecretClient(contract.vault_url_for(VAULT), credential) as client:
        client.set_secret("faulty", "v")
        status, body = arm("PUT", f"{arm.vault_id}/providers/Coffer.Testing/settings/default",
                           {"properties": {"fault": {"status": 503, "count": 2, "operation": "SecretGet"}}})
        assert status == 200, body
        try:
            # Two injected 503s (Retry-After: 1), then the answer: the default policy absorbs them.
            assert client.get_secret("faulty").value == "v"
        finally:
            arm("PUT", f"{arm.vault_id}/providers/Coffer.Testing/settings/default", {"properties": {}})
    for _ in range(50):
        status, body = arm("GET", f"{arm.vault_id}/providers/Coffer.Diagnostics/auditEvents?top=1000&status=503")
        if len(body["value"]) >= 2:
            break
        time.sleep(0.1)
    assert len(body["value"]) == 2, body
    assert body["value"][0]["properties"]["denyReason"]["id"] == "InjectedFault"


def test_the_vault_clock_expires_a_key_and_carries_out_a_scheduled_purge(arm, contract, credential):
    settings = f"{arm.vault_id}/providers/Coffer.Testing/settings/default"
    url = contract.vault_url_for(VAULT)
    with SecretClient(url, credential) as secrets, KeyClient(url, credential) as keys:
        key = keys.create_rsa_key("clocked", size=2048,
                                  expires_on=datetime.now(timezone.utc) + timedelta(days=1))
        crypto = CryptographyClient(key, credential)
        crypto.sign(SignatureAlgorithm.rs256, DIGEST)
        secrets.set_secret("doomed", "v")
        secrets.begin_delete_secret("doomed").wait()
        assert secrets.get_deleted_secret("doomed").name == "doomed"
        try:
            # The vault keeps deleted objects 7 days: move its clock 8 days on.
            status, body = arm("PUT", settings, {"properties": {"clockOffsetSeconds": 8 * 86400}})
            assert status == 200, body
            with pytest.raises(HttpResponseError) as e:
                crypto.sign(SignatureAlgorithm.rs256, DIGEST)
            assert e.value.status_code == 403
            assert (e.value.error.innererror or {}).get("code") == "KeyExpired", e.value.message
            with pytest.raises(ResourceNotFoundError):
                secrets.get_deleted_secret("doomed")
        finally:
            arm("PUT", settings, {"properties": {}})
        crypto.sign(SignatureAlgorithm.rs256, DIGEST)

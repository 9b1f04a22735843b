"""The firewall and access-policy 403s as the official data-plane SDK sees them
(`HttpResponseError` with Azure's codes), and the audit log switched on by a diagnostic setting
written the way `az monitor diagnostic-settings create` writes it, then read back through
Coffer's `auditEvents`.

The vault name must be listed in VAULT_NAMES in tests/sdk/run_python.sh (private /etc/hosts).
"""

import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.keyvault.secrets import SecretClient

from test_azure_cli import az  # noqa: F401  (the signed-in CLI fixture)

VAULT = "sdk-kv-fw"
API = "2026-02-01"


@pytest.fixture(scope="module")
def arm(contract):
    base = contract.raw["management_url"].rstrip("/")
    token = contract.token(base + "/", v2=False)
    vault_id = (
        f"/subscriptions/{contract.raw['subscription_id']}/resourceGroups/"
        f"{contract.raw['resource_group']}/providers/Microsoft.KeyVault/vaults/{VAULT}"
    )

    def call(method, path, body=None, api=API):
        sep = "&" if "?" in path else "?"
        r = requests.request(
            method,
            f"{base}{path}{sep}api-version={api}",
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
            # set and list, but not get: the policy 403 below.
            "accessPolicies": [{
                "tenantId": contract.tenant_id,
                "objectId": contract.object_id,
                "permissions": {"secrets": ["set", "list", "delete", "purge"]},
            }],
            "enableRbacAuthorization": False,
            "softDeleteRetentionInDays": 7,
        },
    })
    assert status in (200, 201), body
    call.vault_id = vault_id
    yield call
    call("DELETE", vault_id)
    call("POST", f"/subscriptions/{contract.raw['subscription_id']}/providers/Microsoft.KeyVault/locations/local/deletedVaults/{VAULT}/purge")


def _error(e):
    err = e.value.error
    inner = (err.innererror or {}).get("code") if err is not None else None
    return e.value.status_code, err.code if err is not None else None, inner, err.message if err is not None else ""


def test_policy_and_firewall_refusals_reach_the_sdk_with_azures_codes(arm, contract, credential):
    with SecretClient(contract.vault_url_for(VAULT), credential) as client:
        client.set_secret("guarded", "v")
        with pytest.raises(HttpResponseError) as e:
            client.get_secret("guarded")
        status, code, inner, message = _error(e)
        assert (status, code, inner) == (403, "Forbidden", "AccessDenied"), message
        assert f"does not have secrets get permission on key vault '{VAULT};location=local'" in message
        assert f"oid={contract.object_id};" in message

        status, body = arm("PATCH", arm.vault_id, {"properties": {"networkAcls": {
            "defaultAction": "Deny", "bypass": "None", "ipRules": [{"value": "203.0.113.7"}]}}})
        assert status == 200, body
        with pytest.raises(HttpResponseError) as e:
            client.set_secret("guarded", "v2")
        status, code, inner, message = _error(e)
        assert (status, code, inner) == (403, "Forbidden", "ForbiddenByFirewall"), message
        assert message.startswith("Client address is not authorized and caller is not a trusted service.\r\n"
                                  "Client address: 127.0.0.1\r\nCaller: appid="), message
        assert message.endswith(f"\r\nVault: {VAULT};location=local"), message

        status, body = arm("PATCH", arm.vault_id, {"properties": {"networkAcls": {
            "defaultAction": "Allow", "bypass": "AzureServices", "ipRules": []}}})
        assert status == 200, body
        client.set_secret("guarded", "v3")


def _events(arm, query=""):
    status, body = arm("GET", f"{arm.vault_id}/providers/Coffer.Diagnostics/auditEvents?top=1000{query}")
    assert status == 200, body
    return body["value"]


def test_az_monitor_diagnostic_settings_turn_the_audit_log_on(arm, az, contract):  # noqa: F811
    workspace = (f"/subscriptions/{contract.raw['subscription_id']}/resourceGroups/logs/providers/"
                 "Microsoft.OperationalInsights/workspaces/w")
    az("monitor", "diagnostic-settings", "create", "--resource", arm.vault_id, "--name", "to-audit",
       "--workspace", workspace, "--logs", '[{"category":"AuditEvent","enabled":true}]', "-o", "json")
    shown = az("monitor", "diagnostic-settings", "show", "--resource", arm.vault_id, "--name", "to-audit",
               "-o", "json").stdout
    assert '"AuditEvent"' in shown

    token = contract.token()
    r = requests.get(f"{contract.vault_url_for(VAULT)}/secrets/guarded?api-version=7.6",
                     headers={"Authorization": f"Bearer {token}"}, verify=contract.ca_cert, timeout=30)
    assert r.status_code == 403
    request_id = r.headers["x-ms-request-id"]
    deadline = time.time() + 10
    found = []
    while not found and time.time() < deadline:
        found = _events(arm, f"&requestId={request_id}")
        time.sleep(0.2)
    assert found, "the refused request was audited"
    event = found[0]
    assert event["operationName"] == "SecretGet"
    assert event["properties"]["httpStatusCode"] == 403
    assert event["properties"]["isAccessPolicyMatch"] is False
    assert event["identity"]["claim"]["oid"] == contract.object_id

    az("monitor", "diagnostic-settings", "delete", "--resource", arm.vault_id, "--name", "to-audit")

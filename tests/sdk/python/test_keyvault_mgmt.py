"""Vaults as ARM resources, driven by the official `azure-mgmt-keyvault` client pointed at Coffer
as a custom cloud (`base_url`, `credential_scopes`): create, read, list, update, access policies,
delete, list the deleted vaults and purge; the new vault answers the data-plane SDK at once.

The vault name must be listed in VAULT_NAMES in tests/sdk/run_python.sh (private /etc/hosts).
"""

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient
from azure.mgmt.keyvault import KeyVaultManagementClient

VAULT = "sdk-kv-mgmt"


@pytest.fixture(scope="module")
def kv(credential, contract):
    arm = contract.raw["management_url"].rstrip("/")
    client = KeyVaultManagementClient(
        credential,
        contract.raw["subscription_id"],
        base_url=arm,
        credential_scopes=[arm + "/.default"],
        polling_interval=1,
    )
    yield client
    client.close()


def _policy(contract, object_id, secrets, application_id=None):
    entry = {
        "tenantId": contract.tenant_id,
        "objectId": object_id,
        "permissions": {"secrets": secrets, "keys": [], "certificates": [], "storage": []},
    }
    if application_id:
        entry["applicationId"] = application_id
    return entry


def test_vault_lifecycle_with_the_management_sdk(kv, contract, credential):
    rg = contract.raw["resource_group"]
    assert kv.vaults.check_name_availability({"name": VAULT, "type": "Microsoft.KeyVault/vaults"}).name_available

    poller = kv.vaults.begin_create_or_update(
        rg,
        VAULT,
        {
            "location": "local",
            "tags": {"suite": "sdk"},
            "properties": {
                "tenantId": contract.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [_policy(contract, contract.object_id, ["all"])],
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": 7,
                "enableRbacAuthorization": False,
            },
        },
    )
    vault = poller.result()
    assert vault.name == VAULT
    assert vault.type == "Microsoft.KeyVault/vaults"
    assert vault.properties.provisioning_state == "Succeeded"
    assert vault.properties.vault_uri == f"{contract.vault_url_for(VAULT)}/"
    assert vault.properties.soft_delete_retention_in_days == 7
    assert vault.properties.tenant_id == contract.tenant_id

    # Served by the data plane at once, to the official data-plane SDK.
    with SecretClient(contract.vault_url_for(VAULT), credential) as secrets:
        assert secrets.set_secret("made-by-arm", "hello").value == "hello"
        assert secrets.get_secret("made-by-arm").value == "hello"

    got = kv.vaults.get(rg, VAULT)
    assert got.id == vault.id and got.tags == {"suite": "sdk"}
    assert VAULT in [v.name for v in kv.vaults.list_by_resource_group(rg)]
    assert VAULT in [v.name for v in kv.vaults.list_by_subscription()]
    listed = [r for r in kv.vaults.list() if r.name == VAULT]
    assert listed and listed[0].id == vault.id
    # $top pages: the client follows nextLink until every vault is seen.
    paged = [v.name for v in kv.vaults.list_by_subscription(top=1)]
    assert VAULT in paged and "dev" in paged and len(paged) == len(set(paged))

    updated = kv.vaults.update(
        rg,
        VAULT,
        {"tags": {"suite": "sdk", "step": "patch"}, "properties": {"networkAcls": {
            "defaultAction": "Deny", "bypass": "AzureServices", "ipRules": [{"value": "127.0.0.1"}]}}},
    )
    assert updated.tags["step"] == "patch"
    assert updated.properties.network_acls.default_action == "Deny"
    assert [r.value for r in updated.properties.network_acls.ip_rules] == ["127.0.0.1/32"]

    other = "00000000-0000-0000-0000-00000000c0de"
    added = kv.vaults.update_access_policy(
        rg, VAULT, "add", {"properties": {"accessPolicies": [_policy(contract, other, ["get", "list"])]}}
    )
    oids = [p.object_id for p in added.properties.access_policies]
    assert other in oids
    mine = [p for p in added.properties.access_policies if p.object_id == other][0]
    assert sorted(mine.permissions.secrets) == ["get", "list"]
    removed = kv.vaults.update_access_policy(
        rg, VAULT, "remove", {"properties": {"accessPolicies": [_policy(contract, other, ["get", "list"])]}}
    )
    assert other not in [p.object_id for p in removed.properties.access_policies]

    with pytest.raises(HttpResponseError) as info:
        kv.vaults.update(rg, VAULT, {"properties": {"enableRbacAuthorization": True}})
    assert info.value.status_code == 400
    assert "enable-rbac-authorization false" in str(info.value)

    taken = kv.vaults.check_name_availability({"name": VAULT, "type": "Microsoft.KeyVault/vaults"})
    assert not taken.name_available and taken.reason == "AlreadyExists"

    kv.vaults.delete(rg, VAULT)
    with pytest.raises(ResourceNotFoundError):
        kv.vaults.get(rg, VAULT)
    deleted = [d for d in kv.vaults.list_deleted() if d.name == VAULT]
    assert deleted, "a deleted vault is listed"
    assert deleted[0].properties.vault_id == vault.id
    assert deleted[0].properties.scheduled_purge_date > deleted[0].properties.deletion_date
    assert kv.vaults.get_deleted(VAULT, "local").name == VAULT
    kv.vaults.begin_purge_deleted(VAULT, "local").result()
    with pytest.raises(ResourceNotFoundError):
        kv.vaults.get_deleted(VAULT, "local")
    assert kv.vaults.check_name_availability({"name": VAULT, "type": "Microsoft.KeyVault/vaults"}).name_available


def test_refusals_surface_as_azure_errors(kv, contract):
    rg = contract.raw["resource_group"]
    with pytest.raises(ResourceNotFoundError) as info:
        kv.vaults.get(rg, "no-such-vault")
    assert info.value.error.code == "ResourceNotFound"
    with pytest.raises(HttpResponseError) as info:
        kv.vaults.begin_create_or_update(
            rg,
            "sdk-kv-bad",
            {"location": "local", "properties": {
                "tenantId": contract.tenant_id, "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [], "softDeleteRetentionInDays": 3}},
        ).result()
    assert info.value.status_code == 400
    assert "between 7 and 90" in str(info.value)
    assert list(kv.managed_hsms.list_by_subscription()) == []

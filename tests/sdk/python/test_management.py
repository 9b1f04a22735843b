"""The management (ARM) endpoint and managed identities, driven by the official Python SDKs.

The management clients (azure-mgmt-msi, azure-mgmt-resource, azure-mgmt-resource-subscriptions)
are pointed at Coffer as a custom cloud with `base_url` and `credential_scopes`; the managed
identity flows use azure-identity's ManagedIdentityCredential configured only through its
environment variables, exactly as a workload would be.
"""

import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.msi.models import Identity
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

# Every environment variable that makes ManagedIdentityCredential pick a flavour.
MI_ENV = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
)


@pytest.fixture(scope="module")
def arm(contract):
    return contract.raw["management_url"].rstrip("/")


@pytest.fixture(scope="module")
def mgmt_kwargs(arm):
    return {"base_url": arm, "credential_scopes": [arm + "/.default"]}


@pytest.fixture(scope="module")
def msi(credential, contract, mgmt_kwargs):
    client = ManagedServiceIdentityClient(credential, contract.raw["subscription_id"], **mgmt_kwargs)
    yield client
    client.close()


@pytest.fixture
def clean_mi_env(monkeypatch):
    for name in MI_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def arm_call(credential, arm, method, path, api_version, body=None):
    """A raw management call with a token from the bootstrap credential."""
    token = credential.get_token(arm + "/.default").token
    sep = "&" if "?" in path else "?"
    r = requests.request(
        method,
        f"{arm}{path}{sep}api-version={api_version}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return r


def new_identity(msi, contract, label):
    name = f"{label}-{uuid.uuid4().hex[:10]}"
    rg = contract.raw["resource_group"]
    identity = msi.user_assigned_identities.create_or_update(
        rg, name, Identity(location="local", tags={"suite": "sdk"})
    )
    return rg, identity


def test_metadata_endpoint_describes_this_cloud(arm, contract):
    r = requests.get(f"{arm}/metadata/endpoints?api-version=2022-09-01", timeout=30)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["authentication"]["loginEndpoint"].rstrip("/") == contract.authority
    assert doc["authentication"]["audiences"][0].rstrip("/") == arm
    assert doc["resourceManager"].rstrip("/") == arm
    assert doc["suffixes"]["keyVaultDns"] == contract.vault_resource.split("://", 1)[1]
    assert isinstance(requests.get(f"{arm}/metadata/endpoints?api-version=2019-05-01", timeout=30).json(), list)


def test_subscriptions_and_tenants(credential, contract, mgmt_kwargs):
    with SubscriptionClient(credential, **mgmt_kwargs) as subs:
        listed = list(subs.subscriptions.list())
        mine = [s for s in listed if s.subscription_id == contract.raw["subscription_id"]]
        assert len(mine) == 1, listed
        assert mine[0].tenant_id == contract.tenant_id
        assert mine[0].state == "Enabled"
        assert mine[0].id == f"/subscriptions/{contract.raw['subscription_id']}"
        got = subs.subscriptions.get(contract.raw["subscription_id"])
        assert got.display_name == mine[0].display_name
        tenants = list(subs.tenants.list())
        assert [t.tenant_id for t in tenants] == [contract.tenant_id]


def test_resource_groups(credential, contract, mgmt_kwargs):
    name = f"sdk-rg-{uuid.uuid4().hex[:8]}"
    with ResourceManagementClient(credential, contract.raw["subscription_id"], **mgmt_kwargs) as rm:
        assert rm.resource_groups.check_existence(contract.raw["resource_group"])
        created = rm.resource_groups.create_or_update(name, {"location": "local", "tags": {"a": "1"}})
        assert created.name == name and created.location == "local"
        assert created.properties.provisioning_state == "Succeeded"
        assert rm.resource_groups.get(name).tags == {"a": "1"}
        assert name in [g.name for g in rm.resource_groups.list()]
        rm.resource_groups.begin_delete(name).result()
        assert not rm.resource_groups.check_existence(name)


def test_user_assigned_identity_lifecycle(msi, contract):
    rg, identity = new_identity(msi, contract, "life")
    assert identity.type == "Microsoft.ManagedIdentity/userAssignedIdentities"
    assert identity.tenant_id == contract.tenant_id
    assert identity.principal_id and identity.client_id
    again = msi.user_assigned_identities.create_or_update(rg, identity.name, Identity(location="local"))
    assert again.principal_id == identity.principal_id, "an update keeps the identity"
    got = msi.user_assigned_identities.get(rg, identity.name)
    assert got.client_id == identity.client_id and got.id == identity.id
    assert identity.name in [i.name for i in msi.user_assigned_identities.list_by_resource_group(rg)]
    assert identity.name in [i.name for i in msi.user_assigned_identities.list_by_subscription()]
    msi.user_assigned_identities.delete(rg, identity.name)
    with pytest.raises(ResourceNotFoundError):
        msi.user_assigned_identities.get(rg, identity.name)
    msi.user_assigned_identities.delete(rg, identity.name)  # 204: already gone


def _assert_refused_as(client_cm, identity, contract):
    """The vault accepts the identity's token, then refuses by access policy naming it."""
    with client_cm as client:
        with pytest.raises(HttpResponseError) as info:
            client.get_secret("anything-" + uuid.uuid4().hex[:6])
    assert info.value.status_code == 403, info.value
    message = str(info.value)
    assert f"appid={identity.client_id};oid={identity.principal_id}" in message, message


def test_managed_identity_app_service_flavour(msi, contract, credential, arm, clean_mi_env):
    rg, identity = new_identity(msi, contract, "appsvc")
    r = arm_call(credential, arm, "POST", f"{identity.id}/listSecrets", "2024-11-30")
    assert r.status_code == 200, r.text
    secrets = r.json()
    assert secrets["identityEndpoint"] == f"{contract.authority}/msi/token"
    clean_mi_env.setenv("IDENTITY_ENDPOINT", secrets["identityEndpoint"])
    clean_mi_env.setenv("IDENTITY_HEADER", secrets["identityHeader"])

    cred = ManagedIdentityCredential(client_id=identity.client_id)
    token = cred.get_token(contract.vault_resource + "/.default")
    assert token.token and token.expires_on > 0
    _assert_refused_as(SecretClient(contract.vault_url, cred), identity, contract)

    # Selection by resource id works too; a header of another identity does not.
    by_rid = ManagedIdentityCredential(identity_config={"resource_id": identity.id})
    assert by_rid.get_token(contract.vault_resource + "/.default").token
    clean_mi_env.setenv("IDENTITY_HEADER", "0" * 32 + ".forged")
    forged = ManagedIdentityCredential(client_id=identity.client_id)
    with pytest.raises(Exception) as info:
        forged.get_token(contract.vault_resource + "/.default")
    assert "X-IDENTITY-HEADER" in str(info.value), info.value
    msi.user_assigned_identities.delete(rg, identity.name)


def test_managed_identity_imds_flavour(msi, contract, credential, arm, clean_mi_env):
    """IMDS style through AZURE_POD_IDENTITY_AUTHORITY_HOST: the SDK sends a plain GET to
    {host}/metadata/identity/oauth2/token with `Metadata: true`; an https host works with the
    CA from REQUESTS_CA_BUNDLE. Coffer knows the workload by its source address (127.0.0.1)."""
    rg, identity = new_identity(msi, contract, "imds")
    r = arm_call(
        credential, arm, "PUT", f"{identity.id}/imdsBindings", "2024-11-30",
        body={"addresses": ["127.0.0.1", "::1"]},
    )
    assert r.status_code == 200, r.text
    clean_mi_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", contract.authority)

    cred = ManagedIdentityCredential(client_id=identity.client_id)
    token = cred.get_token(contract.vault_resource + "/.default")
    assert token.token
    _assert_refused_as(SecretClient(contract.vault_url, cred), identity, contract)
    # With a single identity bound to the address, no selector is needed.
    assert ManagedIdentityCredential().get_token(contract.vault_resource + "/.default").token

    # Unbound, the address gets nothing.
    r = arm_call(
        credential, arm, "PUT", f"{identity.id}/imdsBindings", "2024-11-30", body={"addresses": []}
    )
    assert r.status_code == 200, r.text
    with pytest.raises(Exception) as info:
        ManagedIdentityCredential(client_id=identity.client_id).get_token(
            contract.vault_resource + "/.default"
        )
    assert "Identity not found" in str(info.value), info.value
    msi.user_assigned_identities.delete(rg, identity.name)

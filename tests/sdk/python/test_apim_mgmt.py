"""API Management services as ARM resources, driven by the official `azure-mgmt-apimanagement`
client pointed at Coffer as a custom cloud: the seed scenario on the management side. Create a
service and a vault certificate (`CertificateClient`); add the custom domain with the identity
off (refused); turn the identity on, no access policy (the seed's exact Forbidden message); add
the policy for the principal found by the service's name in Graph (`azure-mgmt-keyvault`); add
the domain again and read its thumbprint. Plus the child entities with ETags and hidden keys.

The steps that read the certificate need the server's HTTPS vault reader (the gateway runtime);
without it they are skipped with that reason.
"""

import re

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.keyvault.certificates import CertificateClient, CertificatePolicy
from azure.mgmt.apimanagement import ApiManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient

HOST = "api.contoso.test"


def _arm_client(cls, credential, contract):
    arm = contract.raw["management_url"].rstrip("/")
    return cls(
        credential,
        contract.raw["subscription_id"],
        base_url=arm,
        credential_scopes=[arm + "/.default"],
        polling_interval=1,
    )


@pytest.fixture(scope="module")
def apim(credential, contract):
    c = _arm_client(ApiManagementClient, credential, contract)
    yield c
    c.close()


@pytest.fixture(scope="module")
def kv(credential, contract):
    c = _arm_client(KeyVaultManagementClient, credential, contract)
    yield c
    c.close()


def _create(apim, rg, name, identity=None):
    body = {
        "location": "local",
        "sku": {"name": "Developer", "capacity": 1},
        "publisher_email": "admin@contoso.test",
        "publisher_name": "Contoso",
    }
    if identity:
        body["identity"] = {"type": identity}
    return apim.api_management_service.begin_create_or_update(rg, name, body).result()


def _hosts(apim, rg, name, secret_url):
    return apim.api_management_service.begin_update(
        rg,
        name,
        {
            "hostname_configurations": [
                {"type": "Proxy", "host_name": HOST, "key_vault_id": secret_url}
            ]
        },
    ).result()


def _vault_certificate(contract, credential, name):
    with CertificateClient(contract.vault_url, credential) as certs:
        policy = CertificatePolicy(
            issuer_name="Self",
            subject=f"CN={HOST}",
            san_dns_names=[HOST],
            content_type="application/x-pkcs12",
            validity_in_months=12,
        )
        certs.begin_create_certificate(name, policy).result()
    # Versionless, with the trailing slash of the seed's message.
    return f"{contract.vault_url}/secrets/{name}/"


def _graph_principal(contract, display_name):
    graph = contract.raw["graph_url"].rstrip("/")
    token = contract.token(graph)
    r = requests.get(
        f"{graph}/v1.0/servicePrincipals",
        params={"$filter": f"displayName eq '{display_name}'"},
        headers={"Authorization": f"Bearer {token}"},
        verify=contract.ca_cert,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()["value"]


def test_the_seed_scenario_with_the_management_sdk(apim, kv, contract, credential, run_id):
    rg = contract.raw["resource_group"]
    name = f"{run_id}-gw"
    svc = _create(apim, rg, name)
    assert svc.provisioning_state == "Succeeded"
    assert svc.gateway_url.startswith(f"https://{name}.gateway.")
    assert svc.hostname_configurations[0].certificate_source == "BuiltIn"
    assert svc.hostname_configurations[0].host_name == f"{name}.gateway.{contract.vault_domain.split('.', 1)[1]}"

    url = _vault_certificate(contract, credential, f"{run_id}-cert")

    # 1. No identity: refused, nothing changes.
    with pytest.raises(HttpResponseError) as e:
        _hosts(apim, rg, name, url)
    assert e.value.status_code == 400
    assert e.value.error.code == "InvalidOperation"
    assert "Managed Service Identity (MSI) is not enabled" in str(e.value)

    # 2. "Register with Azure Active Directory: Yes", no access policy yet.
    svc = apim.api_management_service.begin_update(
        rg, name, {"identity": {"type": "SystemAssigned"}}
    ).result()
    principal_id = svc.identity.principal_id
    assert principal_id and svc.identity.tenant_id == contract.tenant_id
    with pytest.raises(HttpResponseError) as e:
        _hosts(apim, rg, name, url)
    message = e.value.error.message
    if "no vault reader configured" in message:
        pytest.skip("the server has no HTTPS vault reader yet (gateway runtime)")
    assert re.fullmatch(
        re.escape(
            f"Failed to update API Management service hostnames. Request to resource '{url}?api-version=7.0' "
            "failed with StatusCode: Forbidden for RequestId: "
        )
        + r"[0-9a-f-]+"
        + re.escape(". Exception message: Operation returned an invalid status code 'Forbidden'"),
        message,
    ), message
    assert str(e.value).startswith("(InvalidOperation) Failed to update")
    got = apim.api_management_service.get(rg, name)
    assert [h.host_name for h in got.hostname_configurations] == [svc.hostname_configurations[0].host_name]

    # 3. The seed's fix: the service principal named after the service gets secrets Get.
    found = _graph_principal(contract, name)
    assert [p["id"] for p in found] == [principal_id]
    assert found[0]["servicePrincipalType"] == "ManagedIdentity"
    kv.vaults.update_access_policy(
        rg,
        contract.vault_host.split(".", 1)[0],
        "add",
        {
            "properties": {
                "accessPolicies": [
                    {
                        "tenantId": contract.tenant_id,
                        "objectId": found[0]["id"],
                        "permissions": {"secrets": ["get", "list"]},
                    }
                ]
            }
        },
    )
    svc = _hosts(apim, rg, name, url)
    custom = [h for h in svc.hostname_configurations if h.host_name == HOST]
    assert len(custom) == 1
    assert custom[0].certificate_source == "KeyVault"
    assert custom[0].certificate_status == "Completed"
    assert len(custom[0].certificate.thumbprint) == 40
    assert custom[0].certificate.subject == f"CN={HOST}"

    # Turning the identity off now is refused; deleting the service is not.
    with pytest.raises(HttpResponseError) as e:
        apim.api_management_service.begin_update(rg, name, {"identity": {"type": "None"}}).result()
    assert "cannot be turned off" in str(e.value)
    apim.api_management_service.begin_delete(rg, name).result()


def test_child_entities_with_the_management_sdk(apim, contract, run_id):
    rg = contract.raw["resource_group"]
    name = f"{run_id}-ent"
    _create(apim, rg, name)
    api = apim.api.begin_create_or_update(
        rg,
        name,
        "echo",
        {"display_name": "Echo", "path": "echo", "service_url": "https://backend.test", "protocols": ["https"]},
    ).result()
    assert api.subscription_required is True
    assert api.subscription_key_parameter_names.header == "Ocp-Apim-Subscription-Key"
    etag = apim.api.get_entity_tag(rg, name, "echo")
    assert etag
    apim.api.update(rg, name, "echo", "*", {"display_name": "Echo 2"})
    with pytest.raises(HttpResponseError) as e:
        apim.api.update(rg, name, "echo", '"stale"', {"display_name": "Echo 3"})
    assert e.value.status_code == 412

    spec = (
        '{"openapi":"3.0.1","info":{"title":"Pets"},"servers":[{"url":"https://pets.test"}],'
        '"paths":{"/pets":{"get":{"operationId":"listPets"}}}}'
    )
    pets = apim.api.begin_create_or_update(
        rg, name, "pets", {"path": "pets", "format": "openapi+json", "value": spec}
    ).result()
    assert pets.service_url == "https://pets.test"
    ops = [o.name for o in apim.api_operation.list_by_api(rg, name, "pets")]
    assert ops == ["listPets"]

    apim.product.create_or_update(rg, name, "starter", {"display_name": "Starter", "state": "published"})
    apim.product_api.create_or_update(rg, name, "starter", "echo")
    assert apim.product_api.check_entity_exists(rg, name, "starter", "echo")
    sub = apim.subscription.create_or_update(
        rg, name, "s1", {"scope": "/products/starter", "display_name": "S1"}
    )
    assert sub.primary_key is None
    keys = apim.subscription.list_secrets(rg, name, "s1")
    assert len(keys.primary_key) == 32
    apim.subscription.regenerate_primary_key(rg, name, "s1")
    assert apim.subscription.list_secrets(rg, name, "s1").primary_key != keys.primary_key

    apim.backend.create_or_update(
        rg,
        name,
        "b1",
        {"url": "https://backend.test", "protocol": "http", "tls": {"validate_certificate_chain": False}},
    )
    assert apim.backend.get(rg, name, "b1").tls.validate_certificate_chain is False

    apim.api.begin_delete(rg, name, "echo", "*").result()
    assert [a.name for a in apim.api.list_by_service(rg, name)] == ["pets"]
    apim.api_management_service.begin_delete(rg, name).result()

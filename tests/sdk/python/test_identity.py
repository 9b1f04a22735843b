"""azure-identity credentials beyond client secrets, against Coffer's directory.

Applications, certificates and users are made through Coffer's Graph-shaped API with plain
`requests` calls and the bootstrap administrator's Graph token; then the official credentials
(CertificateCredential, UsernamePasswordCredential) fetch tokens and SecretClient uses them. No
access policy names these principals, so the vault answers 403, and its message naming the
caller's appid and oid proves that authentication itself worked.
"""

import base64
import datetime
import json
import warnings
from urllib.parse import urlsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import CertificateCredential
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def claims_of(jwt):
    """The claims of a JWT, unverified."""
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Graph:
    """Minimal client of Coffer's Graph endpoint, authenticated as the bootstrap admin."""

    def __init__(self, contract):
        domain = contract.vault_domain.split(".", 1)[1]
        self.base = contract.raw.get("graph_url") or f"https://graph.{domain}:{contract.port}"
        self.base = self.base.rstrip("/")
        self.ca = contract.ca_cert
        self.token = contract.token(resource=self.base)

    def call(self, method, path, body=None, expect=(200,)):
        r = requests.request(
            method,
            self.base + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=self.ca,
            timeout=30,
        )
        assert r.status_code in expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else None


@pytest.fixture(scope="module")
def graph(contract):
    return Graph(contract)


def new_certificate(common_name):
    """A self-signed RSA certificate and its key, PEM (key first, as azure-identity reads it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert, key_pem + cert.public_bytes(serialization.Encoding.PEM)


def service_principal_id(graph, app_id):
    found = graph.call("GET", f"/v1.0/servicePrincipals?$filter=appId eq '{app_id}'")["value"]
    assert len(found) == 1, found
    return found[0]["id"]


def assert_vault_refuses(contract, credential, app_id, object_id):
    """The vault authenticates the caller (so its 403 can name appid and oid) and refuses it."""
    client = SecretClient(contract.vault_url, credential)
    try:
        with pytest.raises(HttpResponseError) as e:
            client.get_secret("no-policy-names-this-caller")
    finally:
        client.close()
    assert e.value.status_code == 403, e.value
    message = str(e.value)
    assert f"appid={app_id}" in message, message
    assert f"oid={object_id}" in message, message


def test_certificate_credential_gets_a_token_the_vault_accepts(contract, graph, run_id):
    app = graph.call(
        "POST", "/v1.0/applications", {"displayName": f"{run_id}-cert"}, expect=(201,)
    )
    try:
        cert, pem = new_certificate(f"{run_id}-cert")
        der = cert.public_bytes(serialization.Encoding.DER)
        graph.call(
            "PATCH",
            f"/v1.0/applications/{app['id']}",
            {
                "keyCredentials": [
                    {
                        "type": "AsymmetricX509Cert",
                        "usage": "Verify",
                        "key": base64.b64encode(der).decode(),
                        "displayName": f"CN={run_id}-cert",
                    }
                ]
            },
            expect=(204,),
        )
        listed = graph.call("GET", f"/v1.0/applications/{app['id']}")["keyCredentials"]
        assert base64.b64decode(listed[0]["customKeyIdentifier"]) == cert.fingerprint(hashes.SHA1())

        credential = CertificateCredential(
            contract.tenant_id,
            app["appId"],
            certificate_data=pem,
            authority=contract.authority,
            disable_instance_discovery=True,
        )
        try:
            token = credential.get_token(contract.vault_resource + "/.default").token
            claims = claims_of(token)
            assert claims["appid"] == app["appId"]
            assert claims["appidacr"] == "2", claims  # authenticated with a certificate
            sp_id = service_principal_id(graph, app["appId"])
            assert claims["oid"] == sp_id
            assert_vault_refuses(contract, credential, app["appId"], sp_id)
        finally:
            credential.close()
    finally:
        graph.call("DELETE", f"/v1.0/applications/{app['id']}", expect=(204,))


def test_certificate_credential_with_an_unregistered_certificate_fails(contract, graph, run_id):
    from azure.core.exceptions import ClientAuthenticationError

    app = graph.call(
        "POST", "/v1.0/applications", {"displayName": f"{run_id}-nocert"}, expect=(201,)
    )
    try:
        _, pem = new_certificate(f"{run_id}-nocert")
        credential = CertificateCredential(
            contract.tenant_id,
            app["appId"],
            certificate_data=pem,
            authority=contract.authority,
            disable_instance_discovery=True,
        )
        try:
            with pytest.raises(ClientAuthenticationError) as e:
                credential.get_token(contract.vault_resource + "/.default")
            assert "AADSTS700027" in str(e.value), e.value
        finally:
            credential.close()
    finally:
        graph.call("DELETE", f"/v1.0/applications/{app['id']}", expect=(204,))


def test_username_password_credential_signs_a_user_in_through_an_app(
    contract, graph, run_id, monkeypatch
):
    try:
        from azure.identity import UsernamePasswordCredential
    except ImportError:  # removed from later azure-identity releases
        pytest.skip("this azure-identity has no UsernamePasswordCredential")
    import msal.authority

    # MSAL's password flow first asks https://<authority host>/common/userrealm/<user> whether
    # the user is federated, and builds that URL from the host name alone, dropping the port.
    # On port 443 Coffer answers it (404: not federated, so MSAL goes on); on any other port the
    # request goes to the wrong place, so the test tells MSAL to skip it for Coffer's host, as a
    # user of a non-443 port must.
    host = urlsplit(contract.authority).hostname
    if (urlsplit(contract.authority).port or 443) != 443:
        monkeypatch.setattr(
            msal.authority.Authority,
            "_domains_without_user_realm_discovery",
            {host},
        )

    # A public client: the password grant needs no client secret (isFallbackPublicClient).
    app = graph.call(
        "POST",
        "/v1.0/applications",
        {"displayName": f"{run_id}-ropc", "isFallbackPublicClient": True},
        expect=(201,),
    )
    upn = f"{run_id}@coffer.test"
    password = "Sdk-Passw0rd!"
    user = graph.call(
        "POST",
        "/v1.0/users",
        {
            "accountEnabled": True,
            "displayName": f"{run_id} user",
            "mailNickname": run_id,
            "userPrincipalName": upn,
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": password},
        },
        expect=(201,),
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            credential = UsernamePasswordCredential(
                app["appId"],
                upn,
                password,
                tenant_id=contract.tenant_id,
                authority=contract.authority,
                disable_instance_discovery=True,
            )
            try:
                token = credential.get_token(contract.vault_resource + "/.default").token
                claims = claims_of(token)
                # A compound identity: the user (oid) through the application (appid).
                assert claims["oid"] == user["id"], claims
                assert claims["appid"] == app["appId"], claims
                assert claims["upn"] == upn, claims
                assert_vault_refuses(contract, credential, app["appId"], user["id"])
            finally:
                credential.close()
    finally:
        graph.call("DELETE", f"/v1.0/users/{user['id']}", expect=(204,))
        graph.call("DELETE", f"/v1.0/applications/{app['id']}", expect=(204,))


def test_graph_refuses_the_wrong_token_and_app_only_me(contract, graph):
    r = requests.get(graph.base + "/v1.0/me", verify=graph.ca, timeout=30)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "www-authenticate" in {k.lower() for k in r.headers}
    r = requests.get(
        graph.base + "/v1.0/me",
        headers={"Authorization": f"Bearer {graph.token}"},
        verify=graph.ca,
        timeout=30,
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "/me request is only valid with delegated authentication flow."

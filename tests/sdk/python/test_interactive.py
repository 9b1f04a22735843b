"""Interactive sign-in with the official azure-identity credentials, the browser half driven
over plain HTTP as a person would click through it: DeviceCodeCredential (its prompt_callback
enters the code on /devicelogin and signs in), then SecretClient against a vault where the user
has an access policy, then a token for another resource from the refresh token without a second
prompt; and InteractiveBrowserCredential, whose `webbrowser.open` is replaced by a handler that
signs in at the URL it is handed and posts the answer to the credential's loopback listener.
"""

import base64
import html
import json
import re
import threading
import webbrowser
from urllib.parse import urljoin

import pytest
import requests
from azure.identity import DeviceCodeCredential, InteractiveBrowserCredential
from azure.keyvault.secrets import SecretClient

from test_identity import Graph

PASSWORD = "Interactive-Passw0rd!"
AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
ARM_API = "2026-02-01"


def claims_of(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def hidden_inputs(page):
    return {
        html.unescape(n): html.unescape(v)
        for n, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    }


def form_action(page):
    m = re.search(r'<form method="post" action="([^"]*)">', page)
    assert m, page
    return html.unescape(m.group(1))


def sign_in(session, page_url, page, upn, password):
    """Fills the sign-in form of `page` (fetched from `page_url`) and returns the answer."""
    fields = hidden_inputs(page)
    assert "csrf" in fields, page
    fields.update(login=upn, passwd=password, action="signin")
    return session.post(urljoin(page_url, form_action(page)), data=fields, timeout=30, allow_redirects=False)


def complete_device_login(ca, verification_uri, user_code, upn, password):
    """What a person does with the device code message: open the page, enter the code, sign in."""
    s = requests.Session()
    s.verify = ca
    r = s.get(verification_uri, timeout=30)
    assert r.status_code == 200, r.text
    assert 'name="otc"' in r.text
    r = s.post(urljoin(verification_uri, form_action(r.text)), data={"otc": user_code}, timeout=30)
    assert r.status_code == 200, r.text
    done = sign_in(s, verification_uri, r.text, upn, password)
    assert done.status_code == 200, done.text
    assert "You may now close this window" in done.text, done.text


@pytest.fixture(scope="module")
def graph(contract):
    return Graph(contract)


@pytest.fixture
def user(graph, run_id, request):
    upn = f"{run_id}-{request.node.name[:20]}@coffer.test".lower()
    u = graph.call(
        "POST",
        "/v1.0/users",
        {
            "accountEnabled": True,
            "displayName": f"{run_id} interactive",
            "userPrincipalName": upn,
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": PASSWORD},
        },
        expect=(201,),
    )
    yield u
    graph.call("DELETE", f"/v1.0/users/{u['id']}", expect=(204,))


@pytest.fixture
def vault_policy(contract):
    """Adds (and afterwards removes) an access policy on the default vault for an object id."""
    base = contract.raw["management_url"].rstrip("/")
    token = contract.token(base + "/", v2=False)
    vault_id = (
        f"/subscriptions/{contract.raw['subscription_id']}/resourceGroups/"
        f"{contract.raw['resource_group']}/providers/Microsoft.KeyVault/vaults/dev"
    )
    added = []

    def change(kind, object_id):
        body = {
            "properties": {
                "accessPolicies": [
                    {
                        "tenantId": contract.tenant_id,
                        "objectId": object_id,
                        "permissions": {"secrets": ["get", "set", "list"]},
                    }
                ]
            }
        }
        r = requests.put(
            f"{base}{vault_id}/accessPolicies/{kind}?api-version={ARM_API}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            verify=contract.ca_cert,
            timeout=30,
        )
        assert r.status_code == 200, (r.status_code, r.text)

    def add(object_id):
        change("add", object_id)
        added.append(object_id)

    yield add
    for oid in added:
        change("remove", oid)


def test_device_code_credential_reads_a_secret_as_the_user(contract, graph, user, vault_policy, run_id):
    app = graph.call(
        "POST",
        "/v1.0/applications",
        {
            "displayName": f"{run_id}-device",
            "isFallbackPublicClient": True,
            "publicClient": {"redirectUris": ["http://localhost"]},
        },
        expect=(201,),
    )
    try:
        vault_policy(user["id"])
        prompts = []

        def prompt(verification_uri, user_code, expires_on):
            prompts.append(user_code)
            assert verification_uri == f"{contract.authority}/devicelogin"
            complete_device_login(
                contract.ca_cert, verification_uri, user_code, user["userPrincipalName"], PASSWORD
            )

        cred = DeviceCodeCredential(
            client_id=app["appId"],
            tenant_id=contract.tenant_id,
            authority=contract.authority,
            disable_instance_discovery=True,
            prompt_callback=prompt,
            timeout=120,
        )
        client = SecretClient(contract.vault_url, cred)
        try:
            name = f"{run_id}-device"
            client.set_secret(name, "set by a signed-in user")
            assert client.get_secret(name).value == "set by a signed-in user"
            assert len(prompts) == 1

            # Another resource: MSAL redeems the refresh token, no second prompt. (SecretClient
            # asks for CAE tokens, which azure-identity caches apart: ask the same way.)
            mgmt = contract.raw["management_url"].rstrip("/") + "//.default"
            token = cred.get_token(mgmt, enable_cae=True).token
            c = claims_of(token)
            assert c["aud"].rstrip("/") == contract.raw["management_url"].rstrip("/"), c
            assert c["oid"] == user["id"] and c["appid"] == app["appId"], c
            assert len(prompts) == 1, "the refresh token was not used"
        finally:
            client.close()
            cred.close()
    finally:
        graph.call("DELETE", f"/v1.0/applications/{app['id']}", expect=(204,))


def test_interactive_browser_credential_with_the_loopback_redirect(contract, user, monkeypatch):
    errors = []
    opened = []

    def browser(url):
        try:
            s = requests.Session()
            s.verify = contract.ca_cert
            r = s.get(url, timeout=30)
            assert r.status_code == 200, r.text
            answer = sign_in(s, url, r.text, user["userPrincipalName"], PASSWORD)
            # azure-identity asks for response_mode=form_post: a form to send on to the app.
            assert answer.status_code == 200, answer.text
            target = form_action(answer.text)
            assert target.startswith("http://localhost:"), target
            fields = hidden_inputs(answer.text)
            assert "code" in fields and "state" in fields, fields
            requests.post(target, data=fields, timeout=30)
        except Exception as e:  # reported by the test thread below
            errors.append(e)

    def fake_open(url, *args, **kwargs):
        opened.append(url)
        threading.Thread(target=browser, args=(url,), daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    # The default client id is the Azure CLI's, a public client of every tenant.
    cred = InteractiveBrowserCredential(
        tenant_id=contract.tenant_id,
        authority=contract.authority,
        disable_instance_discovery=True,
        timeout=60,
    )
    try:
        token = cred.get_token(contract.vault_resource + "/.default").token
    finally:
        cred.close()
    assert not errors, errors
    assert len(opened) == 1 and "code_challenge_method=S256" in opened[0], opened
    c = claims_of(token)
    assert c["oid"] == user["id"], c
    assert c["appid"] == AZURE_CLI, c
    assert c["aud"] == contract.vault_resource, c

"""The Azure CLI (pinned in tests/sdk/cli/requirements.txt, in its own virtualenv under target/)
against Coffer registered as a custom cloud: sign in as a service principal, see the default
subscription, find service principals by display name, and use the vault."""

import hashlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
REQ = REPO / "tests" / "sdk" / "cli" / "requirements.txt"
VENV = REPO / "target" / "az-venv"


def _az_venv() -> pathlib.Path:
    """Creates the CLI's virtualenv once per requirements file; the install takes minutes."""
    want = hashlib.sha256(REQ.read_bytes() + sys.version.encode()).hexdigest()
    stamp = VENV / ".requirements.sha256"
    az = VENV / "bin" / "az"
    if az.exists() and stamp.exists() and stamp.read_text() == want:
        return az
    # The package index is verified with the system's CAs, not Coffer's (which the suite sets).
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")}
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, env=env)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r", str(REQ)],
        check=True,
        timeout=1200,
        env=env,
    )
    stamp.write_text(want)
    return az


@pytest.fixture(scope="module")
def az(contract, tmp_path_factory):
    binary = _az_venv()
    config = tmp_path_factory.mktemp("azure-config")
    env = dict(
        os.environ,
        AZURE_CONFIG_DIR=str(config),
        REQUESTS_CA_BUNDLE=contract.ca_cert,
        AZURE_CORE_COLLECT_TELEMETRY="false",
        AZURE_CORE_NO_COLOR="true",
        AZURE_CORE_ONLY_SHOW_ERRORS="true",
    )

    def run(*args, check=True):
        r = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=300)
        # The transcript never shows a password: the value after -p is masked.
        shown = ["***" if i > 0 and args[i - 1] == "-p" else a for i, a in enumerate(args)]
        print("$ az", " ".join(shown))
        print(r.stdout[-3000:])
        print(r.stderr[-3000:])
        if check:
            assert r.returncode == 0, f"az {' '.join(args)} failed: {r.stderr[-2000:]}"
        return r

    # Instance discovery would call Microsoft's cloud; it is a persisted CLI setting.
    run("config", "set", "core.instance_discovery=false")
    run("cloud", "register", "-n", "Coffer", "--endpoint-resource-manager", contract.raw["management_url"])
    run("cloud", "set", "-n", "Coffer")
    run(
        "login",
        "--service-principal",
        "-u",
        contract.client_id,
        "-p",
        contract.client_secret,
        "--tenant",
        contract.tenant_id,
    )
    return run


def test_account_show_names_the_default_subscription(az, contract):
    acct = json.loads(az("account", "show", "-o", "json").stdout)
    assert acct["id"] == contract.raw["subscription_id"]
    assert acct["tenantId"] == contract.tenant_id


def test_sp_list_by_display_name_shows_object_ids(az, contract):
    sps = json.loads(az("ad", "sp", "list", "--display-name", "coffer-admin", "-o", "json").stdout)
    assert any(sp["id"] == contract.object_id and sp["appId"] == contract.client_id for sp in sps), sps


def test_keyvault_secret_set_and_show(az, run_id):
    name = f"az-{run_id}"
    az("keyvault", "secret", "set", "--vault-name", "dev", "--name", name, "--value", "from-the-cli", "-o", "none")
    shown = json.loads(az("keyvault", "secret", "show", "--vault-name", "dev", "--name", name, "-o", "json").stdout)
    assert shown["value"] == "from-the-cli"
    assert shown["id"].startswith(f"https://dev.vault.localhost:")


def test_access_token_for_the_vault_is_accepted(az, contract):
    tok = json.loads(
        az("account", "get-access-token", "--resource", contract.vault_resource, "-o", "json").stdout
    )["accessToken"]
    coffer = os.environ.get("COFFER_BIN")
    assert coffer, "the runner passes the coffer binary as COFFER_BIN"
    out = subprocess.run(
        [coffer, "token", "decode", tok, "--vault", contract.vault_url, "--ca-cert", contract.ca_cert],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    verdict = json.loads(out)["verdict"]
    assert verdict["accepted"] is True and verdict["status"] == 200, verdict


def test_keyvault_management_commands(az, contract, run_id):
    """`az keyvault` management verbs against Coffer's Microsoft.KeyVault provider. The vault
    name is in VAULT_NAMES of tests/sdk/run_python.sh."""
    name = "az-kv-cli"
    rg = contract.raw["resource_group"]
    other = "00000000-0000-0000-0000-0000000000cc"

    def j(*args):
        out = az(*args, "-o", "json").stdout
        return json.loads(out) if out.strip() else None

    created = j("keyvault", "create", "-n", name, "-g", rg, "-l", "local", "--enable-rbac-authorization", "false")
    assert created["name"] == name
    assert created["properties"]["provisioningState"] == "Succeeded"
    # Without --no-self-perms the CLI looked its own object id up through Graph.
    assert any(p["objectId"] == contract.object_id for p in created["properties"]["accessPolicies"]), created

    shown = j("keyvault", "show", "-n", name)  # no -g: found through the generic /resources listing
    assert shown["id"] == created["id"]
    assert name in [v["name"] for v in j("keyvault", "list")]

    policy = j("keyvault", "set-policy", "-n", name, "--object-id", other, "--secret-permissions", "get", "list")
    entry = [p for p in policy["properties"]["accessPolicies"] if p["objectId"] == other]
    assert entry and sorted(entry[0]["permissions"]["secrets"]) == ["get", "list"], policy
    policy = j("keyvault", "delete-policy", "-n", name, "--object-id", other)
    assert other not in [p["objectId"] for p in policy["properties"]["accessPolicies"]]

    updated = j("keyvault", "update", "-n", name, "--default-action", "Deny")
    assert updated["properties"]["networkAcls"]["defaultAction"] == "Deny"
    added = j("keyvault", "network-rule", "add", "-n", name, "--ip-address", "127.0.0.1")
    assert [r["value"] for r in added["properties"]["networkAcls"]["ipRules"]] == ["127.0.0.1/32"]
    rules = j("keyvault", "network-rule", "list", "-n", name)
    assert [r["value"] for r in rules["ipRules"]] == ["127.0.0.1/32"]
    removed = j("keyvault", "network-rule", "remove", "-n", name, "--ip-address", "127.0.0.1")
    assert removed["properties"]["networkAcls"]["ipRules"] == []
    # Deny with no rule left refuses this client too (the firewall is enforced): open it again.
    opened = j("keyvault", "update", "-n", name, "--default-action", "Allow")
    assert opened["properties"]["networkAcls"]["defaultAction"] == "Allow"

    az("keyvault", "secret", "set", "--vault-name", name, "--name", f"cli-{run_id}", "--value", "v1", "-o", "none")

    az("keyvault", "delete", "-n", name)
    assert name in [d["name"] for d in j("keyvault", "list-deleted")]
    recovered = j("keyvault", "recover", "-n", name)
    assert recovered["name"] == name
    got = j("keyvault", "secret", "show", "--vault-name", name, "--name", f"cli-{run_id}")
    assert got["value"] == "v1", "the secret came back with the vault"
    az("keyvault", "delete", "-n", name)
    az("keyvault", "purge", "-n", name)
    assert name not in [d["name"] for d in j("keyvault", "list-deleted")]


def test_apim_custom_domain_seed_scenario(az, contract, run_id, tmp_path):
    """The seed's API Management story through the Azure CLI: a gateway without identity, then
    without an access policy, is refused with the seed's messages; after the seed's fix the custom
    domain is served with the vault's certificate and proxies an imported API to a backend."""
    from gateway_support import Backend, gateway_request

    rg = contract.raw["resource_group"]
    svc = f"cli-{run_id}".lower()
    host = "cli.contoso.test"
    cert = f"gw-{run_id}"
    secret_url = f"{contract.vault_url}/secrets/{cert}/"

    def j(*args, check=True):
        r = az(*args, "-o", "json", check=check)
        return (json.loads(r.stdout) if r.stdout.strip() else None), r

    def props(d):
        return d.get("properties", d)

    created, _ = j(
        "apim", "create", "-n", svc, "-g", rg, "-l", "local",
        "--publisher-email", "ops@contoso.test", "--publisher-name", "Contoso", "--sku-name", "Developer",
    )
    assert props(created)["provisioningState"] == "Succeeded", created
    assert (created.get("identity") or {}).get("type") in (None, "None"), created

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "issuerParameters": {"name": "Self"},
        "keyProperties": {"exportable": True, "keySize": 2048, "keyType": "RSA", "reuseKey": False},
        "secretProperties": {"contentType": "application/x-pkcs12"},
        "x509CertificateProperties": {
            "subject": f"CN={host}",
            "subjectAlternativeNames": {"dnsNames": [host]},
            "validityInMonths": 12,
        },
    }))
    az("keyvault", "certificate", "create", "--vault-name", "dev", "-n", cert, "-p", f"@{policy}", "-o", "none")
    shown, _ = j("keyvault", "certificate", "show", "--vault-name", "dev", "-n", cert)
    thumbprint = (shown.get("x509ThumbprintHex") or "").upper()
    assert len(thumbprint) == 40, shown

    hostnames = json.dumps([{"type": "Proxy", "hostName": host, "keyVaultId": secret_url}])

    # 1. The gateway has no managed identity: refused, nothing changes.
    _, r = j("apim", "update", "-n", svc, "-g", rg, "--set", f"hostnameConfigurations={hostnames}", check=False)
    assert r.returncode != 0
    assert "(InvalidOperation)" in r.stderr and "Managed Service Identity" in r.stderr, r.stderr

    # 2. The seed's first fix: turn the system-assigned identity on.
    on, _ = j("apim", "update", "-n", svc, "-g", rg, "--enable-managed-identity", "true")
    principal = on["identity"]["principalId"]
    assert on["identity"]["type"] == "SystemAssigned", on
    sps, _ = j("ad", "sp", "list", "--display-name", svc)
    assert [sp["id"] for sp in sps] == [principal], sps

    # 3. Identity on, no access policy for it: the seed's Forbidden message, exactly.
    _, r = j(
        "apim", "update", "-n", svc, "-g", rg, "--enable-managed-identity", "true",
        "--set", f"hostnameConfigurations={hostnames}", check=False,
    )
    assert r.returncode != 0
    expected = (
        "Failed to update API Management service hostnames. Request to resource "
        f"'{secret_url}?api-version=7.0' failed with StatusCode: Forbidden for RequestId: "
    )
    assert f"(InvalidOperation) {expected}" in r.stderr, r.stderr
    assert "Exception message: Operation returned an invalid status code 'Forbidden'" in r.stderr
    still, _ = j("apim", "show", "-n", svc, "-g", rg)
    assert host not in [h["hostName"] for h in props(still)["hostnameConfigurations"]], still

    # 4. The seed's second fix: an access policy with secrets Get for the gateway's principal.
    az("keyvault", "set-policy", "-n", "dev", "--object-id", principal, "--secret-permissions", "get", "list", "-o", "none")
    done, _ = j(
        "apim", "update", "-n", svc, "-g", rg, "--enable-managed-identity", "true",
        "--set", f"hostnameConfigurations={hostnames}",
    )
    custom = [h for h in props(done)["hostnameConfigurations"] if h["hostName"] == host]
    assert custom and custom[0]["certificateSource"] == "KeyVault", done
    assert custom[0]["certificate"]["thumbprint"].upper() == thumbprint, custom

    # 5. An API imported from an OpenAPI document, proxied to a backend on the custom domain.
    backend = Backend()
    try:
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps({
            "openapi": "3.0.1",
            "info": {"title": "Echo", "version": "1"},
            "paths": {"/hello": {"get": {"operationId": "hello", "responses": {"200": {"description": "ok"}}}}},
        }))
        az(
            "apim", "api", "import", "-g", rg, "-n", svc, "--path", "echo", "--api-id", "echo",
            "--specification-format", "OpenApiJson", "--specification-path", str(spec),
            "--service-url", backend.url, "--subscription-required", "false", "-o", "none",
        )
        apis, _ = j("apim", "api", "list", "-g", rg, "-n", svc)
        assert [a["name"] for a in apis] == ["echo"], apis
        status, headers, body, served = gateway_request(contract.port, host, "GET", "/echo/hello?x=1")
        assert served == thumbprint, "the custom domain is served with the vault's certificate"
        assert status == 200, body
        echoed = json.loads(body)
        assert echoed["path"] == "/hello?x=1" and echoed["headers"]["x-forwarded-for"], echoed
        status, _, body, _ = gateway_request(contract.port, host, "GET", "/echo/nothing-here")
        assert status == 404, body
    finally:
        backend.close()
    az("apim", "delete", "-n", svc, "-g", rg, "-y")


def test_login_with_device_code_as_a_user(contract, tmp_path):
    """`az login --use-device-code`: az prints Entra ID's message (with Coffer's /devicelogin) on
    stderr and polls; a thread reads the code and completes the page as a person would."""
    import re
    import threading

    from test_identity import Graph
    from test_interactive import complete_device_login

    graph = Graph(contract)
    upn = f"cli-{os.getpid()}-{tmp_path.name[-12:]}@coffer.test".lower()
    password = "Cli-Device-Passw0rd!"
    user = graph.call(
        "POST",
        "/v1.0/users",
        {"displayName": "CLI user", "userPrincipalName": upn, "passwordProfile": {"password": password}},
        expect=(201,),
    )
    binary = _az_venv()
    env = dict(
        os.environ,
        AZURE_CONFIG_DIR=str(tmp_path),
        REQUESTS_CA_BUNDLE=contract.ca_cert,
        AZURE_CORE_COLLECT_TELEMETRY="false",
        AZURE_CORE_NO_COLOR="true",
    )

    def az(*args):
        r = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"az {' '.join(args)}: {r.stderr[-2000:]}"
        return r.stdout

    try:
        az("config", "set", "core.instance_discovery=false")
        az("cloud", "register", "-n", "Coffer", "--endpoint-resource-manager", contract.raw["management_url"])
        az("cloud", "set", "-n", "Coffer")
        p = subprocess.Popen(
            [str(binary), "login", "--use-device-code", "--tenant", contract.tenant_id, "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = []
        failures = []

        def watch_stderr():
            for line in p.stderr:
                seen.append(line)
                m = re.search(r"open the page (\S+) and enter the code (\S+) to authenticate", line)
                if m:
                    try:
                        complete_device_login(contract.ca_cert, m.group(1), m.group(2), upn, password)
                    except Exception as e:  # reported below; az would poll until expiry
                        failures.append(e)
                        p.kill()

        # stderr is read by this thread alone (communicate() would race it for the message).
        t = threading.Thread(target=watch_stderr, daemon=True)
        t.start()
        stdout = []
        reader = threading.Thread(target=lambda: stdout.append(p.stdout.read()), daemon=True)
        reader.start()
        try:
            p.wait(timeout=180)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError(f"az login did not finish: {failures} {''.join(seen)[-2000:]}")
        t.join(timeout=10)
        reader.join(timeout=10)
        out = "".join(stdout)
        print("".join(seen)[-3000:])
        assert not failures, failures
        assert p.returncode == 0, "".join(seen)[-2000:]
        assert any(f"{contract.authority}/devicelogin" in line for line in seen), seen
        accounts = json.loads(out)
        assert any(a["id"] == contract.raw["subscription_id"] for a in accounts), accounts
        shown = json.loads(az("account", "show", "-o", "json"))
        assert shown["user"] == {"name": upn, "type": "user"}, shown
        # A token for another resource comes from the refresh token, without signing in again.
        tok = json.loads(az("account", "get-access-token", "--resource", contract.vault_resource, "-o", "json"))
        part = tok["accessToken"].split(".")[1]
        import base64

        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        assert claims["oid"] == user["id"], claims
        assert claims["appid"] == "04b07795-8ddb-461a-bbee-02f9e1bf7b46", claims
    finally:
        graph.call("DELETE", f"/v1.0/users/{user['id']}", expect=(204,))

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

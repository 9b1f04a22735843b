"""Conformance of Coffer's secrets data plane with the official Azure SDK for Python.

The SDK (azure-keyvault-secrets + azure-identity) is used unmodified, with challenge-resource
verification left on; only the endpoint, the credential's authority and the CA differ from Azure.
A few tests speak raw HTTP (requests / http.client) where the SDK hides the wire.
"""

import http.client
import json
import re
import ssl
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import (
    ApiVersion,
    DeletedSecret,
    KeyVaultSecret,
    SecretClient,
    SecretProperties,
)

RECOVERY_LEVELS = {
    "Purgeable",
    "Recoverable+Purgeable",
    "Recoverable",
    "Recoverable+ProtectedSubscription",
    "CustomizedRecoverable+Purgeable",
    "CustomizedRecoverable",
    "CustomizedRecoverable+ProtectedSubscription",
}
# api-versions that predate `recoverableDays` in the attribute bundle (it arrived with 7.1).
NO_RECOVERABLE_DAYS = {ApiVersion.V2016_10_01, ApiVersion.V7_0}
VERSION_RE = re.compile(r"^[0-9a-f]{32}$")


# ---- helpers ------------------------------------------------------------------------------------


def now():
    return datetime.now(timezone.utc)


def whole_seconds(dt):
    return dt.replace(microsecond=0)


def assert_recent(dt, slack=timedelta(minutes=5)):
    assert dt is not None
    assert dt.tzinfo is not None, dt
    assert abs(now() - dt) < slack, dt


def delete_and_wait(client, name):
    poller = client.begin_delete_secret(name, _polling_interval=0.2)
    poller.wait(timeout=30)
    assert poller.done(), "delete poller did not finish"
    deleted = poller.result()
    assert isinstance(deleted, DeletedSecret)
    return deleted


def recover_and_wait(client, name):
    poller = client.begin_recover_deleted_secret(name, _polling_interval=0.2)
    poller.wait(timeout=30)
    assert poller.done(), "recover poller did not finish"
    return poller.result()


def delete_and_purge(client, name):
    delete_and_wait(client, name)
    client.purge_deleted_secret(name)


def error_body(exc):
    """The Azure error envelope of an HttpResponseError, checked for shape."""
    body = exc.response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], body
    assert isinstance(err.get("message"), str) and err["message"], body
    return err


def inner_code(exc):
    inner = error_body(exc).get("innererror") or {}
    return inner.get("code")


def check_properties(props, contract, name, *, enabled=True, content_type=None, tags=None):
    assert isinstance(props, SecretProperties)
    assert props.name == name
    assert props.vault_url == contract.vault_url
    assert VERSION_RE.match(props.version or ""), props.version
    assert props.id == f"{contract.vault_url}/secrets/{name}/{props.version}"
    assert props.enabled is enabled
    assert props.content_type == content_type
    if tags:
        assert props.tags == tags
    else:
        assert not props.tags
    assert_recent(props.created_on)
    assert_recent(props.updated_on)
    assert props.updated_on >= props.created_on
    assert props.recovery_level in RECOVERY_LEVELS
    assert props.key_id is None
    assert not props.managed


# ---- set / get ----------------------------------------------------------------------------------


def test_set_returns_all_properties(client, contract, unique_name):
    name = unique_name()
    nbf = whole_seconds(now() - timedelta(hours=1))
    exp = whole_seconds(now() + timedelta(days=30))
    tags = {"env": "test", "owner": "sdk-python", "empty": ""}
    secret = client.set_secret(
        name,
        "s3cr3t-välue ✓",
        content_type="text/plain; charset=utf-8",
        tags=tags,
        enabled=True,
        not_before=nbf,
        expires_on=exp,
    )
    assert isinstance(secret, KeyVaultSecret)
    assert secret.name == name
    assert secret.value == "s3cr3t-välue ✓"
    p = secret.properties
    check_properties(p, contract, name, content_type="text/plain; charset=utf-8", tags=tags)
    assert p.not_before == nbf
    assert p.expires_on == exp
    assert secret.id == p.id
    assert p.created_on == p.updated_on
    # The default api-version (2026-04-01) carries recoverableDays.
    assert isinstance(p.recoverable_days, int) and 7 <= p.recoverable_days <= 90, p.recoverable_days
    if p.recovery_level.startswith("Customized"):
        assert p.recoverable_days < 90
    elif "Recoverable" in p.recovery_level:
        assert p.recoverable_days == 90

    got = client.get_secret(name)
    assert got.value == "s3cr3t-välue ✓"
    assert got.id == secret.id
    check_properties(got.properties, contract, name, content_type="text/plain; charset=utf-8", tags=tags)
    assert got.properties.not_before == nbf
    assert got.properties.expires_on == exp
    assert got.properties.created_on == p.created_on


def test_set_minimal_defaults(client, contract, unique_name):
    name = unique_name()
    secret = client.set_secret(name, "v")
    check_properties(secret.properties, contract, name)
    assert secret.properties.not_before is None
    assert secret.properties.expires_on is None


def test_empty_value_is_allowed(client, unique_name):
    name = unique_name()
    secret = client.set_secret(name, "")
    assert secret.value == ""
    assert client.get_secret(name).value == ""


def test_get_latest_and_by_version(client, contract, unique_name):
    name = unique_name()
    first = client.set_secret(name, "one", tags={"n": "1"})
    second = client.set_secret(name, "two", content_type="ct2")
    v1, v2 = first.properties.version, second.properties.version
    assert v1 != v2

    latest = client.get_secret(name)
    assert latest.value == "two"
    assert latest.properties.version == v2
    assert latest.properties.content_type == "ct2"
    assert not latest.properties.tags

    old = client.get_secret(name, v1)
    assert old.value == "one"
    assert old.properties.version == v1
    assert old.properties.tags == {"n": "1"}
    assert old.id == f"{contract.vault_url}/secrets/{name}/{v1}"

    by_v2 = client.get_secret(name, v2)
    assert by_v2.value == "two"
    assert by_v2.id == latest.id


def test_names_are_case_insensitive(client, unique_name):
    name = unique_name("Mixed")
    client.set_secret(name, "value")
    assert client.get_secret(name.upper()).value == "value"
    assert client.get_secret(name.lower()).value == "value"


# ---- update / disabled --------------------------------------------------------------------------


def test_update_properties_and_disable(client, contract, unique_name):
    name = unique_name()
    created = client.set_secret(name, "keep-me", content_type="old", tags={"a": "1"})
    version = created.properties.version

    exp = whole_seconds(now() + timedelta(days=7))
    updated = client.update_secret_properties(
        name, content_type="application/json", tags={"b": "2", "c": "3"}, expires_on=exp
    )
    assert updated.version == version
    assert updated.content_type == "application/json"
    assert updated.tags == {"b": "2", "c": "3"}
    assert updated.expires_on == exp
    assert updated.enabled is True
    assert updated.updated_on >= created.properties.updated_on
    assert updated.created_on == created.properties.created_on

    disabled = client.update_secret_properties(name, version, enabled=False)
    assert disabled.enabled is False
    assert disabled.content_type == "application/json"  # untouched fields are kept
    assert disabled.tags == {"b": "2", "c": "3"}

    for args in ((name,), (name, version)):
        with pytest.raises(HttpResponseError) as info:
            client.get_secret(*args)
        assert info.value.status_code == 403
        assert info.value.error.code == "Forbidden"
        assert inner_code(info.value) == "SecretDisabled"
        assert "disabled" in info.value.error.message.lower()

    # Disabled secrets are still listed, with enabled=false.
    listed = [p for p in client.list_properties_of_secrets() if p.name == name]
    assert len(listed) == 1 and listed[0].enabled is False
    versions = list(client.list_properties_of_secret_versions(name))
    assert [v.enabled for v in versions] == [False]

    enabled = client.update_secret_properties(name, enabled=True)
    assert enabled.enabled is True
    got = client.get_secret(name)
    assert got.value == "keep-me"
    assert got.properties.content_type == "application/json"


def test_update_moves_the_updated_timestamp(client, unique_name):
    name = unique_name()
    created = client.set_secret(name, "v", tags={"a": "1"}).properties
    time.sleep(1.1)  # timestamps have one-second resolution
    updated = client.update_secret_properties(name, tags={})
    assert updated.updated_on > created.updated_on
    assert updated.created_on == created.created_on
    assert not updated.tags  # an empty tag set replaces the old one
    got = client.get_secret(name).properties
    assert got.updated_on == updated.updated_on
    assert not got.tags


def test_get_works_outside_the_validity_window(client, unique_name):
    """Azure documents that a secret's get works for not-yet-valid and expired secrets."""
    future = whole_seconds(now() + timedelta(days=365))
    past = whole_seconds(now() - timedelta(days=1))
    early = unique_name("early")
    client.set_secret(early, "not yet", not_before=future)
    got = client.get_secret(early)
    assert got.value == "not yet" and got.properties.not_before == future
    late = unique_name("late")
    client.set_secret(late, "expired", expires_on=past)
    got = client.get_secret(late)
    assert got.value == "expired" and got.properties.expires_on == past


def test_update_a_specific_version_only(client, unique_name):
    name = unique_name()
    v1 = client.set_secret(name, "one").properties.version
    v2 = client.set_secret(name, "two").properties.version
    client.update_secret_properties(name, v1, tags={"old": "yes"}, enabled=False)
    assert client.get_secret(name).value == "two"
    assert not client.get_secret(name, v2).properties.tags
    with pytest.raises(HttpResponseError) as info:
        client.get_secret(name, v1)
    assert info.value.status_code == 403
    by_version = {p.version: p for p in client.list_properties_of_secret_versions(name)}
    assert by_version[v1].enabled is False and by_version[v1].tags == {"old": "yes"}
    assert by_version[v2].enabled is True


def test_update_missing_secret_is_not_found(client, unique_name):
    with pytest.raises(ResourceNotFoundError):
        client.update_secret_properties(unique_name("missing"), content_type="x")


# ---- listing ------------------------------------------------------------------------------------


def test_list_properties_of_secrets_pages(client, contract, run_id):
    prefix = f"{run_id}-list-"
    names = [f"{prefix}{i:02d}" for i in range(31)]
    for i, name in enumerate(names):
        client.set_secret(name, f"value-{i}", content_type=f"ct-{i}", tags={"i": str(i)})

    def ours(props):
        return [p for p in props if p.name.startswith(prefix)]

    # Plain iteration: the SDK follows nextLink until it is null.
    seen = ours(client.list_properties_of_secrets())
    assert sorted(p.name for p in seen) == names, "every name exactly once"
    for p in seen:
        i = int(p.name[-2:])
        assert p.content_type == f"ct-{i}"
        assert p.tags == {"i": str(i)}
        assert p.enabled is True
        assert p.version is None  # list items carry the versionless id
        assert p.id == f"{contract.vault_url}/secrets/{p.name}"
        assert not hasattr(p, "value")
        assert_recent(p.created_on)

    # Explicit pages of at most 7.
    collected = []
    page_count = 0
    for page in client.list_properties_of_secrets(max_page_size=7).by_page():
        items = list(page)
        assert len(items) <= 7
        page_count += 1
        collected.extend(items)
    assert page_count >= 5  # at least 31 / 7 pages
    names_seen = [p.name for p in ours(collected)]
    assert sorted(names_seen) == names
    assert len(names_seen) == len(set(names_seen))
    all_names = [p.name for p in collected]
    assert len(all_names) == len(set(all_names)), "no secret appears on two pages"

    # Resume from a continuation token (the nextLink of the first page).
    pager = client.list_properties_of_secrets(max_page_size=7).by_page()
    first = list(next(pager))
    token = pager.continuation_token
    assert token, "a full first page must come with a nextLink"
    assert token.startswith(contract.vault_url + "/"), token
    rest = []
    for page in client.list_properties_of_secrets(max_page_size=7).by_page(continuation_token=token):
        rest.extend(page)
    resumed = [p.name for p in first + rest]
    assert sorted(resumed) == sorted(all_names)


def test_list_properties_of_secret_versions(client, contract, unique_name):
    name = unique_name()
    made = [client.set_secret(name, f"v{i}", tags={"i": str(i)}).properties for i in range(5)]
    versions = list(client.list_properties_of_secret_versions(name))
    assert sorted(v.version for v in versions) == sorted(p.version for p in made)
    by_version = {v.version: v for v in versions}
    for i, p in enumerate(made):
        v = by_version[p.version]
        assert v.name == name
        assert v.id == f"{contract.vault_url}/secrets/{name}/{p.version}"
        assert v.tags == {"i": str(i)}
        assert v.enabled is True
        assert v.created_on == p.created_on

    paged = []
    page_count = 0
    for page in client.list_properties_of_secret_versions(name, max_page_size=2).by_page():
        items = list(page)
        assert len(items) <= 2
        page_count += 1
        paged.extend(items)
    assert page_count >= 3
    assert sorted(v.version for v in paged) == sorted(p.version for p in made)


def test_list_versions_of_missing_secret(client, unique_name):
    name = unique_name("missing")
    try:
        versions = list(client.list_properties_of_secret_versions(name))
    except ResourceNotFoundError:
        return  # Azure answers 404 SecretNotFound here; an empty list is also acceptable
    assert versions == []


# ---- delete / recover / purge -------------------------------------------------------------------


def test_delete_get_deleted_list_deleted_and_name_reuse(client, contract, unique_name):
    name = unique_name()
    secret = client.set_secret(name, "to-delete", content_type="ct", tags={"t": "1"})
    before = now()
    deleted = delete_and_wait(client, name)

    assert deleted.name == name
    assert deleted.recovery_id == f"{contract.vault_url}/deletedsecrets/{name}"
    assert deleted.properties.version == secret.properties.version
    assert deleted.properties.content_type == "ct"
    assert deleted.properties.tags == {"t": "1"}
    assert deleted.id == secret.id
    assert_recent(deleted.deleted_date)
    assert deleted.deleted_date >= whole_seconds(before) - timedelta(seconds=2)
    assert deleted.scheduled_purge_date > deleted.deleted_date
    retention = deleted.scheduled_purge_date - deleted.deleted_date
    days = secret.properties.recoverable_days
    if days is not None:
        assert retention == timedelta(days=days)
    else:
        assert timedelta(days=7) <= retention <= timedelta(days=90)

    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name)
    assert name not in [p.name for p in client.list_properties_of_secrets()]

    got = client.get_deleted_secret(name)
    assert isinstance(got, DeletedSecret)
    assert got.name == name
    assert got.recovery_id == deleted.recovery_id
    assert got.deleted_date == deleted.deleted_date
    assert got.scheduled_purge_date == deleted.scheduled_purge_date
    assert got.properties.version == secret.properties.version

    listed = [d for d in client.list_deleted_secrets() if d.name == name]
    assert len(listed) == 1
    assert listed[0].recovery_id == deleted.recovery_id
    assert listed[0].deleted_date == deleted.deleted_date
    assert listed[0].scheduled_purge_date == deleted.scheduled_purge_date

    pages = list(client.list_deleted_secrets(max_page_size=1).by_page())
    assert pages

    with pytest.raises(ResourceExistsError) as info:
        client.set_secret(name, "reuse")
    assert info.value.status_code == 409
    assert "deleted but recoverable" in info.value.message.lower()
    assert inner_code(info.value) == "ObjectIsDeletedButRecoverable"

    # Deleting it again: it is no longer an active secret.
    with pytest.raises(ResourceNotFoundError):
        client.begin_delete_secret(name)


def test_recover_deleted_secret(client, unique_name):
    name = unique_name()
    v1 = client.set_secret(name, "first").properties.version
    v2 = client.set_secret(name, "second", tags={"k": "v"}).properties.version
    delete_and_wait(client, name)

    recovered = recover_and_wait(client, name)
    assert isinstance(recovered, SecretProperties)
    assert recovered.name == name
    assert recovered.version == v2
    assert recovered.tags == {"k": "v"}

    got = client.get_secret(name)
    assert got.value == "second"
    assert got.properties.version == v2
    assert client.get_secret(name, v1).value == "first"
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    assert name not in [d.name for d in client.list_deleted_secrets()]
    # The name is live again: a new version can be set.
    assert client.set_secret(name, "third").value == "third"


def test_purge_deleted_secret(client, unique_name):
    name = unique_name()
    client.set_secret(name, "old-1")
    client.set_secret(name, "old-2")
    delete_and_wait(client, name)
    assert client.purge_deleted_secret(name) is None
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.begin_recover_deleted_secret(name)
    assert name not in [d.name for d in client.list_deleted_secrets()]

    # After purge the name is free and starts with no history.
    fresh = client.set_secret(name, "new")
    versions = list(client.list_properties_of_secret_versions(name))
    assert [v.version for v in versions] == [fresh.properties.version]


def test_missing_objects_are_not_found(client, unique_name):
    name = unique_name("missing")
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_secret(name)
    assert info.value.status_code == 404
    assert info.value.error.code == "SecretNotFound"
    error_body(info.value)
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.begin_delete_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.purge_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.begin_recover_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.backup_secret(name)

    existing = unique_name("present")
    client.set_secret(existing, "x")
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(existing, "0" * 32)
    with pytest.raises(ResourceNotFoundError):
        client.update_secret_properties(existing, "0" * 32, enabled=False)
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(existing)
    with pytest.raises(ResourceNotFoundError):
        client.purge_deleted_secret(existing)  # not deleted: nothing to purge


# ---- backup / restore ---------------------------------------------------------------------------


def test_backup_and_restore(client, contract, unique_name):
    name = unique_name()
    a = client.set_secret(name, "alpha", content_type="ct-a", tags={"v": "a"}).properties
    b = client.set_secret(name, "beta", content_type="ct-b", tags={"v": "b"}).properties
    backup = client.backup_secret(name)
    assert isinstance(backup, bytes) and len(backup) > 16
    assert b"alpha" not in backup and b"beta" not in backup, "backups must not hold plaintext"

    # Restoring over a live secret is refused.
    with pytest.raises(ResourceExistsError) as info:
        client.restore_secret_backup(backup)
    assert info.value.status_code == 409

    delete_and_wait(client, name)
    # ...and so is restoring over a deleted-but-recoverable one.
    with pytest.raises(ResourceExistsError):
        client.restore_secret_backup(backup)
    client.purge_deleted_secret(name)

    restored = client.restore_secret_backup(backup)
    assert isinstance(restored, SecretProperties)
    assert restored.name == name
    assert restored.version == b.version
    assert restored.content_type == "ct-b"
    assert restored.tags == {"v": "b"}
    assert restored.id == f"{contract.vault_url}/secrets/{name}/{b.version}"

    got = client.get_secret(name)
    assert got.value == "beta" and got.properties.version == b.version
    old = client.get_secret(name, a.version)
    assert old.value == "alpha"
    assert old.properties.content_type == "ct-a" and old.properties.tags == {"v": "a"}
    assert old.properties.created_on == a.created_on
    versions = sorted(v.version for v in client.list_properties_of_secret_versions(name))
    assert versions == sorted([a.version, b.version])

    with pytest.raises(ResourceExistsError):
        client.restore_secret_backup(backup)


def test_tampered_backup_is_rejected(client, unique_name):
    name = unique_name()
    client.set_secret(name, "payload")
    backup = client.backup_secret(name)
    delete_and_purge(client, name)

    tampered = bytearray(backup)
    tampered[len(tampered) // 2] ^= 0x5A
    for blob in (bytes(tampered), backup[: len(backup) // 2], b"not a backup at all", b"\x00"):
        with pytest.raises(HttpResponseError) as info:
            client.restore_secret_backup(blob)
        assert info.value.status_code == 400, (blob[:20], info.value)
        error_body(info.value)
    # Nothing was restored by the failed attempts.
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name)
    # The intact backup still restores.
    assert client.restore_secret_backup(backup).name == name
    assert client.get_secret(name).value == "payload"


# ---- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["bad_name", "a.b", "x" * 128, "sp ace", "ünï"])
def test_invalid_name_is_bad_request(client, bad):
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(bad, "value")
    assert info.value.status_code == 400, info.value
    assert error_body(info.value)["code"] == "BadParameter"


def test_longest_name_is_accepted(client, run_id):
    name = (run_id + "-" + "n" * 127)[:127]
    assert client.set_secret(name, "v").name == name
    assert client.get_secret(name).value == "v"


def test_value_size_limit(client, unique_name):
    name = unique_name()
    limit = 25 * 1024
    assert client.set_secret(name, "x" * limit).value == "x" * limit
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(unique_name(), "x" * (limit + 1))
    assert info.value.status_code == 400, info.value
    error_body(info.value)
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(unique_name(), "y" * (200 * 1024))
    assert info.value.status_code in (400, 413), info.value


def test_content_type_length_limit(client, unique_name):
    """Azure documents contentType as at most 255 characters."""
    name = unique_name()
    assert client.set_secret(name, "v", content_type="c" * 255).properties.content_type == "c" * 255
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(unique_name(), "v", content_type="c" * 256)
    assert info.value.status_code == 400, info.value
    error_body(info.value)


def test_tag_count_limit(client, unique_name):
    name = unique_name()
    fifteen = {f"k{i}": f"v{i}" for i in range(15)}
    assert client.set_secret(name, "v", tags=fifteen).properties.tags == fifteen
    sixteen = {f"k{i}": f"v{i}" for i in range(16)}
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(unique_name(), "v", tags=sixteen)
    assert info.value.status_code == 400, info.value
    error_body(info.value)
    with pytest.raises(HttpResponseError) as info:
        client.update_secret_properties(name, tags=sixteen)
    assert info.value.status_code == 400, info.value
    assert client.get_secret(name).properties.tags == fifteen, "a refused update changes nothing"


# ---- every api-version the SDK offers -----------------------------------------------------------


@pytest.mark.parametrize("api_version", list(ApiVersion), ids=lambda v: v.value)
def test_basic_flow_for_every_api_version(contract, credential, unique_name, api_version):
    with SecretClient(contract.vault_url, credential, api_version=api_version) as c:
        name = unique_name()
        nbf = whole_seconds(now() - timedelta(minutes=5))
        s1 = c.set_secret(name, "first", content_type="ct", tags={"api": api_version.value}, not_before=nbf)
        check_properties(s1.properties, contract, name, content_type="ct", tags={"api": api_version.value})
        assert s1.value == "first"
        assert s1.properties.not_before == nbf
        if api_version in NO_RECOVERABLE_DAYS:
            assert s1.properties.recoverable_days is None
        else:
            assert isinstance(s1.properties.recoverable_days, int)

        s2 = c.set_secret(name, "second")
        assert c.get_secret(name).value == "second"
        assert c.get_secret(name, s1.properties.version).value == "first"

        upd = c.update_secret_properties(name, content_type="updated")
        assert upd.content_type == "updated" and upd.version == s2.properties.version

        versions = list(c.list_properties_of_secret_versions(name))
        assert sorted(v.version for v in versions) == sorted([s1.properties.version, s2.properties.version])
        listed = [p for p in c.list_properties_of_secrets(max_page_size=25) if p.name == name]
        assert len(listed) == 1
        if api_version in NO_RECOVERABLE_DAYS:
            assert listed[0].recoverable_days is None

        deleted = delete_and_wait(c, name)
        assert deleted.recovery_id == f"{contract.vault_url}/deletedsecrets/{name}"
        assert deleted.scheduled_purge_date > deleted.deleted_date
        assert c.get_deleted_secret(name).name == name
        c.purge_deleted_secret(name)
        with pytest.raises(ResourceNotFoundError):
            c.get_deleted_secret(name)


# ---- authentication -----------------------------------------------------------------------------


def test_wrong_client_secret_is_client_authentication_error(contract, unique_name):
    cred = ClientSecretCredential(
        contract.tenant_id,
        contract.client_id,
        "definitely-not-the-secret",
        authority=contract.authority,
        disable_instance_discovery=True,
    )
    with cred, SecretClient(contract.vault_url, cred) as c:
        with pytest.raises(ClientAuthenticationError) as info:
            c.get_secret(unique_name())
    assert "AADSTS7000215" in str(info.value), str(info.value)


def test_unknown_vault_is_not_found(contract, credential):
    url = contract.vault_url_for("nosuch")
    with SecretClient(url, credential) as c:
        with pytest.raises(HttpResponseError) as info:
            c.get_secret("anything")
    # ResourceNotFoundError is the SDK's type for a 404; any HttpResponseError with 404 is acceptable.
    assert info.value.status_code == 404
    error_body(info.value)


def test_unauthenticated_request_gets_challenge(contract):
    expected = f'Bearer authorization="{contract.authority}/{contract.tenant_id}", resource="{contract.vault_resource}"'
    cases = [
        ("GET", "/secrets?api-version=7.5", None),
        ("GET", "/secrets/some-name/?api-version=2026-04-01", None),
        # Authentication comes before validation: a bad body and a missing api-version still get 401.
        ("PUT", "/secrets/bad_name", b"{not json"),
        ("PUT", "/secrets/x?api-version=7.6", b""),
    ]
    for method, path, body in cases:
        r = requests.request(
            method, contract.vault_url + path, data=body, verify=contract.ca_cert, timeout=30
        )
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers.get("WWW-Authenticate") == expected, r.headers.get("WWW-Authenticate")
        assert r.headers.get("Content-Type", "").startswith("application/json")
        err = r.json()["error"]
        assert err["code"] == "Unauthorized"
        assert "AKV10000" in err["message"], err["message"]
        assert "Retry-After" not in r.headers


def test_bad_tokens_are_rejected_with_challenge(contract):
    token = contract.token()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for auth in (f"Bearer {forged}", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"):
        r = requests.get(
            contract.vault_url + "/secrets?api-version=7.5",
            headers={"Authorization": auth},
            verify=contract.ca_cert,
            timeout=30,
        )
        assert r.status_code == 401, (auth[:20], r.status_code, r.text)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer authorization=")
        assert r.json()["error"]["code"] == "Unauthorized"


def test_openid_configuration(contract):
    r = requests.get(
        f"{contract.authority}/{contract.tenant_id}/v2.0/.well-known/openid-configuration",
        verify=contract.ca_cert,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert doc[key].startswith(contract.authority + "/"), (key, doc[key])
    assert doc["token_endpoint"] == f"{contract.authority}/{contract.tenant_id}/oauth2/v2.0/token"
    jwks = requests.get(doc["jwks_uri"], verify=contract.ca_cert, timeout=30)
    assert jwks.status_code == 200
    assert jwks.json()["keys"], jwks.text


def _raw_vault_request(contract, method, path_and_query, token, body=None, headers=None):
    """Sends exactly `path_and_query` (no client-side re-encoding) to the vault over TLS."""
    ctx = ssl.create_default_context(cafile=contract.ca_cert)
    conn = http.client.HTTPSConnection(contract.vault_host, contract.port, context=ctx, timeout=30)
    try:
        hdrs = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn.request(method, path_and_query, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_js_style_percent_encoded_api_version(contract, run_id):
    token = contract.token()
    name = f"{run_id}-jsstyle"
    status, _, body = _raw_vault_request(
        contract, "PUT", f"/secrets/{name}?api%2Dversion=7.5", token, json.dumps({"value": "from-js"})
    )
    assert status == 200, body
    put = json.loads(body)
    assert put["value"] == "from-js"
    assert put["id"].startswith(f"{contract.vault_url}/secrets/{name}/")

    status, _, body = _raw_vault_request(contract, "GET", f"/secrets/{name}/?api%2Dversion=7.5", token)
    assert status == 200, body
    got = json.loads(body)
    assert got["value"] == "from-js" and got["id"] == put["id"]
    assert got["attributes"]["recoverableDays"] >= 7  # 7.5 has recoverableDays


def test_v1_token_endpoint_token_is_accepted(contract, run_id):
    token = contract.token(v2=False)
    name = f"{run_id}-v1token"
    status, _, body = _raw_vault_request(
        contract, "PUT", f"/secrets/{name}?api-version=7.0", token, json.dumps({"value": "v1"})
    )
    assert status == 200, body
    attrs = json.loads(body)["attributes"]
    assert "recoverableDays" not in attrs  # not in 7.0
    assert attrs["enabled"] is True and isinstance(attrs["created"], int)


def test_api_version_missing_or_unknown_is_bad_request(contract):
    token = contract.token()
    for path in ("/secrets", "/secrets?api-version=1999-01-01", "/secrets?api-version="):
        status, _, body = _raw_vault_request(contract, "GET", path, token)
        assert status == 400, (path, status, body)
        err = json.loads(body)["error"]
        assert err["code"] and err["message"]
        assert "version" in err["message"].lower()


def test_malformed_bodies_are_bad_requests(contract, run_id):
    token = contract.token()
    name = f"{run_id}-malformed"
    for body in ('{"value":"x"', '{"novalue":"x"}', '{"value": 5}', "[]", '{"value":"x","tags":"no"}'):
        status, _, raw = _raw_vault_request(contract, "PUT", f"/secrets/{name}?api-version=7.6", token, body)
        assert status == 400, (body, status, raw)
        err = json.loads(raw)["error"]
        assert err["code"] == "BadParameter" and err["message"], raw
    status, _, raw = _raw_vault_request(contract, "GET", f"/secrets/{name}/?api-version=7.6", token)
    assert status == 404, "a refused set stores nothing"


def test_response_headers(contract):
    token = contract.token()
    client_request_id = str(uuid.uuid4())
    status, headers, _ = _raw_vault_request(
        contract,
        "GET",
        "/secrets?api-version=2026-04-01&maxresults=1",
        token,
        headers={"x-ms-client-request-id": client_request_id},
    )
    assert status == 200
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower.get("x-ms-request-id"), headers
    assert lower.get("x-ms-client-request-id") == client_request_id, headers
    network = lower.get("x-ms-keyvault-network-info", "")
    assert "conn_type=Ipv4" in network and "addr=127.0.0.1" in network, headers
    assert lower.get("x-ms-keyvault-service-version"), headers
    # Errors carry them too.
    status, headers, _ = _raw_vault_request(
        contract, "GET", "/secrets/does-not-exist-here/?api-version=7.6", token
    )
    assert status == 404
    assert {k.lower() for k in headers} >= {"x-ms-request-id", "x-ms-keyvault-network-info"}


def test_ids_follow_the_called_host(contract, run_id):
    """Object ids and nextLinks use the scheme, host and port the client called."""
    token = contract.token()
    name = f"{run_id}-ids"
    status, _, body = _raw_vault_request(
        contract, "PUT", f"/secrets/{name}?api-version=7.6", token, json.dumps({"value": "v"})
    )
    assert status == 200
    sid = json.loads(body)["id"]
    parts = urlsplit(sid)
    assert (parts.scheme, parts.hostname, parts.port) == ("https", contract.vault_host, contract.port)
    status, _, body = _raw_vault_request(contract, "GET", "/secrets?api-version=7.6&maxresults=1", token)
    assert status == 200
    link = json.loads(body).get("nextLink")
    assert link and link.startswith(contract.vault_url + "/secrets?"), link

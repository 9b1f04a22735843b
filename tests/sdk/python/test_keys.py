"""Conformance of Coffer's keys data plane with the official Azure SDK for Python: `KeyClient`.

azure-keyvault-keys is used unmodified, challenge-resource verification on. Returned public keys
are rebuilt with `cryptography`, which checks that `n`/`e` form a key and that `(x, y)` lies on
the curve. The cryptographic operations are in test_keys_crypto.py.
"""

import re
from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import (
    ApiVersion,
    DeletedKey,
    JsonWebKey,
    KeyClient,
    KeyCurveName,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
    KeyType,
    KeyVaultKey,
)
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from keys_support import (  # noqa: F401 (fixtures)
    COORDINATE_LEN,
    CURVES,
    ec_jwk,
    error_of,
    key_client,
    now,
    public_key_of,
    rsa_jwk,
)

VERSION_RE = re.compile(r"^[0-9a-f]{32}$")
RSA_OPS = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
EC_OPS = {"sign", "verify"}
OCT_OPS = {"encrypt", "decrypt", "wrapKey", "unwrapKey"}


def check_key(key, contract, name, kty, ops):
    assert isinstance(key, KeyVaultKey)
    assert key.name == name
    assert VERSION_RE.match(key.properties.version or ""), key.properties.version
    assert key.id == f"{contract.vault_url}/keys/{name}/{key.properties.version}"
    assert key.key.kid == key.id
    assert key.key_type == kty
    assert set(key.key_operations) == ops, key.key_operations
    assert key.properties.enabled is True
    assert abs(now() - key.properties.created_on) < timedelta(minutes=5)
    assert key.properties.updated_on >= key.properties.created_on
    assert key.properties.recovery_level
    assert not key.properties.managed
    for member in ("d", "p", "q", "dp", "dq", "qi", "k"):
        assert getattr(key.key, member) is None, member


def delete_key(key_client, name):
    poller = key_client.begin_delete_key(name, _polling_interval=0.2)
    poller.wait(timeout=30)
    assert poller.done()
    return poller.result()


def delete_and_purge(key_client, name):
    delete_key(key_client, name)
    key_client.purge_deleted_key(name)


# ---- create -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_create_rsa(key_client, contract, unique_name, size):
    name = unique_name()
    key = key_client.create_rsa_key(name, size=size, public_exponent=65537, tags={"size": str(size)})
    check_key(key, contract, name, KeyType.rsa, RSA_OPS)
    assert len(key.key.n) == size // 8 and key.key.n[0] & 0x80, "n is not exactly the key size"
    assert key.key.e == b"\x01\x00\x01"
    assert public_key_of(key.key).key_size == size
    assert key.properties.tags == {"size": str(size)}


@pytest.mark.parametrize("crv", ["P-256", "P-384", "P-521", "P-256K"])
def test_create_ec(key_client, contract, unique_name, crv):
    name = unique_name()
    key = key_client.create_ec_key(name, curve=KeyCurveName(crv))
    check_key(key, contract, name, KeyType.ec, EC_OPS)
    assert key.key.crv == crv
    assert len(key.key.x) == len(key.key.y) == COORDINATE_LEN[crv]
    assert isinstance(public_key_of(key.key).curve, type(CURVES[crv]))


@pytest.mark.parametrize("size", [128, 192, 256])
def test_create_oct(key_client, contract, unique_name, size):
    name = unique_name()
    key = key_client.create_oct_key(name, size=size)
    check_key(key, contract, name, KeyType.oct, OCT_OPS)
    for member in ("n", "e", "x", "y", "crv"):
        assert getattr(key.key, member) is None, member


def test_create_with_attributes_and_ops(key_client, contract, unique_name):
    name = unique_name()
    nbf = (now() - timedelta(hours=1)).replace(microsecond=0)
    exp = (now() + timedelta(days=30)).replace(microsecond=0)
    key = key_client.create_key(
        name,
        KeyType.rsa,
        key_operations=["sign", "verify"],
        not_before=nbf,
        expires_on=exp,
        tags={"a": "1"},
    )
    check_key(key, contract, name, KeyType.rsa, {"sign", "verify"})
    assert key.properties.not_before == nbf and key.properties.expires_on == exp
    # The default key size is 2048 bits.
    assert len(key.key.n) == 256


def test_create_refuses_bad_parameters(key_client, unique_name):
    name = unique_name()
    for kwargs in (
        {"key_type": KeyType.rsa, "size": 1024},
        {"key_type": KeyType.rsa, "size": 2047},
        {"key_type": KeyType.oct, "size": 512},
        {"key_type": KeyType.ec, "curve": "P-999"},
        {"key_type": "DSA"},
        {"key_type": KeyType.ec, "key_operations": ["encrypt"]},
        {"key_type": KeyType.rsa, "key_operations": ["frobnicate"]},
    ):
        with pytest.raises(HttpResponseError) as e:
            key_client.create_key(name, **kwargs)
        code, _, message = error_of(e, 400)
        assert code == "BadParameter", (kwargs, code, message)
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name)


@pytest.mark.parametrize("create", ["rsa", "ec", "oct"])
def test_hsm_key_types_need_a_token(key_client, unique_name, create):
    name = unique_name()
    make = getattr(key_client, f"create_{create}_key")
    with pytest.raises(HttpResponseError) as e:
        make(name, hardware_protected=True)
    code, _, message = error_of(e, 400)
    assert code == "BadParameter"
    assert "HSM" in message and "PKCS#11" in message, message
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name)


# ---- import -----------------------------------------------------------------------------------


def test_import_rsa(key_client, contract, unique_name):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = unique_name()
    key = key_client.import_key(name, rsa_jwk(private), tags={"imported": "yes"})
    check_key(key, contract, name, KeyType.rsa, RSA_OPS)
    assert key.key.n == rsa_jwk(private).n and key.key.e == b"\x01\x00\x01"
    assert public_key_of(key.key).public_numbers() == private.public_key().public_numbers()
    assert key.properties.tags == {"imported": "yes"}


@pytest.mark.parametrize("crv", ["P-256", "P-384", "P-521", "P-256K"])
def test_import_ec(key_client, contract, unique_name, crv):
    private = ec.generate_private_key(CURVES[crv])
    name = unique_name()
    key = key_client.import_key(name, ec_jwk(private, crv, key_ops=["sign", "verify"]))
    check_key(key, contract, name, KeyType.ec, EC_OPS)
    assert (key.key.x, key.key.y) == (ec_jwk(private, crv).x, ec_jwk(private, crv).y)


def test_import_oct_and_hsm_flag(key_client, contract, unique_name):
    name = unique_name()
    key = key_client.import_key(name, JsonWebKey(kty="oct", k=bytes(range(32))))
    check_key(key, contract, name, KeyType.oct, OCT_OPS)
    with pytest.raises(HttpResponseError) as e:
        key_client.import_key(unique_name(), JsonWebKey(kty="oct", k=bytes(16)), hardware_protected=True)
    assert "HSM" in error_of(e, 400)[2]


def test_import_refuses_public_and_malformed_jwks(key_client, unique_name):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    full = rsa_jwk(private)
    ec_private = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    ec_full = ec_jwk(ec_private, "P-256")
    name = unique_name()
    bad = [
        JsonWebKey(kty="RSA", n=full.n, e=full.e),  # public only
        JsonWebKey(kty="EC", crv="P-256", x=ec_full.x, y=ec_full.y),  # public only
        JsonWebKey(kty="RSA", **{m: getattr(full, m) for m in ("n", "e", "d", "p", "q")}),
        JsonWebKey(**dict(vars(full), q=full.p)),  # inconsistent parts
        JsonWebKey(kty="EC", crv="P-256", x=ec_full.x, y=ec_full.y, d=ec_jwk(other, "P-256").d),
        JsonWebKey(kty="EC", crv="P-256", x=ec_full.x + b"\x00", y=ec_full.y, d=ec_full.d),
        JsonWebKey(kty="EC", crv="P-384", x=ec_full.x, y=ec_full.y, d=ec_full.d),
        JsonWebKey(kty="oct", k=bytes(20)),
        JsonWebKey(kty="oct"),
        JsonWebKey(n=full.n, e=full.e, d=full.d),  # no kty
    ]
    for jwk in bad:
        with pytest.raises(HttpResponseError) as e:
            key_client.import_key(name, jwk)
        code, _, message = error_of(e, 400)
        assert code == "BadParameter", message
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name)


# ---- get / update -----------------------------------------------------------------------------


def test_get_latest_and_by_version(key_client, unique_name):
    name = unique_name()
    first = key_client.create_ec_key(name)
    second = key_client.create_ec_key(name, curve="P-384")
    latest = key_client.get_key(name)
    assert latest.id == second.id and latest.key.crv == "P-384"
    old = key_client.get_key(name, first.properties.version)
    assert old.id == first.id and old.key.x == first.key.x and old.key.crv == "P-256"
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name, "0" * 32)
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(unique_name("missing"))


def test_update_properties(key_client, unique_name):
    name = unique_name()
    key = key_client.create_rsa_key(name, tags={"t": "1"})
    exp = (now() + timedelta(days=10)).replace(microsecond=0)
    updated = key_client.update_key_properties(
        name,
        key.properties.version,
        enabled=False,
        tags={"t": "2", "u": "3"},
        key_operations=["sign", "verify"],
        expires_on=exp,
    )
    assert updated.id == key.id
    assert updated.properties.enabled is False
    assert updated.properties.tags == {"t": "2", "u": "3"}
    assert set(updated.key_operations) == {"sign", "verify"}
    assert updated.properties.expires_on == exp
    assert updated.key.n == key.key.n
    again = key_client.get_key(name)
    assert again.properties.enabled is False and set(again.key_operations) == {"sign", "verify"}
    # The latest version is updated when no version is given.
    latest = key_client.update_key_properties(name, enabled=True)
    assert latest.properties.enabled is True and latest.properties.tags == {"t": "2", "u": "3"}
    with pytest.raises(HttpResponseError) as e:
        key_client.update_key_properties(name, key_operations=["sign", "bogus"])
    error_of(e, 400)
    assert set(key_client.get_key(name).key_operations) == {"sign", "verify"}


# ---- list -------------------------------------------------------------------------------------


def test_list_with_paging_and_versions(key_client, contract, unique_name):
    names = [unique_name() for _ in range(5)]
    for n in names:
        key_client.create_oct_key(n)
    for _ in range(2):
        key_client.create_oct_key(names[0])
    seen = []
    pages = 0
    for page in key_client.list_properties_of_keys(max_page_size=2).by_page():
        items = list(page)
        assert len(items) <= 2
        pages += 1
        seen.extend(items)
    assert pages >= 3
    ours = {p.name: p for p in seen if p.name in names}
    assert set(ours) == set(names)
    for p in ours.values():
        assert p.id == f"{contract.vault_url}/keys/{p.name}", p.id
        assert p.version is None and p.enabled is True
    ids = [p.id for p in seen]
    assert len(ids) == len(set(ids)), "a key was listed twice"

    versions = list(key_client.list_properties_of_key_versions(names[0], max_page_size=2))
    assert len(versions) == 3
    assert key_client.get_key(names[0]).properties.version in {v.version for v in versions}
    for v in versions:
        assert VERSION_RE.match(v.version)
        assert v.id == f"{contract.vault_url}/keys/{names[0]}/{v.version}"


# ---- delete / recover / purge -----------------------------------------------------------------


def test_delete_recover_purge(key_client, contract, unique_name):
    name = unique_name()
    key = key_client.create_ec_key(name)
    deleted = delete_key(key_client, name)
    assert isinstance(deleted, DeletedKey)
    assert deleted.id == key.id and deleted.key.x == key.key.x
    assert deleted.recovery_id == f"{contract.vault_url}/deletedkeys/{name}"
    assert deleted.deleted_date and deleted.scheduled_purge_date > deleted.deleted_date
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name)
    listed = [d for d in key_client.list_deleted_keys(max_page_size=3) if d.name == name]
    assert len(listed) == 1 and listed[0].recovery_id == deleted.recovery_id
    got = key_client.get_deleted_key(name)
    assert got.id == key.id and got.key.x == key.key.x

    poller = key_client.begin_recover_deleted_key(name, _polling_interval=0.2)
    poller.wait(timeout=30)
    recovered = poller.result()
    assert recovered.id == key.id and recovered.key.x == key.key.x
    with pytest.raises(ResourceNotFoundError):
        key_client.get_deleted_key(name)

    delete_key(key_client, name)
    key_client.purge_deleted_key(name)
    with pytest.raises(ResourceNotFoundError):
        key_client.get_deleted_key(name)
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key(name)
    # The name is free again.
    assert key_client.create_ec_key(name).id != key.id


def test_backup_and_restore(key_client, unique_name):
    name = unique_name()
    first = key_client.create_rsa_key(name)
    second = key_client.create_rsa_key(name, tags={"v": "2"})
    blob = key_client.backup_key(name)
    assert isinstance(blob, bytes) and len(blob) > 100
    assert first.key.n not in blob, "the backup is not opaque"
    with pytest.raises(HttpResponseError) as e:
        key_client.restore_key_backup(blob)
    assert e.value.status_code == 409, "restoring over a live key must conflict"
    delete_and_purge(key_client, name)
    restored = key_client.restore_key_backup(blob)
    assert restored.id == second.id and restored.key.n == second.key.n
    assert restored.properties.tags == {"v": "2"}
    assert key_client.get_key(name, first.properties.version).key.n == first.key.n
    with pytest.raises(HttpResponseError) as e:
        key_client.restore_key_backup(b"not a backup")
    error_of(e, 400)


# ---- rotation ---------------------------------------------------------------------------------


def test_rotate_makes_a_new_version_like_the_last(key_client, unique_name):
    name = unique_name()
    key = key_client.create_ec_key(name, curve="P-384", key_operations=["sign", "verify"], tags={"r": "1"})
    rotated = key_client.rotate_key(name)
    assert rotated.properties.version != key.properties.version
    assert rotated.key.crv == "P-384" and rotated.key.x != key.key.x
    assert set(rotated.key_operations) == {"sign", "verify"}
    assert rotated.properties.tags == {"r": "1"}
    assert key_client.get_key(name).id == rotated.id
    rsa_name = unique_name("rsa")
    rsa_key = key_client.create_rsa_key(rsa_name, size=3072)
    rsa_rotated = key_client.rotate_key(rsa_name)
    assert len(rsa_rotated.key.n) == 384 and rsa_rotated.key.n != rsa_key.key.n
    with pytest.raises(ResourceNotFoundError):
        key_client.rotate_key(unique_name("missing"))


def test_rotation_policy_default_and_update(key_client, contract, unique_name):
    name = unique_name()
    key_client.create_rsa_key(name)
    default = key_client.get_key_rotation_policy(name)
    assert default.id == f"{contract.vault_url}/keys/{name}/rotationpolicy"
    assert [(a.action, a.time_before_expiry) for a in default.lifetime_actions] == [
        (KeyRotationPolicyAction.notify, "P30D")
    ]
    actions = [
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D"),
        KeyRotationLifetimeAction(KeyRotationPolicyAction.notify, time_before_expiry="P10D"),
    ]
    policy = key_client.update_key_rotation_policy(
        name, KeyRotationPolicy(), lifetime_actions=actions, expires_in="P180D"
    )
    assert policy.expires_in == "P180D"
    got = key_client.get_key_rotation_policy(name)
    assert got.expires_in == "P180D"
    assert sorted((a.action, a.time_after_create, a.time_before_expiry) for a in got.lifetime_actions) == sorted(
        [(KeyRotationPolicyAction.rotate, "P90D", None), (KeyRotationPolicyAction.notify, None, "P10D")]
    )
    assert got.created_on and got.updated_on
    # The policy's expiry applies to the versions rotation makes.
    rotated = key_client.rotate_key(name)
    assert rotated.properties.expires_on is not None
    delta = rotated.properties.expires_on - rotated.properties.created_on
    assert abs(delta - timedelta(days=180)) < timedelta(minutes=1), delta
    with pytest.raises(HttpResponseError) as e:
        key_client.update_key_rotation_policy(
            name,
            KeyRotationPolicy(),
            lifetime_actions=[KeyRotationLifetimeAction("Explode", time_after_create="P90D")],
        )
    error_of(e, 400)
    assert key_client.get_key_rotation_policy(name).expires_in == "P180D"


# ---- random bytes and api-versions ------------------------------------------------------------


def test_get_random_bytes(key_client):
    seen = set()
    for count in (1, 32, 128):
        value = key_client.get_random_bytes(count)
        assert isinstance(value, bytes) and len(value) == count
        seen.add(value)
    assert len(seen) == 3
    with pytest.raises(HttpResponseError) as e:
        key_client._client.get_random_bytes(  # the SDK refuses 0 itself; the service must too
            parameters=key_client._models.GetRandomBytesRequest(count=129)
        )
    error_of(e, 400)


@pytest.mark.parametrize("api_version", [ApiVersion.V7_0, ApiVersion.V7_4, ApiVersion.V2025_07_01])
def test_older_api_versions(contract, credential, unique_name, api_version):
    with KeyClient(contract.vault_url, credential, api_version=api_version) as c:
        name = unique_name()
        key = c.create_ec_key(name)
        assert c.get_key(name).id == key.id
        assert any(p.name == name for p in c.list_properties_of_keys())

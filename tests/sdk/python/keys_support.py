"""Shared fixtures and helpers of the keys suites (test_keys.py, test_keys_crypto.py).

Everything the vault returns is checked with Python `cryptography`, independently of Coffer: JWK
public members become `cryptography` public keys, and keys the tests import are made here so
their private halves are known.
"""

from datetime import datetime, timezone

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import JsonWebKey, KeyClient
from azure.keyvault.keys.crypto import CryptographyClient
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CURVES = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "P-256K": ec.SECP256K1(),
}
COORDINATE_LEN = {"P-256": 32, "P-384": 48, "P-521": 66, "P-256K": 32}


def now():
    return datetime.now(timezone.utc)


@pytest.fixture(scope="session")
def key_client(contract, credential):
    # Challenge-resource verification stays at its default (on).
    c = KeyClient(contract.vault_url, credential)
    yield c
    c.close()


@pytest.fixture
def remote_client(credential):
    """Returns a function making a CryptographyClient that does every operation in the vault.

    A CryptographyClient made from a key id fetches the JWK on first use and then does public
    operations (encrypt, wrap, verify) locally; it does not fetch it when it believes it may not
    (`keys/get` forbidden). Marking it initialized without a local provider is that state, so
    every call below reaches Coffer.
    """
    made = []

    def make(key):
        key_id = key if isinstance(key, str) else key.id
        c = CryptographyClient(key_id, credential)
        c._initialized = True  # pylint: disable=protected-access
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def local_client(credential):
    """A CryptographyClient made from the KeyVaultKey: public operations happen in the SDK."""
    made = []

    def make(key):
        c = CryptographyClient(key, credential)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def b2i(b):
    return int.from_bytes(b, "big")


def i2b(i, length=None):
    length = length or max(1, (i.bit_length() + 7) // 8)
    return i.to_bytes(length, "big")


def rsa_jwk(private_key, **extra):
    """The private JWK of a `cryptography` RSA key, for import."""
    nums = private_key.private_numbers()
    pub = nums.public_numbers
    return JsonWebKey(
        kty="RSA",
        n=i2b(pub.n),
        e=i2b(pub.e),
        d=i2b(nums.d),
        p=i2b(nums.p),
        q=i2b(nums.q),
        dp=i2b(nums.dmp1),
        dq=i2b(nums.dmq1),
        qi=i2b(nums.iqmp),
        **extra,
    )


def ec_jwk(private_key, crv, **extra):
    """The private JWK of a `cryptography` EC key, for import (fixed-length members)."""
    n = COORDINATE_LEN[crv]
    nums = private_key.private_numbers()
    return JsonWebKey(
        kty="EC",
        crv=crv,
        x=i2b(nums.public_numbers.x, n),
        y=i2b(nums.public_numbers.y, n),
        d=i2b(nums.private_value, n),
        **extra,
    )


def public_key_of(jwk):
    """A `cryptography` public key from a returned JWK; refuses a JWK with a private member."""
    for member in ("d", "p", "q", "dp", "dq", "qi", "k"):
        assert getattr(jwk, member, None) is None, f"the JWK carries the private member {member}"
    if jwk.kty in ("RSA", "RSA-HSM"):
        return rsa.RSAPublicNumbers(b2i(jwk.e), b2i(jwk.n)).public_key()
    if jwk.kty in ("EC", "EC-HSM"):
        n = COORDINATE_LEN[jwk.crv]
        assert len(jwk.x) == n and len(jwk.y) == n, (len(jwk.x), len(jwk.y))
        # Raises if the point is not on the curve.
        return ec.EllipticCurvePublicNumbers(b2i(jwk.x), b2i(jwk.y), CURVES[jwk.crv]).public_key()
    raise AssertionError(f"no public key in a {jwk.kty} JWK")


def error_of(exc_info, status):
    """Checks an SDK error's status and Azure envelope; returns (code, inner code, message)."""
    exc = exc_info.value
    assert isinstance(exc, HttpResponseError), exc
    assert exc.status_code == status, (exc.status_code, exc.message)
    body = exc.response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], body
    assert isinstance(err.get("message"), str) and err["message"], body
    inner = (err.get("innererror") or {}).get("code")
    return err["code"], inner, err["message"]

"""HSM keys (RSA-HSM, EC-HSM, oct-HSM) through the official Python SDK, against a Coffer started
with a SoftHSM token (tests/sdk/run_python.sh passes the token when COFFER_SDK_HSM is set).

Every result is checked with Python `cryptography`, independently of the token: signatures with
the public key rebuilt from the JWK, and what `cryptography` encrypts with that public key is
decrypted by the token. What SoftHSM 2.6.1 cannot do (RSA-OAEP-256) must be a clear 400.
"""

import hashlib
import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys.crypto import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from keys_support import error_of, key_client, public_key_of, remote_client  # noqa: F401

if os.environ.get("COFFER_SDK_HSM") != "1":
    if os.environ.get("COFFER_SKIP_HSM_TESTS") == "1":
        pytest.skip("COFFER_SKIP_HSM_TESTS=1: the HSM suite is skipped", allow_module_level=True)
    raise RuntimeError(
        "The HSM suite needs a Coffer started with a PKCS#11 token: run it through "
        "tests/sdk/run_python.sh (which prepares SoftHSM), or set COFFER_SKIP_HSM_TESTS=1."
    )


def test_rsa_hsm_signs_and_decrypts_in_the_token(key_client, remote_client, unique_name):
    key = key_client.create_rsa_key(unique_name(), size=2048, hardware_protected=True)
    assert key.key_type == "RSA-HSM"
    public = public_key_of(key.key)
    crypto = remote_client(key)
    digest = hashlib.sha256(b"coffer").digest()
    sig = crypto.sign(SignatureAlgorithm.rs256, digest).signature
    public.verify(sig, digest, rsa_padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    sig = crypto.sign(SignatureAlgorithm.ps256, digest).signature
    pss = rsa_padding.PSS(mgf=rsa_padding.MGF1(hashes.SHA256()), salt_length=32)
    public.verify(sig, digest, pss, Prehashed(hashes.SHA256()))
    assert crypto.verify(SignatureAlgorithm.ps256, digest, sig).is_valid

    oaep = rsa_padding.OAEP(mgf=rsa_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    ct = public.encrypt(b"from cryptography", oaep)
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep, ct).plaintext == b"from cryptography"
    ct = public.encrypt(b"pkcs1", rsa_padding.PKCS1v15())
    assert crypto.decrypt(EncryptionAlgorithm.rsa1_5, ct).plaintext == b"pkcs1"
    cek = os.urandom(32)
    wrapped = public.encrypt(cek, oaep)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped).key == cek


def test_rsa_oaep_256_is_a_clear_400_on_softhsm(key_client, remote_client, unique_name):
    key = key_client.create_rsa_key(unique_name(), size=2048, hardware_protected=True)
    public = public_key_of(key.key)
    oaep256 = rsa_padding.OAEP(
        mgf=rsa_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    )
    ct = public.encrypt(b"x", oaep256)
    with pytest.raises(HttpResponseError) as e:
        remote_client(key).decrypt(EncryptionAlgorithm.rsa_oaep_256, ct)
    code, _, message = error_of(e, 400)
    assert code == "BadParameter"
    assert "RSA-OAEP-256" in message and "PKCS#11" in message, message


@pytest.mark.parametrize(
    "crv,alg,hash_",
    [
        ("P-256", SignatureAlgorithm.es256, hashlib.sha256),
        ("P-384", SignatureAlgorithm.es384, hashlib.sha384),
        ("P-256K", SignatureAlgorithm.es256_k, hashlib.sha256),
    ],
)
def test_ec_hsm_signatures_verify_with_cryptography(
    key_client, remote_client, unique_name, crv, alg, hash_
):
    key = key_client.create_ec_key(unique_name(), curve=crv, hardware_protected=True)
    assert key.key_type == "EC-HSM" and key.key.crv == crv
    digest = hash_(b"coffer").digest()
    raw = remote_client(key).sign(alg, digest).signature
    n = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:n], "big"), int.from_bytes(raw[n:], "big"))
    algo = {hashlib.sha256: hashes.SHA256(), hashlib.sha384: hashes.SHA384()}[hash_]
    public_key_of(key.key).verify(der, digest, ec.ECDSA(Prehashed(algo)))


def test_oct_hsm_encrypts_and_wraps_in_the_token(key_client, remote_client, unique_name):
    key = key_client.create_oct_key(unique_name(), size=256, hardware_protected=True)
    assert key.key_type == "oct-HSM"
    crypto = remote_client(key)
    enc = crypto.encrypt(EncryptionAlgorithm.a256_gcm, b"secret", additional_authenticated_data=b"ad")
    assert len(enc.iv) == 12 and len(enc.tag) == 16
    dec = crypto.decrypt(
        EncryptionAlgorithm.a256_gcm,
        enc.ciphertext,
        iv=enc.iv,
        authentication_tag=enc.tag,
        additional_authenticated_data=b"ad",
    )
    assert dec.plaintext == b"secret"
    iv = os.urandom(16)
    enc = crypto.encrypt(EncryptionAlgorithm.a256_cbcpad, b"padded text", iv=iv)
    assert crypto.decrypt(EncryptionAlgorithm.a256_cbcpad, enc.ciphertext, iv=iv).plaintext == b"padded text"
    cek = os.urandom(32)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.aes_256, cek).encrypted_key
    assert crypto.unwrap_key(KeyWrapAlgorithm.aes_256, wrapped).key == cek


def test_hsm_keys_cannot_be_backed_up_but_delete_and_purge(key_client, unique_name):
    name = unique_name()
    key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    with pytest.raises(HttpResponseError) as e:
        key_client.backup_key(name)
    code, _, message = error_of(e, 400)
    assert code == "BadParameter" and "HSM" in message, message
    key_client.begin_delete_key(name).wait()
    key_client.purge_deleted_key(name)
    with pytest.raises(ResourceNotFoundError):
        key_client.get_deleted_key(name)

"""Conformance of Coffer's key operations with the official Azure SDK for Python:
`CryptographyClient`, remote (every call reaches Coffer) and as the SDK does it by default (public
operations done locally from the JWK). Each result is checked with Python `cryptography`:
signatures are verified with the public key rebuilt from the JWK, ciphertexts are decrypted with
the private half of a key the test made and imported, and what `cryptography` encrypts or signs
is decrypted or verified by Coffer.
"""

import hashlib
import os
from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import JsonWebKey
from azure.keyvault.keys.crypto import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from keys_support import (  # noqa: F401 (fixtures)
    COORDINATE_LEN,
    CURVES,
    ec_jwk,
    error_of,
    key_client,
    local_client,
    now,
    public_key_of,
    remote_client,
    rsa_jwk,
)

HASHES = {256: hashes.SHA256, 384: hashes.SHA384, 512: hashes.SHA512}
EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "P-256K": "ES256K"}
EC_HASH = {"P-256": 256, "P-384": 384, "P-521": 512, "P-256K": 256}


def digest_of(data, bits):
    return hashlib.new(f"sha{bits}", data).digest()


def rsa_cipher_padding(alg):
    if alg == "RSA1_5":
        return rsa_padding.PKCS1v15()
    h = hashes.SHA1() if alg == "RSA-OAEP" else hashes.SHA256()
    return rsa_padding.OAEP(mgf=rsa_padding.MGF1(h), algorithm=h, label=None)


def rsa_signature_padding(alg, bits):
    if alg.startswith("RS"):
        return rsa_padding.PKCS1v15()
    # Key Vault's PSS salt is as long as the digest.
    return rsa_padding.PSS(mgf=rsa_padding.MGF1(HASHES[bits]()), salt_length=bits // 8)


@pytest.fixture(scope="module")
def rsa_key(key_client, run_id):
    """An RSA-2048 key made here and imported, so its private half is known."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = key_client.import_key(f"{run_id}-crypto-rsa", rsa_jwk(private))
    return key, private


@pytest.fixture(scope="module")
def oct_keys(key_client, run_id):
    """Imported AES keys of 128, 192 and 256 bits: {bits: (KeyVaultKey, raw key)}."""
    out = {}
    for bits in (128, 192, 256):
        raw = os.urandom(bits // 8)
        out[bits] = (key_client.import_key(f"{run_id}-crypto-oct{bits}", JsonWebKey(kty="oct", k=raw)), raw)
    return out


@pytest.fixture(scope="module")
def ec_keys(key_client, run_id):
    """Generated EC keys, one per curve."""
    return {crv: key_client.create_ec_key(f"{run_id}-crypto-{crv.lower()}", curve=crv) for crv in CURVES}


# ---- RSA encrypt / decrypt / wrap / unwrap ----------------------------------------------------


@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256"])
def test_rsa_encrypt_decrypt(rsa_key, remote_client, local_client, alg):
    key, private = rsa_key
    remote = remote_client(key)
    plaintext = os.urandom(32)
    enc = remote.encrypt(EncryptionAlgorithm(alg), plaintext)
    assert enc.key_id == key.id and len(enc.ciphertext) == 256
    assert private.decrypt(enc.ciphertext, rsa_cipher_padding(alg)) == plaintext
    assert remote.decrypt(EncryptionAlgorithm(alg), enc.ciphertext).plaintext == plaintext
    # What `cryptography` encrypts with the JWK's public key, Coffer decrypts.
    theirs = public_key_of(key.key).encrypt(plaintext, rsa_cipher_padding(alg))
    dec = remote.decrypt(EncryptionAlgorithm(alg), theirs)
    assert dec.plaintext == plaintext and dec.key_id == key.id
    # The SDK's own local encryption (from the JWK) decrypts in Coffer too.
    local = local_client(key)
    mine = local.encrypt(EncryptionAlgorithm(alg), plaintext)
    assert mine.key_id == key.id
    assert local.decrypt(EncryptionAlgorithm(alg), mine.ciphertext).plaintext == plaintext


@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256"])
def test_rsa_wrap_unwrap(rsa_key, remote_client, local_client, alg):
    key, private = rsa_key
    remote = remote_client(key)
    cek = os.urandom(32)
    wrapped = remote.wrap_key(KeyWrapAlgorithm(alg), cek)
    assert wrapped.key_id == key.id
    assert private.decrypt(wrapped.encrypted_key, rsa_cipher_padding(alg)) == cek
    assert remote.unwrap_key(KeyWrapAlgorithm(alg), wrapped.encrypted_key).key == cek
    local = local_client(key).wrap_key(KeyWrapAlgorithm(alg), cek)
    assert remote.unwrap_key(KeyWrapAlgorithm(alg), local.encrypted_key).key == cek


def test_rsa_plaintext_too_long_and_garbage_ciphertext(rsa_key, remote_client):
    key, _ = rsa_key
    remote = remote_client(key)
    for alg, limit in (("RSA1_5", 245), ("RSA-OAEP", 214), ("RSA-OAEP-256", 190)):
        assert remote.encrypt(EncryptionAlgorithm(alg), os.urandom(limit)).ciphertext
        with pytest.raises(HttpResponseError) as e:
            remote.encrypt(EncryptionAlgorithm(alg), os.urandom(limit + 1))
        error_of(e, 400)
        with pytest.raises(HttpResponseError) as e:
            remote.decrypt(EncryptionAlgorithm(alg), os.urandom(256))
        error_of(e, 400)


# ---- AES ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_aes_gcm_with_aad(oct_keys, remote_client, bits):
    key, raw = oct_keys[bits]
    remote = remote_client(key)
    alg = EncryptionAlgorithm(f"A{bits}GCM")
    plaintext, aad = b"gcm plaintext \x00\xff" * 5, b"header"
    enc = remote.encrypt(alg, plaintext, additional_authenticated_data=aad)
    assert len(enc.iv) == 12 and len(enc.tag) == 16 and enc.key_id == key.id
    assert AESGCM(raw).decrypt(enc.iv, enc.ciphertext + enc.tag, aad) == plaintext
    dec = remote.decrypt(alg, enc.ciphertext, iv=enc.iv, authentication_tag=enc.tag, additional_authenticated_data=aad)
    assert dec.plaintext == plaintext
    # `cryptography` encrypts, Coffer decrypts; a changed aad or tag fails.
    iv = os.urandom(12)
    sealed = AESGCM(raw).encrypt(iv, plaintext, aad)
    ct, tag = sealed[:-16], sealed[-16:]
    got = remote.decrypt(alg, ct, iv=iv, authentication_tag=tag, additional_authenticated_data=aad)
    assert got.plaintext == plaintext
    for bad in ({"additional_authenticated_data": b"other"}, {"authentication_tag": bytes(16)}):
        kwargs = {"iv": iv, "authentication_tag": tag, "additional_authenticated_data": aad, **bad}
        with pytest.raises(HttpResponseError) as e:
            remote.decrypt(alg, ct, **kwargs)
        error_of(e, 400)
    # Without aad.
    enc = remote.encrypt(alg, plaintext)
    assert AESGCM(raw).decrypt(enc.iv, enc.ciphertext + enc.tag, None) == plaintext


@pytest.mark.parametrize("bits", [128, 192, 256])
@pytest.mark.parametrize("pad", [False, True])
def test_aes_cbc(oct_keys, remote_client, bits, pad):
    key, raw = oct_keys[bits]
    remote = remote_client(key)
    alg = EncryptionAlgorithm(f"A{bits}CBC{'PAD' if pad else ''}")
    iv = os.urandom(16)
    plaintext = os.urandom(37) if pad else os.urandom(48)
    enc = remote.encrypt(alg, plaintext, iv=iv)
    assert enc.iv == iv
    decryptor = Cipher(algorithms.AES(raw), modes.CBC(iv)).decryptor()
    out = decryptor.update(enc.ciphertext) + decryptor.finalize()
    if pad:
        assert len(enc.ciphertext) == 48
        unpadder = padding.PKCS7(128).unpadder()
        out = unpadder.update(out) + unpadder.finalize()
    assert out == plaintext
    assert remote.decrypt(alg, enc.ciphertext, iv=iv).plaintext == plaintext
    # `cryptography` encrypts, Coffer decrypts.
    data = plaintext
    if pad:
        padder = padding.PKCS7(128).padder()
        data = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor()
    theirs = encryptor.update(data) + encryptor.finalize()
    assert remote.decrypt(alg, theirs, iv=iv).plaintext == plaintext
    if not pad:
        with pytest.raises(HttpResponseError) as e:
            remote.encrypt(alg, os.urandom(37), iv=iv)
        error_of(e, 400)


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_aes_key_wrap(oct_keys, remote_client, bits):
    key, raw = oct_keys[bits]
    remote = remote_client(key)
    alg = KeyWrapAlgorithm(f"A{bits}KW")
    cek = os.urandom(32)
    wrapped = remote.wrap_key(alg, cek)
    assert len(wrapped.encrypted_key) == 40 and wrapped.key_id == key.id
    assert aes_key_unwrap(raw, wrapped.encrypted_key) == cek
    assert remote.unwrap_key(alg, wrapped.encrypted_key).key == cek
    assert remote.unwrap_key(alg, aes_key_wrap(raw, cek)).key == cek
    with pytest.raises(HttpResponseError) as e:
        remote.unwrap_key(alg, bytes(40))
    error_of(e, 400)


def test_aes_algorithm_must_match_key_size(oct_keys, remote_client):
    key, _ = oct_keys[128]
    remote = remote_client(key)
    for call in (
        lambda: remote.encrypt(EncryptionAlgorithm.a256_gcm, b"x"),
        lambda: remote.wrap_key(KeyWrapAlgorithm.aes_256, bytes(16)),
        lambda: remote.encrypt(EncryptionAlgorithm.rsa_oaep, b"x"),
        lambda: remote.sign(SignatureAlgorithm.rs256, bytes(32)),
    ):
        with pytest.raises(HttpResponseError) as e:
            call()
        assert error_of(e, 400)[0] == "BadParameter"


# ---- sign / verify -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["RS", "PS"])
@pytest.mark.parametrize("bits", [256, 384, 512])
def test_rsa_sign_verify(key_client, rsa_key, remote_client, local_client, kind, bits):
    key, private = rsa_key
    alg = SignatureAlgorithm(f"{kind}{bits}")
    digest = digest_of(b"message for " + alg.encode(), bits)
    remote = remote_client(key)
    signed = remote.sign(alg, digest)
    assert signed.key_id == key.id and len(signed.signature) == 256
    pad = rsa_signature_padding(alg, bits)
    public_key_of(key.key).verify(signed.signature, digest, pad, Prehashed(HASHES[bits]()))
    assert remote.verify(alg, digest, signed.signature).is_valid
    assert not remote.verify(alg, digest_of(b"other", bits), signed.signature).is_valid
    # `cryptography` signs with the private half; Coffer and the SDK (locally) verify.
    theirs = private.sign(digest, pad, Prehashed(HASHES[bits]()))
    assert remote.verify(alg, digest, theirs).is_valid
    assert local_client(key).verify(alg, digest, theirs).is_valid
    # A generated key signs as well.
    fresh = key_client.create_rsa_key(f"{key.name}-{kind}{bits}", size=3072 if bits == 512 else 2048)
    sig = remote_client(fresh).sign(alg, digest).signature
    public_key_of(fresh.key).verify(sig, digest, rsa_signature_padding(alg, bits), Prehashed(HASHES[bits]()))


@pytest.mark.parametrize("crv", ["P-256", "P-384", "P-521", "P-256K"])
def test_ec_sign_verify(ec_keys, remote_client, local_client, crv):
    key = ec_keys[crv]
    alg = SignatureAlgorithm(EC_ALGS[crv])
    bits = EC_HASH[crv]
    digest = digest_of(b"ec message", bits)
    remote = remote_client(key)
    signed = remote.sign(alg, digest)
    n = COORDINATE_LEN[crv]
    assert len(signed.signature) == 2 * n, "EC signatures are r||s of fixed length"
    r, s = int.from_bytes(signed.signature[:n], "big"), int.from_bytes(signed.signature[n:], "big")
    public = public_key_of(key.key)
    public.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(HASHES[bits]())))
    assert remote.verify(alg, digest, signed.signature).is_valid
    assert local_client(key).verify(alg, digest, signed.signature).is_valid
    tampered = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    assert not remote.verify(alg, digest, tampered).is_valid
    with pytest.raises(InvalidSignature):
        public.verify(
            encode_dss_signature(int.from_bytes(tampered[:n], "big"), s),
            digest,
            ec.ECDSA(Prehashed(HASHES[bits]())),
        )


@pytest.mark.parametrize("crv", ["P-256", "P-521", "P-256K"])
def test_imported_ec_key_verifies_cryptography_signatures(key_client, remote_client, unique_name, crv):
    private = ec.generate_private_key(CURVES[crv])
    key = key_client.import_key(unique_name(), ec_jwk(private, crv))
    bits = EC_HASH[crv]
    digest = digest_of(b"signed outside", bits)
    der = private.sign(digest, ec.ECDSA(Prehashed(HASHES[bits]())))
    r, s = decode_dss_signature(der)
    n = COORDINATE_LEN[crv]
    raw = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    remote = remote_client(key)
    assert remote.verify(SignatureAlgorithm(EC_ALGS[crv]), digest, raw).is_valid
    sig = remote.sign(SignatureAlgorithm(EC_ALGS[crv]), digest).signature
    private.public_key().verify(
        encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")),
        digest,
        ec.ECDSA(Prehashed(HASHES[bits]())),
    )


def test_wrong_digest_length_and_algorithm(rsa_key, ec_keys, remote_client):
    rsa_remote = remote_client(rsa_key[0])
    ec_remote = remote_client(ec_keys["P-256"])
    for call in (
        lambda: rsa_remote.sign(SignatureAlgorithm.rs256, bytes(20)),
        lambda: rsa_remote.sign(SignatureAlgorithm.ps512, bytes(32)),
        lambda: ec_remote.sign(SignatureAlgorithm.es256, bytes(48)),
        lambda: rsa_remote.verify(SignatureAlgorithm.rs384, bytes(32), bytes(256)),
        lambda: rsa_remote.sign(SignatureAlgorithm.es256, bytes(32)),
        lambda: ec_remote.sign(SignatureAlgorithm.es384, bytes(48)),
        lambda: ec_remote.sign(SignatureAlgorithm.rs256, bytes(32)),
        lambda: ec_remote.encrypt(EncryptionAlgorithm.rsa_oaep, b"x"),
        lambda: ec_remote.wrap_key(KeyWrapAlgorithm.aes_128, bytes(16)),
        lambda: rsa_remote.encrypt(EncryptionAlgorithm.a128_gcm, b"x"),
        lambda: rsa_remote.sign("RS1024", bytes(32)),
        lambda: rsa_remote.encrypt("ROT13", b"x"),
    ):
        with pytest.raises(HttpResponseError) as e:
            call()
        assert error_of(e, 400)[0] == "BadParameter"


# ---- key_ops, enabled, nbf / exp ---------------------------------------------------------------


def test_key_ops_are_enforced(key_client, remote_client, unique_name):
    key = key_client.create_rsa_key(unique_name(), key_operations=["sign", "verify"])
    remote = remote_client(key)
    sig = remote.sign(SignatureAlgorithm.rs256, bytes(32)).signature
    assert remote.verify(SignatureAlgorithm.rs256, bytes(32), sig).is_valid
    for call in (
        lambda: remote.encrypt(EncryptionAlgorithm.rsa_oaep, b"x"),
        lambda: remote.decrypt(EncryptionAlgorithm.rsa_oaep, bytes(256)),
        lambda: remote.wrap_key(KeyWrapAlgorithm.rsa_oaep, bytes(32)),
        lambda: remote.unwrap_key(KeyWrapAlgorithm.rsa_oaep, bytes(256)),
    ):
        with pytest.raises(HttpResponseError) as e:
            call()
        code, inner, message = error_of(e, 403)
        assert code == "Forbidden", (code, inner, message)
    enc_only = key_client.create_rsa_key(unique_name(), key_operations=["encrypt"])
    with pytest.raises(HttpResponseError) as e:
        remote_client(enc_only).sign(SignatureAlgorithm.rs256, bytes(32))
    assert error_of(e, 403)[0] == "Forbidden"
    # An update changes what the key may do.
    key_client.update_key_properties(enc_only.name, key_operations=["sign"])
    assert remote_client(enc_only.id).sign(SignatureAlgorithm.rs256, bytes(32)).signature


def test_disabled_key(key_client, remote_client, unique_name):
    key = key_client.create_rsa_key(unique_name())
    remote = remote_client(key)
    ct = remote.encrypt(EncryptionAlgorithm.rsa_oaep, b"secret").ciphertext
    sig = remote.sign(SignatureAlgorithm.rs256, bytes(32)).signature
    key_client.update_key_properties(key.name, enabled=False)
    for call in (
        lambda: remote.decrypt(EncryptionAlgorithm.rsa_oaep, ct),
        lambda: remote.sign(SignatureAlgorithm.rs256, bytes(32)),
        lambda: remote.unwrap_key(KeyWrapAlgorithm.rsa_oaep, ct),
    ):
        with pytest.raises(HttpResponseError) as e:
            call()
        code, inner, message = error_of(e, 403)
        assert (code, inner) == ("Forbidden", "KeyDisabled"), message
        assert "disabled" in message
    # Public-key operations of a disabled RSA key still work, as on live Key Vault.
    assert remote.encrypt(EncryptionAlgorithm.rsa_oaep, b"more").ciphertext
    assert remote.wrap_key(KeyWrapAlgorithm.rsa_oaep, bytes(32)).encrypted_key
    assert remote.verify(SignatureAlgorithm.rs256, bytes(32), sig).is_valid
    # A disabled AES key neither encrypts nor wraps: those are private operations for it.
    aes = key_client.import_key(unique_name("aes"), JsonWebKey(kty="oct", k=os.urandom(16)), enabled=False)
    for call in (
        lambda: remote_client(aes).encrypt(EncryptionAlgorithm.a128_gcm, b"x"),
        lambda: remote_client(aes).wrap_key(KeyWrapAlgorithm.aes_128, bytes(16)),
    ):
        with pytest.raises(HttpResponseError) as e:
            call()
        assert error_of(e, 403)[:2] == ("Forbidden", "KeyDisabled")
    # Reading the key still works; enabling it again restores every operation.
    assert key_client.get_key(key.name).properties.enabled is False
    key_client.update_key_properties(key.name, enabled=True)
    assert remote.decrypt(EncryptionAlgorithm.rsa_oaep, ct).plaintext == b"secret"
    assert remote.verify(SignatureAlgorithm.rs256, bytes(32), sig).is_valid


def test_expired_key_verifies_and_decrypts_but_does_not_sign(key_client, remote_client, unique_name):
    key = key_client.create_rsa_key(unique_name())
    remote = remote_client(key)
    ct = remote.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"old data").ciphertext
    wrapped = remote.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, bytes(32)).encrypted_key
    digest = bytes(range(32))
    sig = remote.sign(SignatureAlgorithm.ps256, digest).signature
    key_client.update_key_properties(key.name, expires_on=now() - timedelta(minutes=1))
    for call in (
        lambda: remote.sign(SignatureAlgorithm.ps256, digest),
        lambda: remote.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"new data"),
        lambda: remote.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, bytes(32)),
    ):
        with pytest.raises(HttpResponseError) as e:
            call()
        code, inner, message = error_of(e, 403)
        assert code == "Forbidden" and "expired" in message, (code, inner, message)
    assert remote.verify(SignatureAlgorithm.ps256, digest, sig).is_valid
    assert remote.decrypt(EncryptionAlgorithm.rsa_oaep_256, ct).plaintext == b"old data"
    assert remote.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == bytes(32)


def test_not_yet_valid_key(key_client, remote_client, local_client, unique_name):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = key_client.import_key(unique_name(), rsa_jwk(private), not_before=now() + timedelta(days=1))
    remote = remote_client(key)
    with pytest.raises(HttpResponseError) as e:
        remote.sign(SignatureAlgorithm.rs256, bytes(32))
    code, _, message = error_of(e, 403)
    assert code == "Forbidden" and "not yet valid" in message, message
    with pytest.raises(HttpResponseError) as e:
        remote.encrypt(EncryptionAlgorithm.rsa_oaep, b"x")
    error_of(e, 403)
    # Data made before the window (here, outside Coffer) stays readable and checkable.
    ct = private.public_key().encrypt(b"early", rsa_cipher_padding("RSA-OAEP"))
    assert remote.decrypt(EncryptionAlgorithm.rsa_oaep, ct).plaintext == b"early"
    sig = private.sign(bytes(32), rsa_padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert remote.verify(SignatureAlgorithm.rs256, bytes(32), sig).is_valid
    # The SDK's local path refuses it too, from the key's attributes.
    with pytest.raises(ValueError):
        local_client(key_client.get_key(key.name)).encrypt(EncryptionAlgorithm.rsa_oaep, b"x")

"""Conformance of Coffer's certificates data plane with the official Azure SDK for Python.

azure-keyvault-certificates is used unmodified; certificates, CAs and PFX files the tests need
are made locally with `cryptography`, and every issued certificate is checked by parsing it.
"""

from datetime import datetime, timedelta, timezone

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import (
    AdministratorContact,
    CertificateClient,
    CertificateContact,
    CertificateContentType,
    CertificatePolicy,
    WellKnownIssuerNames,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

POLL = {"_polling_interval": 0.2}


# ---- helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(contract, credential):
    c = CertificateClient(contract.vault_url, credential)
    yield c
    c.close()


def make_name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(key, subject, issuer=None, issuer_key=None, ca=False, sans=()):
    """A certificate for `key`, self-signed unless an issuer name and key are given."""
    now = datetime.now(timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in sans]), False)
    return b.sign(issuer_key or key, hashes.SHA256())


def pfx_of(key, cert, password=None, cas=None):
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"t", key, cert, cas, enc)


def pem_of(key, cert):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)


def public_der(obj):
    return obj.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def secret_pfx(client, name, version=None):
    """The managed secret's value (base64 PFX), parsed with the empty password."""
    import base64

    s = client.get_secret(name, version)
    assert s.properties.content_type == "application/x-pkcs12", s.properties.content_type
    assert s.properties.managed is True
    return pkcs12.load_key_and_certificates(base64.b64decode(s.value), None)


def create_self(certs, name, policy=None):
    policy = policy or CertificatePolicy(
        issuer_name=WellKnownIssuerNames.self,
        subject="CN=cert.example.test",
        san_dns_names=["cert.example.test", "alt.example.test"],
        validity_in_months=12,
    )
    poller = certs.begin_create_certificate(name, policy, **POLL)
    cert = poller.result(timeout=60)
    assert poller.done()
    return cert


def delete_wait(certs, name):
    poller = certs.begin_delete_certificate(name, **POLL)
    poller.wait(timeout=30)
    assert poller.done()
    return poller.result()


# ---- create / get / managed secret -------------------------------------------------------------


def test_create_self_signed_and_managed_secret(certs, client, unique_name):
    name = unique_name("self")
    cert = create_self(certs, name)
    assert cert.name == name
    assert cert.cer
    parsed = x509.load_der_x509_certificate(bytes(cert.cer))
    assert parsed.subject.rfc4514_string() == "CN=cert.example.test"
    sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == [
        "alt.example.test",
        "cert.example.test",
    ]
    assert cert.properties.x509_thumbprint == parsed.fingerprint(hashes.SHA1())
    assert cert.key_id and cert.secret_id
    assert f"/keys/{name}/" in cert.key_id and f"/secrets/{name}/" in cert.secret_id

    got = certs.get_certificate(name)
    assert got.id == cert.id and bytes(got.cer) == bytes(cert.cer)
    assert got.policy is not None and got.policy.issuer_name == "Self"
    by_version = certs.get_certificate_version(name, cert.properties.version)
    assert bytes(by_version.cer) == bytes(cert.cer)

    key, leaf, extra = secret_pfx(client, name)
    assert key is not None and leaf is not None
    assert leaf.public_bytes(serialization.Encoding.DER) == bytes(cert.cer)
    assert public_der(key) == public_der(leaf)
    assert not extra


def test_pem_content_type_secret(certs, client, unique_name):
    name = unique_name("pem")
    policy = CertificatePolicy(
        issuer_name=WellKnownIssuerNames.self,
        subject="CN=pem.example.test",
        content_type=CertificateContentType.pem,
        key_type="EC",
        key_curve_name="P-256",
        validity_in_months=3,
    )
    cert = create_self(certs, name, policy)
    s = client.get_secret(name)
    assert s.properties.content_type == "application/x-pem-file"
    key = serialization.load_pem_private_key(s.value.encode(), None)
    leaf = x509.load_pem_x509_certificate(s.value.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert public_der(key) == public_der(leaf)
    assert leaf.public_bytes(serialization.Encoding.DER) == bytes(cert.cer)


def test_create_without_policy_is_rejected(contract, unique_name):
    # The SDK cannot even send a create without a policy, so this one speaks raw HTTP.
    name = unique_name("nopol")
    base = f"{contract.vault_url}/certificates/{name}"
    headers = {"Authorization": f"Bearer {contract.token()}"}
    r = requests.post(
        f"{base}/create?api-version=7.6", json={}, headers=headers, verify=contract.ca_cert
    )
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["error"]["code"]
    r = requests.get(f"{base}?api-version=7.6", headers=headers, verify=contract.ca_cert)
    assert r.status_code == 404, (r.status_code, r.text)


# ---- import --------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [b"s3cret-pw", None])
def test_import_pfx(certs, client, unique_name, password):
    name = unique_name("pfx")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = make_cert(key, make_name("import.example.test"), sans=["import.example.test"])
    data = pfx_of(key, leaf, password)
    imported = certs.import_certificate(
        name, data, password=password.decode() if password else None, tags={"t": "1"}
    )
    assert bytes(imported.cer) == leaf.public_bytes(serialization.Encoding.DER)
    assert imported.properties.tags == {"t": "1"}
    k, c, _ = secret_pfx(client, name)
    assert public_der(k) == public_der(leaf)
    assert c.public_bytes(serialization.Encoding.DER) == bytes(imported.cer)


def test_import_pem(certs, client, unique_name):
    name = unique_name("ipem")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(key, make_name("ipem.example.test"))
    imported = certs.import_certificate(
        name,
        pem_of(key, leaf),
        policy=CertificatePolicy(
            issuer_name="Unknown", content_type=CertificateContentType.pem
        ),
    )
    assert bytes(imported.cer) == leaf.public_bytes(serialization.Encoding.DER)
    s = client.get_secret(name)
    assert s.properties.content_type == "application/x-pem-file"
    assert public_der(serialization.load_pem_private_key(s.value.encode(), None)) == public_der(
        leaf
    )


def test_import_wrong_password_is_400(certs, unique_name):
    name = unique_name("badpw")
    key = ec.generate_private_key(ec.SECP256R1())
    data = pfx_of(key, make_cert(key, make_name("x.test")), b"right")
    with pytest.raises(HttpResponseError) as e:
        certs.import_certificate(name, data, password="wrong")
    assert e.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        certs.get_certificate(name)


def test_import_garbage_pfx_is_400(certs, unique_name):
    name = unique_name("garbage")
    with pytest.raises(HttpResponseError) as e:
        certs.import_certificate(name, b"\x30\x82\x01\x00not a pfx at all")
    assert e.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        certs.get_certificate(name)


# ---- CSR flow -----------------------------------------------------------------------------------


def make_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    return key, make_cert(key, make_name("Test CA"), ca=True)


def sign_csr(csr_der, ca_key, ca_cert, public_key=None):
    csr = x509.load_der_x509_csr(bytes(csr_der))
    assert csr.is_signature_valid
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key or csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )


def unknown_policy(cn):
    return CertificatePolicy(issuer_name=WellKnownIssuerNames.unknown, subject=f"CN={cn}")


def test_csr_merge_flow(certs, client, unique_name):
    name = unique_name("csr")
    poller = certs.begin_create_certificate(name, unknown_policy("csr.example.test"), **POLL)
    op = certs.get_certificate_operation(name)
    assert op.status == "inProgress"
    assert op.csr
    csr = x509.load_der_x509_csr(bytes(op.csr))
    assert csr.subject.rfc4514_string() == "CN=csr.example.test"
    ca_key, ca_cert = make_ca()
    leaf = sign_csr(op.csr, ca_key, ca_cert)
    der = serialization.Encoding.DER
    merged = certs.merge_certificate(
        name, [leaf.public_bytes(der), ca_cert.public_bytes(der)]
    )
    assert bytes(merged.cer) == leaf.public_bytes(der)
    # For the Unknown issuer the SDK's poller ends at once with the operation itself.
    assert poller.done()
    assert bytes(certs.get_certificate(name).cer) == leaf.public_bytes(der)
    assert certs.get_certificate_operation(name).status == "completed"
    key, c, chain = secret_pfx(client, name)
    assert c.public_bytes(der) == leaf.public_bytes(der)
    assert public_der(key) == public_der(leaf)
    assert [x.public_bytes(der) for x in chain] == [ca_cert.public_bytes(der)]


def test_merge_with_foreign_key_is_400(certs, unique_name):
    name = unique_name("mism")
    certs.begin_create_certificate(name, unknown_policy("m.example.test"), **POLL)
    op = certs.get_certificate_operation(name)
    ca_key, ca_cert = make_ca()
    other = ec.generate_private_key(ec.SECP256R1())
    bad = sign_csr(op.csr, ca_key, ca_cert, public_key=other.public_key())
    with pytest.raises(HttpResponseError) as e:
        certs.merge_certificate(name, [bad.public_bytes(serialization.Encoding.DER)])
    assert e.value.status_code == 400
    assert certs.get_certificate_operation(name).status == "inProgress"
    certs.delete_certificate_operation(name)


def test_cancel_and_delete_pending_operation(certs, unique_name):
    name = unique_name("cancel")
    certs.begin_create_certificate(name, unknown_policy("c.example.test"), **POLL)
    op = certs.cancel_certificate_operation(name)
    assert op.cancellation_requested is True
    deleted = certs.delete_certificate_operation(name)
    assert deleted.name == name or deleted.id
    with pytest.raises(ResourceNotFoundError):
        certs.get_certificate_operation(name)


# ---- versions, properties, policy ---------------------------------------------------------------


def test_versions_update_and_policy(certs, unique_name):
    name = unique_name("ver")
    first = create_self(certs, name)
    second = create_self(certs, name)
    assert first.properties.version != second.properties.version
    versions = {p.version for p in certs.list_properties_of_certificate_versions(name)}
    assert versions == {first.properties.version, second.properties.version}
    assert name in {p.name for p in certs.list_properties_of_certificates()}

    updated = certs.update_certificate_properties(
        name, first.properties.version, enabled=False, tags={"a": "b"}
    )
    assert updated.properties.enabled is False
    assert updated.properties.tags == {"a": "b"}
    assert certs.get_certificate(name).properties.version == second.properties.version

    policy = certs.get_certificate_policy(name)
    assert policy.subject == "CN=cert.example.test"
    policy_update = CertificatePolicy(
        issuer_name=WellKnownIssuerNames.self, subject="CN=new.example.test", validity_in_months=6
    )
    new_policy = certs.update_certificate_policy(name, policy_update)
    assert new_policy.subject == "CN=new.example.test"
    assert new_policy.validity_in_months == 6
    assert certs.get_certificate_policy(name).subject == "CN=new.example.test"


# ---- lifecycle ----------------------------------------------------------------------------------


def test_delete_recover_purge(certs, client, unique_name):
    name = unique_name("life")
    create_self(certs, name)
    deleted = delete_wait(certs, name)
    assert deleted.name == name and deleted.recovery_id
    assert certs.get_deleted_certificate(name).name == name
    assert name in {d.name for d in certs.list_deleted_certificates()}
    with pytest.raises(ResourceNotFoundError):
        certs.get_certificate(name)

    poller = certs.begin_recover_deleted_certificate(name, **POLL)
    poller.wait(timeout=30)
    assert poller.done()
    recovered = poller.result()
    assert recovered.name == name
    assert certs.get_certificate(name).name == name
    assert client.get_secret(name).value

    delete_wait(certs, name)
    certs.purge_deleted_certificate(name)
    with pytest.raises(ResourceNotFoundError):
        certs.get_deleted_certificate(name)


def test_backup_restore(certs, unique_name):
    name = unique_name("bak")
    cert = create_self(certs, name)
    blob = certs.backup_certificate(name)
    assert isinstance(blob, bytes) and blob
    delete_wait(certs, name)
    certs.purge_deleted_certificate(name)
    restored = certs.restore_certificate_backup(blob)
    assert restored.name == name
    assert bytes(restored.cer) == bytes(cert.cer)


# ---- contacts and issuers -----------------------------------------------------------------------


def test_contacts(certs):
    contacts = [
        CertificateContact(email="a@example.test", name="A", phone="1"),
        CertificateContact(email="b@example.test"),
    ]
    set_ = certs.set_contacts(contacts)
    assert {c.email for c in set_} == {"a@example.test", "b@example.test"}
    got = certs.get_contacts()
    assert {c.email for c in got} == {"a@example.test", "b@example.test"}
    certs.delete_contacts()
    with pytest.raises(ResourceNotFoundError):
        certs.get_contacts()


def test_issuers(certs, unique_name):
    name = unique_name("iss")[:60]
    admin = AdministratorContact(first_name="F", last_name="L", email="f@example.test", phone="2")
    created = certs.create_issuer(
        name,
        "Test",
        account_id="acct",
        password="pw",
        organization_id="org",
        admin_contacts=[admin],
    )
    assert created.name == name and created.provider == "Test"
    assert created.account_id == "acct"
    got = certs.get_issuer(name)
    assert got.organization_id == "org"
    assert got.admin_contacts[0].email == "f@example.test"
    assert name in {i.name for i in certs.list_properties_of_issuers()}
    updated = certs.update_issuer(name, account_id="acct2", enabled=False)
    assert updated.account_id == "acct2" and updated.enabled is False
    certs.delete_issuer(name)
    with pytest.raises(ResourceNotFoundError):
        certs.get_issuer(name)

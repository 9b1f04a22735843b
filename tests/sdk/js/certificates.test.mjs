// The official Azure SDK for JavaScript against a running Coffer's certificates: CertificateClient
// creates a self-signed certificate (PEM), imports it again under another name, and deletes and
// recovers it; the managed secret's PEM is checked with node:crypto (the key matches the
// certificate, the certificate is the one the vault reports).
// Environment: COFFER_BOOTSTRAP (path of bootstrap.json), NODE_EXTRA_CA_CERTS (Coffer's CA).
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { ClientSecretCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";

const boot = JSON.parse(readFileSync(process.env.COFFER_BOOTSTRAP, "utf8"));
const credential = new ClientSecretCredential(boot.tenant_id, boot.client_id, boot.client_secret, {
  authorityHost: boot.authority,
  disableInstanceDiscovery: true,
});
const certificates = new CertificateClient(boot.vault_url, credential);
const secrets = new SecretClient(boot.vault_url, credential);
const prefix = `jscert-${process.pid}-${Date.now()}`;
// The SDK's pollers wait between polls; Coffer answers at once, so poll fast.
const fast = { intervalInMs: 50 };

/** Reads the managed secret's PEM: the certificate and its private key, which must match. */
async function pemOf(name) {
  const secret = await secrets.getSecret(name);
  assert.equal(secret.properties.contentType, "application/x-pem-file");
  assert.equal(secret.properties.managed, true);
  const x509 = new crypto.X509Certificate(secret.value);
  const key = crypto.createPrivateKey(secret.value);
  assert.ok(x509.checkPrivateKey(key), "the PEM's key belongs to its certificate");
  return { pem: secret.value, x509 };
}

test("self-signed certificate: create, read it back, and its PEM secret holds the key", async () => {
  const name = `${prefix}-self`;
  const poller = await certificates.beginCreateCertificate(
    name,
    {
      issuerName: "Self",
      subject: "CN=js.example.test",
      subjectAlternativeNames: { dnsNames: ["js.example.test"] },
      contentType: "application/x-pem-file",
      keyType: "EC",
      keyCurveName: "P-256",
      validityInMonths: 6,
    },
    fast,
  );
  const created = await poller.pollUntilDone();
  assert.equal(created.name, name);
  const cert = await certificates.getCertificate(name);
  assert.equal(cert.policy.subject, "CN=js.example.test");
  assert.deepEqual(cert.policy.subjectAlternativeNames.dnsNames, ["js.example.test"]);
  const fromVault = new crypto.X509Certificate(Buffer.from(cert.cer));
  assert.match(fromVault.subject, /CN=js\.example\.test/);
  assert.match(fromVault.subjectAltName, /DNS:js\.example\.test/);
  const { x509 } = await pemOf(name);
  assert.equal(x509.fingerprint256, fromVault.fingerprint256);
  assert.equal(Buffer.from(cert.properties.x509Thumbprint).toString("hex"), fromVault.fingerprint.replaceAll(":", "").toLowerCase());
});

test("import the PEM under another name: same certificate, same key", async () => {
  const source = `${prefix}-src`;
  await (
    await certificates.beginCreateCertificate(
      source,
      { issuerName: "Self", subject: "CN=import.js.example.test", contentType: "application/x-pem-file" },
      fast,
    )
  ).pollUntilDone();
  const { pem, x509 } = await pemOf(source);
  const copy = `${prefix}-copy`;
  const imported = await certificates.importCertificate(copy, Buffer.from(pem), {
    policy: { contentType: "application/x-pem-file", issuerName: "Unknown", subject: "CN=import.js.example.test" },
  });
  assert.equal(imported.name, copy);
  assert.equal(new crypto.X509Certificate(Buffer.from(imported.cer)).fingerprint256, x509.fingerprint256);
  const again = await pemOf(copy);
  assert.equal(again.x509.fingerprint256, x509.fingerprint256);
});

test("delete and recover: the certificate and its managed secret come back", async () => {
  const name = `${prefix}-del`;
  await (
    await certificates.beginCreateCertificate(
      name,
      { issuerName: "Self", subject: "CN=del.js.example.test", contentType: "application/x-pem-file" },
      fast,
    )
  ).pollUntilDone();
  await (await certificates.beginDeleteCertificate(name, fast)).pollUntilDone();
  const deleted = await certificates.getDeletedCertificate(name);
  assert.ok(deleted.recoveryId.endsWith(`/deletedcertificates/${name}`));
  await assert.rejects(secrets.getSecret(name), (e) => e.statusCode === 404);
  await (await certificates.beginRecoverDeletedCertificate(name, fast)).pollUntilDone();
  assert.equal((await certificates.getCertificate(name)).name, name);
  await pemOf(name);
});

// The official Azure SDK for JavaScript against a running Coffer: ClientSecretCredential pointed at
// Coffer's authority, SecretClient with challenge-resource verification on (the default).
// Environment: COFFER_BOOTSTRAP (path of bootstrap.json), NODE_EXTRA_CA_CERTS (Coffer's CA).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ClientSecretCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

const boot = JSON.parse(readFileSync(process.env.COFFER_BOOTSTRAP, "utf8"));
const credential = new ClientSecretCredential(boot.tenant_id, boot.client_id, boot.client_secret, {
  authorityHost: boot.authority,
  disableInstanceDiscovery: true,
});
const client = new SecretClient(boot.vault_url, credential);
const prefix = `js-${process.pid}-${Date.now()}`;

test("set, get latest and by version, list", async () => {
  const name = `${prefix}-a`;
  const first = await client.setSecret(name, "one", { contentType: "text/plain", tags: { sdk: "js" } });
  assert.equal(first.value, "one");
  assert.equal(first.properties.contentType, "text/plain");
  assert.ok(first.properties.id.startsWith(`${boot.vault_url}/secrets/${name}/`));
  const second = await client.setSecret(name, "two");
  assert.equal((await client.getSecret(name)).value, "two");
  assert.equal((await client.getSecret(name, { version: first.properties.version })).value, "one");
  const versions = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) versions.push(p.version);
  assert.deepEqual(versions.sort(), [first.properties.version, second.properties.version].sort());
  const names = [];
  for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
  assert.ok(names.includes(name));
});

test("delete, recover, purge", async () => {
  const name = `${prefix}-d`;
  await client.setSecret(name, "gone");
  const del = await (await client.beginDeleteSecret(name, { updateIntervalInMs: 100 })).pollUntilDone();
  assert.ok(del.recoveryId.endsWith(`/deletedsecrets/${name}`));
  await (await client.beginRecoverDeletedSecret(name, { updateIntervalInMs: 100 })).pollUntilDone();
  assert.equal((await client.getSecret(name)).value, "gone");
  await (await client.beginDeleteSecret(name, { updateIntervalInMs: 100 })).pollUntilDone();
  await client.purgeDeletedSecret(name);
  await assert.rejects(client.getDeletedSecret(name), (e) => e.statusCode === 404);
});

test("errors carry Azure's codes", async () => {
  await assert.rejects(client.getSecret(`${prefix}-missing`), (e) => e.statusCode === 404 && e.code === "SecretNotFound");
  const bad = new SecretClient(
    boot.vault_url,
    new ClientSecretCredential(boot.tenant_id, boot.client_id, "wrong-secret", {
      authorityHost: boot.authority,
      disableInstanceDiscovery: true,
    }),
  );
  await assert.rejects(bad.getSecret("x"), (e) => e.name === "AuthenticationError" || /AADSTS7000215/.test(String(e.message)));
});

// The official Azure SDK for JavaScript against a running Coffer's keys: KeyClient creates RSA and
// EC keys, CryptographyClient signs, verifies, encrypts and decrypts (public operations partly in
// the SDK itself), and node:crypto checks every result from the returned JWK alone.
// Environment: COFFER_BOOTSTRAP (path of bootstrap.json), NODE_EXTRA_CA_CERTS (Coffer's CA).
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { ClientSecretCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

const boot = JSON.parse(readFileSync(process.env.COFFER_BOOTSTRAP, "utf8"));
const credential = new ClientSecretCredential(boot.tenant_id, boot.client_id, boot.client_secret, {
  authorityHost: boot.authority,
  disableInstanceDiscovery: true,
});
const client = new KeyClient(boot.vault_url, credential);
const prefix = `jskeys-${process.pid}-${Date.now()}`;
const b64u = (bytes) => Buffer.from(bytes).toString("base64url");

/** A node:crypto public key from the JWK the vault returned (which must have no private member). */
function publicKeyOf(jwk) {
  for (const m of ["d", "p", "q", "dp", "dq", "qi", "k"]) assert.equal(jwk[m], undefined, `JWK has ${m}`);
  const members =
    jwk.kty === "RSA" ? { kty: "RSA", n: b64u(jwk.n), e: b64u(jwk.e) } : { kty: "EC", crv: jwk.crv, x: b64u(jwk.x), y: b64u(jwk.y) };
  return crypto.createPublicKey({ key: members, format: "jwk" });
}

test("RSA key: sign and verify RS256/PS384, checked with node:crypto", async () => {
  const key = await client.createRsaKey(`${prefix}-rsa`, { keySize: 2048 });
  assert.equal(key.keyType, "RSA");
  assert.equal(key.key.n.length, 256);
  assert.ok(key.id.startsWith(`${boot.vault_url}/keys/${prefix}-rsa/`));
  const pub = publicKeyOf(key.key);
  const crypt = new CryptographyClient(key, credential);
  const data = Buffer.from("signed through the JavaScript SDK");

  const rs = await crypt.signData("RS256", data);
  assert.equal(rs.keyID, key.id);
  assert.ok(crypto.verify("sha256", data, { key: pub, padding: crypto.constants.RSA_PKCS1_PADDING }, rs.result));
  assert.equal((await crypt.verifyData("RS256", data, rs.result)).result, true);
  assert.equal((await crypt.verifyData("RS256", Buffer.from("other"), rs.result)).result, false);

  const ps = await crypt.signData("PS384", data);
  const pss = { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 };
  assert.ok(crypto.verify("sha384", data, pss, ps.result));
  const digest = crypto.createHash("sha384").update(data).digest();
  assert.equal((await crypt.verify("PS384", digest, ps.result)).result, true);
});

test("RSA key: encrypt and decrypt, both ways with node:crypto", async () => {
  const key = await client.createRsaKey(`${prefix}-rsaenc`, { keySize: 3072 });
  const pub = publicKeyOf(key.key);
  const crypt = new CryptographyClient(key, credential);
  const plaintext = crypto.randomBytes(48);
  for (const [algorithm, padding, oaepHash] of [
    ["RSA-OAEP", crypto.constants.RSA_PKCS1_OAEP_PADDING, "sha1"],
    ["RSA-OAEP-256", crypto.constants.RSA_PKCS1_OAEP_PADDING, "sha256"],
  ]) {
    const enc = await crypt.encrypt({ algorithm, plaintext });
    assert.equal(enc.result.length, 384);
    assert.deepEqual(Buffer.from((await crypt.decrypt({ algorithm, ciphertext: enc.result })).result), plaintext);
    const theirs = crypto.publicEncrypt({ key: pub, padding, oaepHash }, plaintext);
    const dec = await crypt.decrypt({ algorithm, ciphertext: theirs });
    assert.deepEqual(Buffer.from(dec.result), plaintext);
  }
  const wrapped = await crypt.wrapKey("RSA-OAEP", plaintext.subarray(0, 32));
  assert.deepEqual(Buffer.from((await crypt.unwrapKey("RSA-OAEP", wrapped.result)).result), plaintext.subarray(0, 32));
});

test("EC keys: ES256 and ES384 signatures are r||s and verify with node:crypto", async () => {
  for (const [curve, alg, hash, len] of [
    ["P-256", "ES256", "sha256", 64],
    ["P-384", "ES384", "sha384", 96],
  ]) {
    const key = await client.createEcKey(`${prefix}-ec${len}`, { curve });
    assert.equal(key.key.crv, curve);
    const pub = publicKeyOf(key.key);
    const crypt = new CryptographyClient(key, credential);
    const data = Buffer.from(`ec data ${curve}`);
    const signed = await crypt.signData(alg, data);
    assert.equal(signed.result.length, len);
    assert.ok(crypto.verify(hash, data, { key: pub, dsaEncoding: "ieee-p1363" }, signed.result));
    assert.equal((await crypt.verifyData(alg, data, signed.result)).result, true);
    // A signature node:crypto made with a key the vault never saw does not verify.
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: curve });
    const foreign = crypto.sign(hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    assert.equal((await crypt.verifyData(alg, data, foreign)).result, false);
  }
});

test("key_ops and the algorithm are enforced with Azure's codes", async () => {
  const key = await client.createEcKey(`${prefix}-ops`, { curve: "P-256", keyOps: ["sign", "verify"] });
  const crypt = new CryptographyClient(key.id, credential);
  const data = Buffer.from("x");
  assert.equal((await crypt.signData("ES256", data)).result.length, 64);
  // The client now holds the JWK (which allows sign); the vault is told otherwise and refuses.
  await client.updateKeyProperties(key.name, { keyOps: ["verify"] });
  await assert.rejects(crypt.signData("ES256", data), (e) => e.statusCode === 403 && e.code === "Forbidden");
  // A fresh client reads the new key_ops and refuses by itself.
  await assert.rejects(new CryptographyClient(key.id, credential).signData("ES256", data), /not supported/);
  const rsa = new CryptographyClient((await client.createRsaKey(`${prefix}-alg`)).id, credential);
  await assert.rejects(rsa.sign("ES256", crypto.randomBytes(32)), (e) => e.statusCode === 400 && e.code === "BadParameter");
  await assert.rejects(rsa.sign("RS256", crypto.randomBytes(20)), (e) => e.statusCode === 400 && e.code === "BadParameter");
  await assert.rejects(client.getKey(`${prefix}-missing`), (e) => e.statusCode === 404 && e.code === "KeyNotFound");
});

// A workload as a new user writes it: DefaultAzureCredential and the vault URL from the
// environment, nothing Coffer-specific. tests/sdk/python/test_first_start.py runs it with only
// the `export` lines `coffer serve` prints (plus PATH and HOME) in its environment.
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

const client = new SecretClient(process.env.AZURE_KEYVAULT_URL, new DefaultAzureCredential());
const name = `first-js-${Date.now()}`;
await client.setSecret(name, "from-node");
const got = await client.getSecret(name);
console.log(`${name}=${got.value}`);

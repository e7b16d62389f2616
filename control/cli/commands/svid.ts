import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { JwtSvidResult, X509SvidResult } from "../../api/schemas.js";
import { generateSigningKeyPair } from "../../../policies/identity/issue.js";
import { Pkcs10CertificateRequestGenerator } from "../../../policies/identity/x509-lib.js";
import { privateKeyPem } from "../../ca/pem.js";
import type { CommandContext } from "../context.js";
import { listArg, stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { meshHome } from "../local-state.js";

/**
 * `meshctl cert issue` and `meshctl token issue`: SVIDs from the mesh CA for local use. The key
 * pair of a certificate is made here and never leaves the machine: only a CSR is sent. The
 * token sent is `--token` (the admin token, or a workload registration token).
 */

/** `meshctl cert issue --spiffe-id ID [--out-dir DIR] [--ttl SECONDS]` */
export async function cert(context: CommandContext): Promise<number> {
  const [action] = context.args.positionals;
  if (action !== "issue") throw new CliError(`usage: meshctl cert issue --spiffe-id ID [--out-dir DIR] [--ttl SECONDS]${action ? ` (unknown action '${action}')` : ""}`, EXIT.usage);
  const spiffeId = required(context, "spiffe-id");
  const ttlSeconds = ttl(context);
  const outDir = path.resolve(stringArg(context.args, "out-dir") ?? path.join(meshHome(context.env), "svid", spiffeId.replace(/^spiffe:\/\//, "").replace(/[^A-Za-z0-9._-]+/g, "_")));
  const keys = await generateSigningKeyPair("ES256");
  const csr = await Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } });
  const client = await context.client();
  const answer = await client.call<X509SvidResult>("POST", "/v1/svid/x509", { body: JSON.stringify({ csr: csr.toString("pem"), spiffeId, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) }) });
  const svid = answer.body;
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const files = { key: path.join(outDir, "key.pem"), cert: path.join(outDir, "cert.pem"), bundle: path.join(outDir, "bundle.pem") };
  await writeFile(files.key, await privateKeyPem(keys.privateKey), { mode: 0o600 });
  await writeFile(files.cert, svid.chain, { mode: 0o644 });
  await writeFile(files.bundle, svid.bundle, { mode: 0o644 });
  if (context.output !== "text") {
    const result = { spiffeId: svid.spiffeId, serialNumber: svid.serialNumber, expiresAt: svid.expiresAt, files };
    context.out(context.output === "json" ? JSON.stringify(result, null, 2) : (await import("yaml")).stringify(result).trimEnd());
    return 0;
  }
  context.out(`issued ${svid.spiffeId} (serial ${svid.serialNumber}, expires ${svid.expiresAt})`);
  context.out(`  key     ${files.key}  (generated here; only the CSR was sent)`);
  context.out(`  cert    ${files.cert}  (the SVID and its chain)`);
  context.out(`  bundle  ${files.bundle}  (the trust anchor)`);
  return 0;
}

/** `meshctl token issue --spiffe-id ID --audience AUD [--audience ...] [--ttl SECONDS]`: prints the JWT-SVID. */
export async function token(context: CommandContext): Promise<number> {
  const [action] = context.args.positionals;
  if (action !== "issue") throw new CliError(`usage: meshctl token issue --spiffe-id ID --audience AUD [--ttl SECONDS]${action ? ` (unknown action '${action}')` : ""}`, EXIT.usage);
  const spiffeId = required(context, "spiffe-id");
  const audience = listArg(context.args, "audience");
  if (audience.length === 0) throw new CliError("--audience is required (who the token is for, e.g. the gateway's audience)", EXIT.usage);
  const ttlSeconds = ttl(context);
  const client = await context.client();
  const answer = await client.call<JwtSvidResult>("POST", "/v1/svid/jwt", { body: JSON.stringify({ spiffeId, audience, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) }) });
  if (context.output === "text") context.out(answer.body.token);
  else context.out(context.output === "json" ? JSON.stringify(answer.body, null, 2) : (await import("yaml")).stringify(answer.body).trimEnd());
  return 0;
}

function required(context: CommandContext, name: string): string {
  const value = stringArg(context.args, name);
  if (!value) throw new CliError(`--${name} is required`, EXIT.usage);
  return value;
}

function ttl(context: CommandContext): number | undefined {
  const text = stringArg(context.args, "ttl");
  if (text === undefined) return undefined;
  const match = /^(\d+)(s|m|h)?$/.exec(text);
  if (!match) throw new CliError(`--ttl must be a duration like 600, 600s, 10m or 1h (got '${text}')`, EXIT.usage);
  return Number(match[1]) * (match[2] === "h" ? 3600 : match[2] === "m" ? 60 : 1);
}

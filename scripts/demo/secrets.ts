import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * The egress gateway's demo secrets for `npm start`: what would be Workers secrets
 * (`wrangler secret put NAME --config egress/wrangler.toml`) once deployed. Each is taken from the
 * environment variable of its name, else generated once and kept in
 * `<MESH_HOME>/egress-secrets/<NAME>` (directory 0700, file 0600), like the control API's tokens.
 * Callers print where a secret is kept, never its value.
 */

export const egressSecretFile = (home: string, name: string) => path.join(home, "egress-secrets", name);

export interface EgressSecret {
  name: string;
  value: string;
  /** `env`: from the environment variable `name`; `file`: read from or generated into `file`. */
  from: "env" | "file";
  file: string;
  generated: boolean;
}

export async function egressSecret(home: string, name: string, prefix: string, env: NodeJS.ProcessEnv = process.env): Promise<EgressSecret> {
  const file = egressSecretFile(home, name);
  const fromEnv = env[name];
  if (fromEnv) return { name, value: fromEnv, from: "env", file, generated: false };
  const existing = (await readFile(file, "utf8").catch(() => undefined))?.trim();
  if (existing) return { name, value: existing, from: "file", file, generated: false };
  const value = `${prefix}${randomBytes(24).toString("base64url")}`;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  return { name, value, from: "file", file, generated: true };
}

import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * What `npm start` leaves for `meshctl` on this machine, under MESH_HOME (default `.mesh/` in the
 * repo): the local admin and reader tokens it generated, and where the local control API and
 * gateways listen. Only ever used as a fallback after flags and environment variables.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface LocalEndpoints {
  control: string;
  gateways: { name: string; url: string }[];
  pid: number;
}

export function meshHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MESH_HOME ? path.resolve(env.MESH_HOME) : path.join(REPO_ROOT, ".mesh");
}

export const tokenFile = (home: string, role: "admin" | "reader") => path.join(home, `${role}-token`);
export const endpointsFile = (home: string) => path.join(home, "endpoints.json");

export async function readToken(home: string, role: "admin" | "reader"): Promise<string | undefined> {
  const text = await readFile(tokenFile(home, role), "utf8").catch(() => undefined);
  const token = text?.trim();
  return token ? token : undefined;
}

/** The token saved under MESH_HOME, or a new random one saved there (mode 0600). */
export async function localToken(home: string, role: "admin" | "reader"): Promise<{ token: string; generated: boolean }> {
  const existing = await readToken(home, role);
  if (existing) return { token: existing, generated: false };
  const token = `mesh_${role}_${randomBytes(24).toString("base64url")}`;
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(tokenFile(home, role), `${token}\n`, { mode: 0o600 });
  return { token, generated: true };
}

/** The endpoints a running `npm start` wrote; undefined when there are none or their process is gone. */
export async function readEndpoints(home: string): Promise<LocalEndpoints | undefined> {
  const text = await readFile(endpointsFile(home), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as LocalEndpoints;
    const valid = typeof value.control === "string" && Array.isArray(value.gateways) && typeof value.pid === "number";
    return valid && isRunning(value.pid) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function writeEndpoints(home: string, endpoints: LocalEndpoints): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(endpointsFile(home), `${JSON.stringify(endpoints, null, 2)}\n`);
}

/**
 * Removes endpoints.json if it is still the one this process wrote. Synchronous, so it can run
 * in a process "exit" handler (Miniflare's signal handlers exit without waiting for promises).
 */
export function removeEndpointsSync(home: string, pid: number): void {
  try {
    const owner = (JSON.parse(readFileSync(endpointsFile(home), "utf8")) as LocalEndpoints).pid;
    if (owner === pid) rmSync(endpointsFile(home), { force: true });
  } catch {
    // absent or unreadable: nothing of ours to remove
  }
}

import { formatConfigIssue, type ConfigIssue } from "../policies/errors.js";
import { parseResource, type MeshResource } from "../policies/resources/resource.js";
import { compileSnapshot } from "../policies/snapshot/compile.js";
import { CURRENT_POINTER_KEY, snapshotKey } from "../policies/snapshot/kv-layout.js";
import type { Snapshot } from "../policies/snapshot/schema.js";
import type { RawResource } from "./full-config.js";

/** Validates raw resources as the config loader does; throws with every issue. */
export function validateResources(raw: readonly RawResource[]): MeshResource[] {
  const resources: MeshResource[] = [];
  const issues: ConfigIssue[] = [];
  for (const item of raw) {
    const parsed = parseResource(item);
    if (parsed.ok) resources.push(parsed.resource);
    else issues.push(...parsed.issues);
  }
  if (issues.length > 0) throw new Error(`bench config is invalid:\n${issues.map(formatConfigIssue).join("\n")}`);
  return resources;
}

export async function compileResources(resources: readonly MeshResource[]): Promise<Snapshot> {
  const compiled = await compileSnapshot(resources);
  if (!compiled.ok) throw new Error(`bench config does not compile:\n${compiled.issues.map(formatConfigIssue).join("\n")}`);
  return compiled.snapshot;
}

export async function compileBenchConfig(raw: readonly RawResource[]): Promise<Snapshot> {
  return compileResources(validateResources(raw));
}

/** The KV entries the control plane writes for a snapshot (policies/snapshot/kv-layout.ts). */
export function kvEntries(snapshot: Snapshot): Record<string, string> {
  return {
    [snapshotKey(snapshot.version)]: JSON.stringify(snapshot),
    [CURRENT_POINTER_KEY]: JSON.stringify({ version: snapshot.version }),
  };
}

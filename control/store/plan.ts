import type { ConfigIssue, ResourceRef } from "../../policies/errors.js";
import { parseResource, type MeshResource } from "../../policies/resources/resource.js";
import { compileSnapshot } from "../../policies/snapshot/compile.js";
import { diffSets, type ResourceChange } from "./diff.js";
import { digestResourceSet, sameContent, sortedResources, toMap, type ResourceSet, type StoredResource } from "./resource-set.js";
import { sealSnapshot, type SealedSnapshot } from "./version.js";

/**
 * The pure core of every write: given the current set and a change (apply, delete, replace),
 * the whole set after the change, compiled and sealed, or every issue that makes it invalid.
 * The control API's apply, validate, delete and rollback, `meshctl validate` offline and
 * `npm start`'s check of its config all go through here, so they agree on every message.
 */

export interface ChangeSummary {
  created: ResourceRef[];
  changed: ResourceRef[];
  /** Resources the request named that were already stored exactly so. */
  unchanged: ResourceRef[];
  deleted: ResourceRef[];
}

export type Plan =
  | {
      ok: true;
      version: string;
      snapshot: SealedSnapshot;
      resources: Map<string, StoredResource>;
      summary: ChangeSummary;
      changes: ResourceChange[];
      /** What the compiler accepts but flags, e.g. a VirtualService no gateway serves. */
      warnings: ConfigIssue[];
    }
  | { ok: false; issues: ConfigIssue[] };

export type CompileSetResult = { ok: true; snapshot: SealedSnapshot; warnings: ConfigIssue[] } | { ok: false; issues: ConfigIssue[] };

/** Compiles a whole set and seals its version (version.ts). */
export async function compileSet(set: ResourceSet, locate: (issues: readonly ConfigIssue[]) => ConfigIssue[] = (issues) => [...issues]): Promise<CompileSetResult> {
  const typed: MeshResource[] = [];
  const issues: ConfigIssue[] = [];
  for (const resource of sortedResources(set.values())) {
    const parsed = parseResource(resource.raw);
    if (parsed.ok) typed.push(parsed.resource);
    else issues.push(...parsed.issues);
  }
  if (issues.length > 0) return { ok: false, issues: locate(issues) };
  const compiled = await compileSnapshot(typed);
  if (!compiled.ok) return { ok: false, issues: locate(compiled.issues) };
  return { ok: true, snapshot: await sealSnapshot(compiled.snapshot, await digestResourceSet(set.values())), warnings: locate(compiled.warnings) };
}

export interface ApplyOptions {
  /** The request is the whole set: stored resources it does not name are deleted (kubectl's --prune). */
  prune?: boolean;
  locate?: (issues: readonly ConfigIssue[]) => ConfigIssue[];
}

export async function planApply(current: ResourceSet, incoming: readonly StoredResource[], options: ApplyOptions = {}): Promise<Plan> {
  const next = options.prune ? new Map<string, StoredResource>() : new Map(current);
  const summary: ChangeSummary = { created: [], changed: [], unchanged: [], deleted: [] };
  for (const resource of incoming) {
    const before = current.get(resource.key);
    if (!before) summary.created.push(resource.ref);
    else if (sameContent(before, resource)) summary.unchanged.push(resource.ref);
    else summary.changed.push(resource.ref);
    next.set(resource.key, before && sameContent(before, resource) ? before : resource);
  }
  if (options.prune) {
    for (const resource of sortedResources(current.values())) if (!next.has(resource.key)) summary.deleted.push(resource.ref);
  }
  return finish(current, next, summary, options.locate);
}

export async function planDelete(current: ResourceSet, key: string): Promise<Plan> {
  const removed = current.get(key);
  const next = new Map(current);
  next.delete(key);
  return finish(current, next, { created: [], changed: [], unchanged: [], deleted: removed ? [removed.ref] : [] });
}

/** The set becomes `target` exactly (rollback). */
export async function planReplace(current: ResourceSet, target: readonly StoredResource[]): Promise<Plan> {
  const next = toMap(target);
  const changes = diffSets(current, next);
  const of = (kind: ResourceChange["change"]) => changes.filter((change) => change.change === kind).map((change) => change.resource);
  return finish(current, next, { created: of("created"), changed: of("changed"), unchanged: [], deleted: of("deleted") });
}

async function finish(current: ResourceSet, next: Map<string, StoredResource>, summary: ChangeSummary, locate?: ApplyOptions["locate"]): Promise<Plan> {
  const compiled = await compileSet(next, locate);
  if (!compiled.ok) return compiled;
  return { ok: true, version: compiled.snapshot.version, snapshot: compiled.snapshot, resources: next, summary, changes: diffSets(current, next), warnings: compiled.warnings };
}

import type { ResourceRef } from "../../policies/errors.js";
import { canonicalJson, sortedResources, type ResourceSet } from "./resource-set.js";

/**
 * What differs between two resource sets: resources created, deleted, or changed field by field
 * (`spec.http[2].route[0].weight: 80 → 90`). Arrays are compared by position, as Istio's route
 * lists are ordered.
 */

export interface FieldChange {
  path: string;
  /** Absent when the field was added. */
  from?: unknown;
  /** Absent when the field was removed. */
  to?: unknown;
}

export interface ResourceChange {
  resource: ResourceRef;
  change: "created" | "changed" | "deleted";
  /** For `changed`: every field that differs. */
  fields?: FieldChange[];
}

export function diffSets(from: ResourceSet, to: ResourceSet): ResourceChange[] {
  const changes: ResourceChange[] = [];
  const keys = new Set([...from.keys(), ...to.keys()]);
  for (const resource of sortedResources([...keys].map((key) => (to.get(key) ?? from.get(key))!))) {
    const before = from.get(resource.key);
    const after = to.get(resource.key);
    if (!before) changes.push({ resource: resource.ref, change: "created" });
    else if (!after) changes.push({ resource: resource.ref, change: "deleted" });
    else {
      const fields = diffValues(before.raw, after.raw);
      if (fields.length > 0) changes.push({ resource: resource.ref, change: "changed", fields });
    }
  }
  return changes;
}

export function diffValues(from: unknown, to: unknown, path = ""): FieldChange[] {
  if (canonicalJson(from) === canonicalJson(to)) return [];
  if (Array.isArray(from) && Array.isArray(to)) {
    const changes: FieldChange[] = [];
    for (let index = 0; index < Math.max(from.length, to.length); index++) {
      const itemPath = `${path}[${index}]`;
      if (index >= to.length) changes.push({ path: itemPath, from: from[index] });
      else if (index >= from.length) changes.push({ path: itemPath, to: to[index] });
      else changes.push(...diffValues(from[index], to[index], itemPath));
    }
    return changes;
  }
  if (isObject(from) && isObject(to)) {
    const changes: FieldChange[] = [];
    for (const key of [...new Set([...Object.keys(from), ...Object.keys(to)])].sort()) {
      const keyPath = path === "" ? key : `${path}.${key}`;
      if (!(key in to)) changes.push({ path: keyPath, from: from[key] });
      else if (!(key in from)) changes.push({ path: keyPath, to: to[key] });
      else changes.push(...diffValues(from[key], to[key], keyPath));
    }
    return changes;
  }
  return [{ path, from, to }];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

import type { ResourceRef } from "../../policies/errors.js";

/**
 * A resource as the store keeps it: exactly what the user sent (as JSON), with
 * `metadata.namespace` filled in when it was left to its default, so that what `GET` returns
 * can be applied again unchanged. The typed, defaulted form is derived from it when compiling.
 */
export interface StoredResource {
  /** `Kind/namespace/name`: one resource per key in a set. */
  key: string;
  ref: ResourceRef;
  raw: Record<string, unknown>;
}

export type ResourceSet = ReadonlyMap<string, StoredResource>;

export function resourceKey(ref: ResourceRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export function refFromKey(key: string): ResourceRef {
  const [kind = "", namespace = "", ...rest] = key.split("/");
  return { kind, namespace, name: rest.join("/") };
}

/** JSON with object keys sorted at every level: equal values give equal text, whatever order they were written in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = sortKeys(item);
    }
    return out;
  }
  return value;
}

/** Resources in a stable order (kind, namespace, name), the order of every listing and of the digest. */
export function sortedResources(set: Iterable<StoredResource>): StoredResource[] {
  return [...set].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function sameContent(a: StoredResource, b: StoredResource): boolean {
  return canonicalJson(a.raw) === canonicalJson(b.raw);
}

/** SHA-256 (hex) of text. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  let hex = "";
  for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** The digest of a whole set: what the sealed version adds to the compiled snapshot's hash (see version.ts). */
export function digestResourceSet(set: Iterable<StoredResource>): Promise<string> {
  return sha256Hex(canonicalJson(sortedResources(set).map((resource) => resource.raw)));
}

export function toMap(resources: Iterable<StoredResource>): Map<string, StoredResource> {
  return new Map([...resources].map((resource) => [resource.key, resource]));
}

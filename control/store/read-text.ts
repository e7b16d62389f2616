import { parseAllDocuments } from "yaml";
import { parseConfigText } from "../../policies/config/load.js";
import type { ConfigIssue } from "../../policies/errors.js";
import { resourceRefOf } from "../../policies/resources/resource.js";
import { resourceKey, type StoredResource } from "./resource-set.js";

/**
 * Reads resources from the text a user sent (multi-document YAML, a JSON resource or list) with
 * the loader of `policies/` (so every message, line and column is the one `npm start` and
 * `meshctl validate` print), and keeps each resource's raw JSON beside its typed form: the store
 * keeps what the user wrote, not the compiler's defaulted view of it.
 */

export type ReadTextResult =
  | { ok: true; resources: StoredResource[]; locate: (issues: readonly ConfigIssue[]) => ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[] };

export function readResourceText(text: string, source?: string): ReadTextResult {
  const loaded = parseConfigText(text, source);
  if (loaded.issues.length > 0) return { ok: false, issues: loaded.issues };

  // The loader returns typed resources only. The raw items are read again here, flattened the
  // same way, and paired by position; the pairing is checked so a drift between the two fails loudly.
  const raws = parseAllDocuments(text).flatMap((document) => flattenItems(document.toJS()));
  if (raws.length !== loaded.resources.length) {
    throw new Error(`internal: read ${raws.length} raw items but ${loaded.resources.length} resources`);
  }
  const resources = loaded.resources.map((resource, index): StoredResource => {
    const raw = toJsonObject(raws[index]);
    const ref = resourceRefOf(resource);
    const metadata = raw.metadata as Record<string, unknown>;
    if (raw.kind !== ref.kind || metadata.name !== ref.name) throw new Error(`internal: raw item ${index} is not ${resourceKey(ref)}`);
    if (metadata.namespace === undefined) raw.metadata = { ...metadata, namespace: ref.namespace };
    return { key: resourceKey(ref), ref, raw };
  });
  return { ok: true, resources, locate: loaded.locate };
}

/** Same flattening as policies/config/load.ts: arrays, `{items: [...]}` and `kind: List` hold resources. */
function flattenItems(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap(flattenItems);
  if (typeof value === "object" && "items" in value && Array.isArray((value as { items: unknown }).items)) {
    const { kind } = value as { kind?: unknown };
    if (kind === undefined || kind === "List" || (typeof kind === "string" && kind.endsWith("List"))) {
      return (value as { items: unknown[] }).items.flatMap(flattenItems);
    }
  }
  return [value];
}

/** A deep copy as plain JSON (YAML may produce values JSON cannot hold; they become what JSON makes of them). */
function toJsonObject(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

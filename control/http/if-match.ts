import type { IfMatch } from "../store/config-store.js";

/**
 * Parses `If-Match` (RFC 9110): `*`, or a list of entity tags. Versions are sent as strong tags
 * (`"3f2a..."`); a bare version is accepted too, as people type it. Weak tags never match a
 * precondition for a write (RFC 9110 §13.1.1), so they are kept as given and fail.
 */
export function parseIfMatch(header: string | undefined): IfMatch | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  if (header.trim() === "*") return { any: true, versions: [] };
  const versions = header
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean)
    .map((tag) => (tag.startsWith('"') && tag.endsWith('"') && tag.length >= 2 ? tag.slice(1, -1) : tag));
  return { any: false, versions };
}

export function etagOf(version: string): string {
  return `"${version}"`;
}

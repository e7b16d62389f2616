/**
 * Request path normalisation with Istio's MeshConfig `pathNormalization` options, done once per
 * request so that routing and authorization see the very same path (and the upstream receives
 * it too: nothing downstream can read the path differently from what was authorized).
 *
 * - `NONE`: the path as received. Unsafe with path-based AuthorizationPolicy; opt-in only.
 * - `BASE` (the default, Envoy's `normalize_path`): RFC 3986 normalisation — `\` becomes `/`,
 *   percent-encoded unreserved characters are decoded (`%61` → `a`, `%2E` → `.`), remaining
 *   percent-encodings are uppercased, characters that must be encoded are, and dot segments
 *   are removed (`/a/../b` → `/b`, `/a/.` → `/a/`).
 * - `MERGE_SLASHES`: BASE, then runs of `/` become one (`//a` → `/a`).
 * - `DECODE_AND_MERGE_SLASHES`: first `%2F`/`%5C` are decoded to `/`/`\`, then MERGE_SLASHES.
 *
 * Where this differs from Envoy, it refuses rather than passes (a `400`): an invalid
 * percent-encoding, an encoded NUL (`%00`), a control character, or a path not starting with `/`
 * is refused in every mode but NONE; and unless the mode decodes them, an escaped slash
 * (`%2F`, `%5C`) is refused (`escapedSlashes: REJECT`, the default; Envoy's
 * `path_with_escaped_slashes_action: REJECT_REQUEST`), and under BASE an empty segment (`//`)
 * is refused, because an upstream that decodes or merges them would see a path that authorization
 * never saw. `escapedSlashes: KEEP` restores Envoy's pass-through behaviour for escaped slashes.
 */

export const PATH_NORMALIZATIONS = ["NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"] as const;
export type PathNormalization = (typeof PATH_NORMALIZATIONS)[number];

export interface PathNormalizationOptions {
  normalization: PathNormalization;
  /** What BASE and MERGE_SLASHES do with `%2F`/`%5C`: refuse the request (default) or keep them encoded. */
  escapedSlashes?: "REJECT" | "KEEP";
}

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string };

const HEX = "0123456789ABCDEF";
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** pchar minus `%` (handled separately) plus `/`: what may appear raw in a normalised path. */
const RAW_ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;

export function normalizePath(raw: string, options: PathNormalizationOptions): NormalizedPath {
  const mode = options.normalization;
  if (mode === "NONE") return { ok: true, path: raw };
  if (!raw.startsWith("/") && !raw.startsWith("\\")) return { ok: false, reason: "the path does not start with '/'" };

  let path = raw;
  if (mode === "DECODE_AND_MERGE_SLASHES") {
    path = path.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
  } else if ((options.escapedSlashes ?? "REJECT") === "REJECT" && /%(2f|5c)/i.test(path)) {
    return { ok: false, reason: "the path contains an escaped slash (%2F or %5C)" };
  }
  path = path.replace(/\\/g, "/");

  const encoded = canonicalEncoding(path);
  if (!encoded.ok) return encoded;
  path = removeDotSegments(encoded.path);

  if (mode === "BASE") {
    if (path.includes("//")) return { ok: false, reason: "the path has an empty segment ('//'); BASE does not merge slashes" };
  } else {
    path = path.replace(/\/{2,}/g, "/");
  }
  return { ok: true, path };
}

/** Decodes %XX of unreserved characters, uppercases the rest, encodes what must be encoded. */
function canonicalEncoding(path: string): NormalizedPath {
  let out = "";
  const encoder = new TextEncoder();
  for (let index = 0; index < path.length; index++) {
    const char = path[index]!;
    if (char === "%") {
      const hex = path.slice(index + 1, index + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: "the path has an invalid percent-encoding" };
      const code = parseInt(hex, 16);
      if (code === 0) return { ok: false, reason: "the path contains an encoded NUL (%00)" };
      const decoded = String.fromCharCode(code);
      out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
      index += 2;
      continue;
    }
    const code = char.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) return { ok: false, reason: "the path contains a control character" };
    if (RAW_ALLOWED.test(char)) {
      out += char;
      continue;
    }
    // Everything else (space, quotes, <>, {}, |, ^, `, non-ASCII) is percent-encoded as UTF-8.
    const point = path.codePointAt(index)!;
    const text = String.fromCodePoint(point);
    if (point > 0xffff) index++;
    for (const byte of encoder.encode(text)) out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return { ok: true, path: out };
}

/** RFC 3986 §5.2.4 on an absolute path. */
export function removeDotSegments(path: string): string {
  const input = path.split("/").slice(1);
  const output: string[] = [];
  input.forEach((segment, index) => {
    const last = index === input.length - 1;
    if (segment === ".") {
      if (last) output.push("");
    } else if (segment === "..") {
      output.pop();
      if (last) output.push("");
    } else output.push(segment);
  });
  return "/" + output.join("/");
}

import { SpiffeIdError } from "./errors.js";

/**
 * SPIFFE IDs exactly as the SPIFFE ID standard (SPIFFE-ID.md §2) defines them:
 *
 *   spiffe://<trust-domain>[/<segment>]*
 *
 * - the scheme is `spiffe` followed by `://`;
 * - the trust domain is non-empty, at most 255 bytes, only `[a-z0-9._-]` (so lowercase, no
 *   percent-encoding, no userinfo, no port);
 * - the path is empty or `/`-separated segments of `[a-zA-Z0-9._-]`, none empty, none `.` or
 *   `..`, no trailing `/`, no percent-encoding;
 * - no query, no fragment; at most 2048 bytes in all.
 *
 * The standard says the scheme and trust domain are case-insensitive but must be lowercase;
 * like go-spiffe, only the canonical (lowercase) form is accepted, so that one identity has one
 * spelling and comparisons are plain string equality.
 */

export const SPIFFE_SCHEME = "spiffe://";
export const MAX_SPIFFE_ID_BYTES = 2048;
export const MAX_TRUST_DOMAIN_BYTES = 255;

const TRUST_DOMAIN_CHAR = /^[a-z0-9._-]$/;
const PATH_CHAR = /^[a-zA-Z0-9._-]$/;

export interface SpiffeId {
  /** e.g. `acme.test` */
  readonly trustDomain: string;
  /** `""` or `/seg/seg`, e.g. `/ns/shop/sa/frontend` */
  readonly path: string;
  /** The canonical URI, e.g. `spiffe://acme.test/ns/shop/sa/frontend`. */
  readonly uri: string;
}

/** Parses a SPIFFE ID, or throws a SpiffeIdError whose code names the rule it breaks. */
export function parseSpiffeId(text: string): SpiffeId {
  if (typeof text !== "string" || text.length === 0) throw new SpiffeIdError("ERR_SPIFFE_ID_EMPTY", "a SPIFFE ID cannot be empty");
  // Only ASCII is valid below, so characters and bytes coincide for the length rule; a
  // non-ASCII character fails a charset rule anyway.
  if (text.length > MAX_SPIFFE_ID_BYTES) {
    throw new SpiffeIdError("ERR_SPIFFE_ID_TOO_LONG", `a SPIFFE ID is at most ${MAX_SPIFFE_ID_BYTES} bytes (got ${text.length})`);
  }
  if (!text.startsWith(SPIFFE_SCHEME)) {
    throw new SpiffeIdError("ERR_SPIFFE_ID_SCHEME", `a SPIFFE ID must start with '${SPIFFE_SCHEME}' (lowercase scheme 'spiffe', then '://')`);
  }
  const rest = text.slice(SPIFFE_SCHEME.length);
  const hash = rest.indexOf("#");
  if (hash !== -1) throw new SpiffeIdError("ERR_SPIFFE_ID_FRAGMENT", "a SPIFFE ID cannot have a fragment ('#...')");
  const question = rest.indexOf("?");
  if (question !== -1) throw new SpiffeIdError("ERR_SPIFFE_ID_QUERY", "a SPIFFE ID cannot have a query ('?...')");
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  const trustDomain = checkAuthority(authority);
  checkPath(path);
  return { trustDomain, path, uri: `${SPIFFE_SCHEME}${trustDomain}${path}` };
}

/** Parses a trust domain name on its own (as configured, e.g. `trustDomain: acme.test`). */
export function parseTrustDomain(name: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new SpiffeIdError("ERR_SPIFFE_ID_TRUST_DOMAIN_MISSING", "a trust domain name cannot be empty");
  }
  if (name.startsWith(SPIFFE_SCHEME)) {
    // Accept `spiffe://acme.test` as a way of writing the trust domain, but nothing after it.
    const id = parseSpiffeId(name);
    if (id.path !== "") throw new SpiffeIdError("ERR_SPIFFE_ID_PATH_CHARS", `'${name}' is a SPIFFE ID with a path, not a trust domain`);
    return id.trustDomain;
  }
  return checkAuthority(name);
}

/** True if the text is a valid SPIFFE ID. */
export function isSpiffeId(text: string): boolean {
  try {
    parseSpiffeId(text);
    return true;
  } catch {
    return false;
  }
}

/** The form Istio's AuthorizationPolicy `principals` use: the SPIFFE ID without its scheme. */
export function principalOf(id: SpiffeId | string): string {
  const uri = typeof id === "string" ? id : id.uri;
  return uri.startsWith(SPIFFE_SCHEME) ? uri.slice(SPIFFE_SCHEME.length) : uri;
}

/** Istio's convention `spiffe://<td>/ns/<namespace>/sa/<service-account>`: the namespace, if the path follows it. */
export function namespaceOf(id: SpiffeId): string | undefined {
  const match = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id.path);
  return match?.[1];
}

/** Istio's `source.serviceAccount` value, `<namespace>/<service-account>`, if the path follows the convention. */
export function serviceAccountOf(id: SpiffeId): string | undefined {
  const match = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id.path);
  return match ? `${match[1]}/${match[2]}` : undefined;
}

function checkAuthority(authority: string): string {
  if (authority.length === 0) throw new SpiffeIdError("ERR_SPIFFE_ID_TRUST_DOMAIN_MISSING", "a SPIFFE ID needs a trust domain (spiffe://<trust-domain>/...)");
  if (authority.includes("@")) throw new SpiffeIdError("ERR_SPIFFE_ID_USERINFO", "the trust domain cannot carry userinfo ('user@')");
  if (authority.includes(":")) throw new SpiffeIdError("ERR_SPIFFE_ID_PORT", "the trust domain cannot carry a port (':')");
  if (authority.includes("%")) throw new SpiffeIdError("ERR_SPIFFE_ID_PERCENT_ENCODED", "the trust domain cannot contain percent-encoded characters");
  if (authority.length > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError("ERR_SPIFFE_ID_TRUST_DOMAIN_TOO_LONG", `a trust domain is at most ${MAX_TRUST_DOMAIN_BYTES} bytes (got ${authority.length})`);
  }
  for (const char of authority) {
    if (!TRUST_DOMAIN_CHAR.test(char)) {
      throw new SpiffeIdError(
        "ERR_SPIFFE_ID_TRUST_DOMAIN_CHARS",
        `trust domain characters are limited to lowercase letters, digits, '.', '-' and '_' (found ${JSON.stringify(char)})`,
      );
    }
  }
  return authority;
}

function checkPath(path: string): void {
  if (path === "") return;
  // path starts with "/": the segments are what follows each slash.
  const segments = path.slice(1).split("/");
  segments.forEach((segment, index) => {
    if (segment === "") {
      if (index === segments.length - 1) throw new SpiffeIdError("ERR_SPIFFE_ID_PATH_TRAILING_SLASH", "the path cannot end with '/'");
      throw new SpiffeIdError("ERR_SPIFFE_ID_PATH_EMPTY_SEGMENT", "the path cannot contain empty segments ('//')");
    }
    if (segment === "." || segment === "..") {
      throw new SpiffeIdError("ERR_SPIFFE_ID_PATH_DOT_SEGMENT", `the path cannot contain '.' or '..' segments (found '${segment}')`);
    }
    for (const char of segment) {
      if (char === "%") throw new SpiffeIdError("ERR_SPIFFE_ID_PERCENT_ENCODED", "the path cannot contain percent-encoded characters");
      if (!PATH_CHAR.test(char)) {
        throw new SpiffeIdError(
          "ERR_SPIFFE_ID_PATH_CHARS",
          `path segment characters are limited to letters, digits, '.', '-' and '_' (found ${JSON.stringify(char)})`,
        );
      }
    }
  });
}

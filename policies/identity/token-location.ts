/**
 * Where a request carries JWTs (Istio's `fromHeaders`, `fromParams`, `fromCookies`; by default
 * `Authorization: Bearer <token>` and the `access_token` query parameter), and taking them out.
 */

export type TokenLocation =
  | { kind: "header"; name: string; prefix: string }
  | { kind: "param"; name: string }
  | { kind: "cookie"; name: string };

export interface TokenSource {
  header(name: string): string | null;
  query(name: string): string | null;
  cookie(name: string): string | null;
}

export interface FoundToken {
  token: string;
  location: TokenLocation;
}

export function locationKey(location: TokenLocation): string {
  return location.kind === "header" ? `header:${location.name}:${location.prefix.toLowerCase()}` : `${location.kind}:${location.name}`;
}

/** The token at one location, or undefined. A header prefix (e.g. `Bearer `) is matched case-insensitively, as auth schemes are. */
export function tokenAt(location: TokenLocation, source: TokenSource): string | undefined {
  if (location.kind === "header") {
    const value = source.header(location.name);
    if (value === null) return undefined;
    const trimmed = value.trim();
    if (location.prefix === "") return trimmed || undefined;
    if (trimmed.length <= location.prefix.length || trimmed.slice(0, location.prefix.length).toLowerCase() !== location.prefix.toLowerCase()) return undefined;
    return trimmed.slice(location.prefix.length).trim() || undefined;
  }
  const value = location.kind === "param" ? source.query(location.name) : source.cookie(location.name);
  return value === null || value === "" ? undefined : value;
}

/** Every (location, token) found, each location once. */
export function extractTokens(locations: readonly TokenLocation[], source: TokenSource): FoundToken[] {
  const seen = new Set<string>();
  const found: FoundToken[] = [];
  for (const location of locations) {
    const key = locationKey(location);
    if (seen.has(key)) continue;
    seen.add(key);
    const token = tokenAt(location, source);
    if (token !== undefined) found.push({ token, location });
  }
  return found;
}

/** Istio's default when a rule names no location. */
export const DEFAULT_TOKEN_LOCATIONS: TokenLocation[] = [
  { kind: "header", name: "authorization", prefix: "Bearer " },
  { kind: "param", name: "access_token" },
];

/** Where JWT-SVIDs travel by default (JWT-SVID §5.2). */
export const JWT_SVID_LOCATION: TokenLocation = { kind: "header", name: "authorization", prefix: "Bearer " };

/** Where a config's JWT-SVIDs travel: MeshConfig `jwtSvid.fromHeaders`, else the default. */
export function jwtSvidLocationsOf(config: { jwtSvidFromHeaders?: readonly { name: string; prefix: string }[] | undefined } | undefined): TokenLocation[] {
  return config?.jwtSvidFromHeaders ? config.jwtSvidFromHeaders.map((header) => ({ kind: "header", name: header.name, prefix: header.prefix })) : [JWT_SVID_LOCATION];
}

/** Where one RequestAuthentication jwtRule reads tokens (its fromHeaders, fromParams, fromCookies, compiled with Istio's defaults). */
export function jwtRuleLocations(rule: {
  fromHeaders: readonly { name: string; prefix: string }[];
  fromParams: readonly string[];
  fromCookies: readonly string[];
}): TokenLocation[] {
  return [
    ...rule.fromHeaders.map((header) => ({ kind: "header" as const, name: header.name, prefix: header.prefix })),
    ...rule.fromParams.map((name) => ({ kind: "param" as const, name })),
    ...rule.fromCookies.map((name) => ({ kind: "cookie" as const, name })),
  ];
}

/**
 * Istio's string matching in security policies: `*` matches any non-empty value, `abc*` is a
 * prefix, `*abc` a suffix, anything else exact. Paths use the same rules (`/admin/*` is the
 * prefix `/admin/`, `*.html` the suffix `.html`).
 */
export function wildcardMatches(pattern: string, value: string | undefined | null, ignoreCase = false): boolean {
  if (value === undefined || value === null) return false;
  if (pattern === "*") return value.length > 0;
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  if (p.endsWith("*")) return v.startsWith(p.slice(0, -1));
  if (p.startsWith("*")) return v.endsWith(p.slice(1));
  return v === p;
}

export function anyMatches(patterns: readonly string[], value: string | undefined | null, ignoreCase = false): boolean {
  return patterns.some((pattern) => wildcardMatches(pattern, value, ignoreCase));
}

import type { CompiledMatch, PathIndex } from "./schema.js";

/**
 * Builds a virtual host's path index: for each route position, under which exact paths or path
 * prefixes it can match. A route is a candidate for a request only if one of its match blocks
 * could accept the path; the full match then runs on the few candidates, in route order.
 */
export function buildPathIndex(routeMatches: readonly (readonly CompiledMatch[])[]): PathIndex {
  const index: PathIndex = {
    exact: {},
    prefix: {},
    prefixLengths: [],
    exactCaseless: {},
    prefixCaseless: {},
    prefixLengthsCaseless: [],
    anyPath: [],
  };
  routeMatches.forEach((matches, position) => {
    if (matches.length === 0) {
      index.anyPath.push(position);
      return;
    }
    for (const match of matches) {
      const uri = match.uri;
      if (uri === undefined || uri.type === "regex" || uri.type === "present" || (uri.type === "prefix" && uri.value === "")) {
        addOnce(index.anyPath, position);
      } else if (uri.type === "exact") {
        addTo(uri.ignoreCase ? index.exactCaseless : index.exact, uri.ignoreCase ? uri.value.toLowerCase() : uri.value, position);
      } else {
        addTo(uri.ignoreCase ? index.prefixCaseless : index.prefix, uri.ignoreCase ? uri.value.toLowerCase() : uri.value, position);
      }
    }
  });
  index.prefixLengths = distinctLengths(index.prefix);
  index.prefixLengthsCaseless = distinctLengths(index.prefixCaseless);
  return index;
}

function addTo(table: Record<string, number[]>, key: string, position: number): void {
  // defineProperty, so that a key such as "__proto__" is stored as data, never as the prototype.
  if (!Object.hasOwn(table, key)) Object.defineProperty(table, key, { value: [], enumerable: true, writable: true, configurable: true });
  addOnce(table[key]!, position);
}

function addOnce(list: number[], position: number): void {
  if (list[list.length - 1] !== position) list.push(position);
}

function distinctLengths(table: Record<string, number[]>): number[] {
  return [...new Set(Object.keys(table).map((key) => key.length))].sort((a, b) => a - b);
}

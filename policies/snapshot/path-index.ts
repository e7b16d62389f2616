import type { CompiledMatch, HeaderSplit, PathIndex } from "./schema.js";

/**
 * Builds a virtual host's path index: for each route position, under which exact paths or path
 * prefixes it can match. A route is a candidate for a request only if one of its match blocks
 * could accept the path; the full match then runs on the few candidates, in route order. A list
 * in which many routes are told apart only by one header's exact value also gets a header split
 * (see `HeaderSplit` in schema.ts), so those routes cost a lookup instead of a scan.
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

  const required = routeMatches.map(requiredHeaderValues);
  const splitTable = (table: Record<string, number[]>): Record<string, HeaderSplit> | undefined => {
    let splits: Record<string, HeaderSplit> | undefined;
    for (const [key, list] of Object.entries(table)) {
      const split = splitByHeader(list, required);
      if (split === undefined) continue;
      splits ??= {};
      defineKey(splits, key, split);
    }
    return splits;
  };
  const exactSplit = splitTable(index.exact);
  const prefixSplit = splitTable(index.prefix);
  const exactCaselessSplit = splitTable(index.exactCaseless);
  const prefixCaselessSplit = splitTable(index.prefixCaseless);
  const anyPathSplit = splitByHeader(index.anyPath, required);
  // Only present when built, so a snapshot without any split is the same as before splits existed.
  if (exactSplit) index.exactSplit = exactSplit;
  if (prefixSplit) index.prefixSplit = prefixSplit;
  if (exactCaselessSplit) index.exactCaselessSplit = exactCaselessSplit;
  if (prefixCaselessSplit) index.prefixCaselessSplit = prefixCaselessSplit;
  if (anyPathSplit) index.anyPathSplit = anyPathSplit;
  return index;
}

/** A list is split only when at least this many of its routes (and a quarter of it) can be keyed. */
export const MIN_HEADER_SPLIT = 8;

/**
 * For one route: each header name that every one of its match blocks requires to be an exact
 * (case-sensitive) value, with the values the blocks require. The route can match a request only
 * if the request's header is one of those values. A route without match blocks requires nothing.
 */
function requiredHeaderValues(matches: readonly CompiledMatch[]): Map<string, string[]> {
  const required = new Map<string, string[]>();
  if (matches.length === 0) return required;
  matches.forEach((match, blockIndex) => {
    const inBlock = new Map<string, string>();
    for (const header of match.headers) {
      // The first exact condition on a name is enough: a block with two different exact values
      // for one header matches nothing, and keying it under either value is still sound.
      if (header.match.type === "exact" && header.match.ignoreCase !== true && !inBlock.has(header.name)) {
        inBlock.set(header.name, header.match.value);
      }
    }
    if (blockIndex === 0) {
      for (const [name, value] of inBlock) required.set(name, [value]);
      return;
    }
    for (const [name, values] of required) {
      const value = inBlock.get(name);
      if (value === undefined) required.delete(name);
      else if (!values.includes(value)) values.push(value);
    }
  });
  // The snapshot's schema (zod's record) drops a "__proto__" key when it parses the JSON, so a
  // route keyed under it would vanish from the split on the gateway: such a route is not keyed.
  for (const [name, values] of required) if (values.includes("__proto__")) required.delete(name);
  return required;
}

/** Splits a candidate list by the header name that keys most of its routes, when worth it. */
function splitByHeader(list: readonly number[], required: readonly Map<string, string[]>[]): HeaderSplit | undefined {
  if (list.length < MIN_HEADER_SPLIT) return undefined;
  const counts = new Map<string, number>();
  for (const position of list) {
    for (const name of required[position]!.keys()) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  let header: string | undefined;
  let best = 0;
  for (const [name, count] of counts) {
    if (count > best || (count === best && header !== undefined && name < header)) {
      header = name;
      best = count;
    }
  }
  if (header === undefined || best < MIN_HEADER_SPLIT || best * 4 < list.length) return undefined;
  const byValue = new Map<string, number[]>();
  const rest: number[] = [];
  for (const position of list) {
    const values = required[position]!.get(header);
    if (values === undefined) rest.push(position);
    else {
      for (const value of values) {
        const positions = byValue.get(value);
        if (positions === undefined) byValue.set(value, [position]);
        else addOnce(positions, position);
      }
    }
  }
  // fromEntries defines each key as data (as addTo does), in first-seen order.
  return { header, values: Object.fromEntries(byValue), rest };
}

function addTo(table: Record<string, number[]>, key: string, position: number): void {
  if (!Object.hasOwn(table, key)) defineKey(table, key, []);
  addOnce(table[key]!, position);
}

function defineKey<T>(table: Record<string, T>, key: string, value: T): void {
  // defineProperty, so that a key such as "__proto__" is stored as data, never as the prototype.
  Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
}

function addOnce(list: number[], position: number): void {
  if (list[list.length - 1] !== position) list.push(position);
}

function distinctLengths(table: Record<string, number[]>): number[] {
  return [...new Set(Object.keys(table).map((key) => key.length))].sort((a, b) => a - b);
}

import { hostMatchesPattern, lookupHost } from "../snapshot/hosts.js";
import type { CompiledGateway, CompiledMatch, CompiledRoute, HeaderSplit, PathIndex, Snapshot, VirtualHost } from "../snapshot/schema.js";
import type { RequestView } from "./request-view.js";
import { RegexCache, stringMatches } from "./string-match.js";

/**
 * Route selection over a compiled snapshot, as Istio does it at a gateway: the request's host
 * picks a Gateway server and the VirtualService bound to it; then the first route (in order)
 * whose match blocks accept the request wins. The path index narrows the routes to try (by path,
 * and where many routes are told apart by one header's exact value, by that value too), so the
 * cost depends on the few candidates, not on the number of routes.
 */

export interface RouteMatch {
  gateway: CompiledGateway;
  virtualHost: VirtualHost;
  route: CompiledRoute;
  /** The match block that accepted the request (undefined for a route with no match). */
  match: CompiledMatch | undefined;
}

/** A snapshot prepared for one gateway worker: only the Gateways whose selector its labels satisfy. */
export interface RoutingTable {
  snapshot: Snapshot;
  gateways: CompiledGateway[];
  regexes: RegexCache;
}

export function createRoutingTable(snapshot: Snapshot, workerLabels: Readonly<Record<string, string>>): RoutingTable {
  const gateways = snapshot.gateways.filter((gateway) =>
    Object.entries(gateway.selector).every(([key, value]) => workerLabels[key] === value),
  );
  const regexes = new RegexCache();
  // Compile every regex now: a snapshot's cost is paid when it is loaded, not on a request.
  for (const route of snapshot.routes) {
    for (const match of route.matches) {
      for (const condition of [match.uri, match.scheme, match.method, match.authority, ...match.headers.map((h) => h.match), ...match.withoutHeaders.map((h) => h.match), ...match.queryParams.map((q) => q.match)]) {
        if (condition?.type === "regex") regexes.get(condition.value, condition.ignoreCase === true);
      }
    }
  }
  return { snapshot, gateways, regexes };
}

export type HostResolution =
  | { kind: "found"; gateway: CompiledGateway; virtualHost: VirtualHost }
  | { kind: "no-gateway" }
  | { kind: "no-virtual-host"; gateway: CompiledGateway };

export function resolveVirtualHost(table: RoutingTable, host: string): HostResolution {
  let accepting: CompiledGateway | undefined;
  for (const gateway of table.gateways) {
    if (!gateway.serverHosts.some((pattern) => hostMatchesPattern(host, pattern))) continue;
    accepting ??= gateway;
    const id = lookupHost(gateway.virtualHosts, host);
    if (id !== undefined) return { kind: "found", gateway, virtualHost: table.snapshot.virtualHosts[id]! };
  }
  return accepting ? { kind: "no-virtual-host", gateway: accepting } : { kind: "no-gateway" };
}

export function matchRoute(table: RoutingTable, request: RequestView): RouteMatch | undefined {
  const resolved = resolveVirtualHost(table, request.host);
  if (resolved.kind !== "found") return undefined;
  return matchInVirtualHost(table, resolved.gateway, resolved.virtualHost, request);
}

export function matchInVirtualHost(
  table: RoutingTable,
  gateway: CompiledGateway,
  virtualHost: VirtualHost,
  request: RequestView,
): RouteMatch | undefined {
  const lists = candidateLists(virtualHost.pathIndex, request.path, request);
  if (lists.length === 0) return undefined;
  if (lists.length === 1) {
    for (const position of lists[0]!) {
      const found = tryRoute(table, gateway, virtualHost, position, request);
      if (found) return found;
    }
    return undefined;
  }
  // The lists are each in route order and may share positions (a route with several match
  // blocks): walk them together, smallest head first, and stop at the first route that matches,
  // so the first route costs the same at 10 or 10,000 candidates (no merge, no sort).
  const cursors = new Array<number>(lists.length).fill(0);
  for (;;) {
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < lists.length; i++) {
      const head = lists[i]![cursors[i]!];
      if (head !== undefined && head < next) next = head;
    }
    if (next === Number.POSITIVE_INFINITY) return undefined;
    for (let i = 0; i < lists.length; i++) if (lists[i]![cursors[i]!] === next) cursors[i]!++;
    const found = tryRoute(table, gateway, virtualHost, next, request);
    if (found) return found;
  }
}

function tryRoute(table: RoutingTable, gateway: CompiledGateway, virtualHost: VirtualHost, position: number, request: RequestView): RouteMatch | undefined {
  const route = table.snapshot.routes[virtualHost.routes[position]!]!;
  if (route.matches.length === 0) return { gateway, virtualHost, route, match: undefined };
  for (const match of route.matches) {
    if (matchAccepts(match, request, gateway.name, table.regexes)) return { gateway, virtualHost, route, match };
  }
  return undefined;
}

/**
 * Route positions that could match this path, ascending (route order), without duplicates. With
 * a request, also without the routes its headers rule out (the index's header splits).
 */
export function candidatePositions(index: PathIndex, path: string, request?: Pick<RequestView, "header">): number[] {
  const lists = candidateLists(index, path, request);
  if (lists.length === 0) return [];
  if (lists.length === 1) return lists[0]!;
  const merged = new Set<number>();
  for (const list of lists) for (const position of list) merged.add(position);
  return [...merged].sort((a, b) => a - b);
}

/**
 * The path index's lists that apply to this path, each ascending; empty lists left out. A list
 * with a header split (and a request to read the header from) is replaced by the routes keyed
 * under the request's value of that header plus the routes not keyed by it: the routes left out
 * require another value of the header in every match block, so none of them can match.
 */
function candidateLists(index: PathIndex, path: string, request: Pick<RequestView, "header"> | undefined): number[][] {
  const lists: number[][] = [];
  // Plain functions rather than closures over the request: this runs on every request.
  pushKeyed(lists, index.exact, request === undefined ? undefined : index.exactSplit, path, request);
  for (const length of index.prefixLengths) {
    if (length > path.length) break;
    pushKeyed(lists, index.prefix, request === undefined ? undefined : index.prefixSplit, path.slice(0, length), request);
  }
  if (index.prefixLengthsCaseless.length > 0 || hasKeys(index.exactCaseless)) {
    const lower = path.toLowerCase();
    pushKeyed(lists, index.exactCaseless, request === undefined ? undefined : index.exactCaselessSplit, lower, request);
    for (const length of index.prefixLengthsCaseless) {
      if (length > lower.length) break;
      pushKeyed(lists, index.prefixCaseless, request === undefined ? undefined : index.prefixCaselessSplit, lower.slice(0, length), request);
    }
  }
  if (index.anyPathSplit !== undefined && request !== undefined) pushSplit(lists, index.anyPathSplit, request);
  else pushList(lists, index.anyPath);
  return lists;
}

function pushList(lists: number[][], list: number[] | undefined): void {
  if (list !== undefined && list.length > 0) lists.push(list);
}

/** The list under `key`, or, when it has a split (only passed with a request), the split's lists for the request. */
function pushKeyed(
  lists: number[][],
  table: Record<string, number[]>,
  splits: Record<string, HeaderSplit> | undefined,
  key: string,
  request: Pick<RequestView, "header"> | undefined,
): void {
  if (splits !== undefined && Object.hasOwn(splits, key)) pushSplit(lists, splits[key]!, request!);
  else if (Object.hasOwn(table, key)) pushList(lists, table[key]);
}

function pushSplit(lists: number[][], split: HeaderSplit, request: Pick<RequestView, "header">): void {
  const value = request.header(split.header);
  if (value !== null && Object.hasOwn(split.values, value)) pushList(lists, split.values[value]);
  pushList(lists, split.rest);
}

function hasKeys(table: Record<string, unknown>): boolean {
  for (const _key in table) return true;
  return false;
}

export function matchAccepts(match: CompiledMatch, request: RequestView, gatewayName: string, regexes: RegexCache): boolean {
  if (match.gateways && !match.gateways.includes(gatewayName)) return false;
  if (match.uri && !stringMatches(match.uri, request.path, regexes)) return false;
  if (match.method && !stringMatches(match.method, request.method, regexes)) return false;
  if (match.scheme && !stringMatches(match.scheme, request.scheme, regexes)) return false;
  if (match.authority && !stringMatches(match.authority, request.authority, regexes)) return false;
  if (match.port !== undefined && match.port !== request.port) return false;
  for (const header of match.headers) if (!stringMatches(header.match, request.header(header.name), regexes)) return false;
  for (const header of match.withoutHeaders) if (stringMatches(header.match, request.header(header.name), regexes)) return false;
  for (const param of match.queryParams) if (!stringMatches(param.match, request.query(param.name), regexes)) return false;
  return true;
}

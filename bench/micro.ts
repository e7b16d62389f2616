import { gzipSync } from "node:zlib";
import { SnapshotSource } from "../gateway/config/snapshot-source.js";
import { createRoutingTable, matchRoute, type RoutingTable } from "../policies/routing/match-route.js";
import type { RequestView } from "../policies/routing/request-view.js";
import { pickWeightedDestination } from "../policies/resilience/weighted.js";
import { sha256Hex } from "../policies/identity/encoding.js";
import { generateSigningKeyPair, issueJwtSvid, jwtSvidAuthority } from "../policies/identity/issue.js";
import { verifyJwtSvid } from "../policies/identity/jwt-svid.js";
import type { TrustBundle } from "../policies/identity/trust-bundle.js";
import { VerifiedCache } from "../policies/identity/verified-cache.js";
import { snapshotKey } from "../policies/snapshot/kv-layout.js";
import { normaliseRequestHost } from "../policies/snapshot/hosts.js";
import { Snapshot } from "../policies/snapshot/schema.js";
import {
  lastMatchableRoute,
  meshConfig,
  requestFor,
  unmatchedRequest,
  type BenchRequest,
  type MeshShape,
} from "./full-config.js";
import type { Mode } from "./options.js";
import { compileResources, kvEntries, validateResources } from "./snapshot.js";
import { median, quantileSorted, round } from "./stats.js";

/**
 * Micro-benchmarks of the engine, in-process (policies/, plus the gateway's snapshot loader):
 * compile time, snapshot size, load time and heap of a compiled snapshot at 10 / 1,000 / 10,000
 * routes; the time to match a request (first, middle, last route, and no match) at each size, in
 * three shapes of config; the weighted destination draw. Run by the bench in a fresh Node process
 * with `--expose-gc` (`node --expose-gc --import tsx bench/micro.ts <mode>`); prints progress on
 * stderr and the figures as one JSON line on stdout.
 *
 * Per-call times are measured in batches (a batch's time divided by its calls, the batch sized
 * to take ~20 µs so the timer's own cost is negligible); median and p99 are over batches, so a
 * p99 is the p99 of a batch mean, not of single calls.
 */

export const SIZES = [10, 1_000, 10_000] as const;

export type MatchShapeName = "spread" | "one-host-paths" | "one-host-headers";

/** How the routes are laid out; `spread` is gateway-full's layout at every size. */
export const MATCH_SHAPES: Record<MatchShapeName, { describe: string; shape: (routes: number) => Omit<MeshShape, "upstreamPort"> }> = {
  spread: {
    describe: "10 routes per host (routes / 10 hosts), routes of a host share /api/ and differ by a header (gateway-full's layout)",
    shape: (routes) => ({ hosts: Math.max(1, routes / 10), routesPerHost: Math.min(routes, 10), distinguishBy: "header" }),
  },
  "one-host-paths": {
    describe: "all routes in one host, each on its own path prefix (the path index narrows to one candidate)",
    shape: (routes) => ({ hosts: 1, routesPerHost: routes, distinguishBy: "path" }),
  },
  "one-host-headers": {
    describe: "all routes in one host, on the same path prefix, told apart only by a header's exact value (every route is a path candidate; the header split narrows to one)",
    shape: (routes) => ({ hosts: 1, routesPerHost: routes, distinguishBy: "header" }),
  },
};

export type MatchCase = "first" | "middle" | "last" | "no-match";
const CASES: readonly MatchCase[] = ["first", "middle", "last", "no-match"];

interface Budget {
  /** Repetitions of compile/load, the median reported. */
  reps: number;
  /** Time spent timing one match case. */
  matchMs: number;
}

const BUDGETS: Record<Mode, Budget> = {
  full: { reps: 5, matchMs: 250 },
  quick: { reps: 2, matchMs: 40 },
  smoke: { reps: 1, matchMs: 8 },
};

export interface TimeFigure {
  median_ns: number;
  p99_ns: number;
  samples: number;
  batch: number;
}

export interface CompileFigure {
  routes: number;
  hosts: number;
  clusters: number;
  validate_ms: number;
  compile_ms: number;
  snapshot_bytes: number;
  snapshot_gzip_bytes: number;
  /** What the gateway does on a cold start or a swap: pointer + snapshot JSON.parse, zod validation, routing table, cluster state. */
  load_ms: number;
  load_json_parse_ms: number;
  load_schema_ms: number;
  /** V8 heap retained by the loaded snapshot (routing table and cluster state included). */
  heap_bytes: number;
}

export interface MicroResults {
  sizes: readonly number[];
  compile: CompileFigure[];
  match: Record<MatchShapeName, { describe: string; bySize: Record<string, Record<MatchCase, TimeFigure>> }>;
  /** median(10,000 routes) / median(10 routes), per shape and case: 1,000 would be linear. */
  growth: Record<MatchShapeName, Record<MatchCase, number>>;
  weighted_draw: TimeFigure & { destinations: number; share_first: number; expected_share_first: number };
  jwt_svid: { status: string; cold?: TimeFigure; cached?: TimeFigure; speedup?: number };
  notes: string[];
}

/** Loaded snapshots kept alive until the end, so a heap figure is not collected under the next one. */
const retained: unknown[] = [];
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const progress = (line: string) => process.stderr.write(`[micro] ${line}\n`);

function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Times `fn` per call, in batches, for about `budgetMs`. */
export function timePerCall(fn: () => unknown, budgetMs: number): TimeFigure {
  // Warm up (JIT) and estimate the cost of one call.
  let calls = 0;
  const warmStart = nowNs();
  while (nowNs() - warmStart < Math.max(2e6, budgetMs * 1e5) || calls < 100) {
    fn();
    calls++;
  }
  const estimate = (nowNs() - warmStart) / calls;
  const batch = Math.max(1, Math.min(1024, Math.ceil(20_000 / Math.max(estimate, 1))));
  const samples: number[] = [];
  const end = nowNs() + budgetMs * 1e6;
  while ((nowNs() < end || samples.length < 30) && samples.length < 200_000) {
    const start = nowNs();
    for (let index = 0; index < batch; index++) fn();
    samples.push((nowNs() - start) / batch);
  }
  samples.sort((a, b) => a - b);
  return { median_ns: round(quantileSorted(samples, 0.5), 3), p99_ns: round(quantileSorted(samples, 0.99), 3), samples: samples.length, batch };
}

function viewOf(request: BenchRequest): RequestView {
  const headers = new Map(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return {
    host: normaliseRequestHost(request.host),
    authority: request.host,
    path: request.path,
    method: "GET",
    scheme: "http",
    port: 80,
    header: (name) => headers.get(name) ?? null,
    query: () => null,
  };
}

function caseRequest(shape: MeshShape, which: MatchCase): BenchRequest {
  const last = lastMatchableRoute(shape);
  switch (which) {
    case "first":
      return requestFor(shape, 0, 0);
    case "middle":
      return requestFor(shape, Math.floor(shape.hosts / 2), shape.hosts > 1 ? Math.floor(last / 2) : Math.floor(shape.routesPerHost / 2));
    case "last":
      return requestFor(shape, shape.hosts - 1, last);
    case "no-match":
      return unmatchedRequest(shape, shape.hosts - 1);
  }
}

/** Loads a snapshot the way the gateway does (SnapshotSource over a KV), returning the time and what it holds. */
async function loadLikeGateway(entries: Record<string, string>): Promise<{ ms: number; source: SnapshotSource }> {
  const kv = { get: async (key: string) => entries[key] ?? null };
  const source = new SnapshotSource({ ttlMs: 60_000, labels: { istio: "ingressgateway" } });
  const start = nowNs();
  await source.get(kv, 0);
  const ms = (nowNs() - start) / 1e6;
  if (source.version === undefined) throw new Error(`the gateway's loader refused the snapshot: ${source.lastError}`);
  return { ms, source };
}

/** The routing table the gateway builds from a snapshot read from KV (JSON, then the schema). */
function tableFromJson(text: string): RoutingTable {
  return createRoutingTable(Snapshot.parse(JSON.parse(text)), { istio: "ingressgateway" });
}

/** V8 heap held by one snapshot loaded as the gateway loads it (kept alive, between full collections). */
async function retainedHeap(entries: Record<string, string>): Promise<number> {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const { source } = await loadLikeGateway(entries);
  retained.push(source);
  gc();
  gc();
  return process.memoryUsage().heapUsed - before;
}

async function loadTimes(entries: Record<string, string>, text: string, budget: Budget) {
  const loadMs: number[] = [];
  const parseMs: number[] = [];
  const schemaMs: number[] = [];
  for (let rep = 0; rep < budget.reps; rep++) {
    gc();
    loadMs.push((await loadLikeGateway(entries)).ms);
    let start = nowNs();
    const json: unknown = JSON.parse(text);
    parseMs.push((nowNs() - start) / 1e6);
    start = nowNs();
    Snapshot.parse(json);
    schemaMs.push((nowNs() - start) / 1e6);
  }
  return { loadMs, parseMs, schemaMs };
}

async function compileFigures(routes: number, budget: Budget): Promise<{ figure: CompileFigure; table: RoutingTable }> {
  const shape: MeshShape = { ...MATCH_SHAPES.spread.shape(routes), upstreamPort: 8080 };
  const raw = meshConfig(shape);
  const validateMs: number[] = [];
  const compileMs: number[] = [];
  let snapshot: Snapshot | undefined;
  for (let rep = 0; rep < budget.reps; rep++) {
    gc();
    let start = nowNs();
    const resources = validateResources(raw);
    validateMs.push((nowNs() - start) / 1e6);
    start = nowNs();
    snapshot = await compileResources(resources);
    compileMs.push((nowNs() - start) / 1e6);
  }
  const entries = kvEntries(snapshot!);
  const text = entries[snapshotKey(snapshot!.version)]!;
  const heap = await retainedHeap(entries);
  const { loadMs, parseMs, schemaMs } = await loadTimes(entries, text, budget);
  const figure: CompileFigure = {
    routes: snapshot!.routes.length,
    hosts: snapshot!.virtualHosts.length,
    clusters: Object.keys(snapshot!.clusters).length,
    validate_ms: round(median(validateMs), 3),
    compile_ms: round(median(compileMs), 3),
    snapshot_bytes: Buffer.byteLength(text),
    snapshot_gzip_bytes: gzipSync(text).length,
    load_ms: round(median(loadMs), 3),
    load_json_parse_ms: round(median(parseMs), 3),
    load_schema_ms: round(median(schemaMs), 3),
    heap_bytes: heap,
  };
  return { figure, table: tableFromJson(text) };
}

async function matchFigures(name: MatchShapeName, routes: number, budget: Budget, table?: RoutingTable): Promise<Record<MatchCase, TimeFigure>> {
  const shape: MeshShape = { ...MATCH_SHAPES[name].shape(routes), upstreamPort: 8080 };
  const routingTable = table ?? tableFromJson(JSON.stringify(await compileResources(validateResources(meshConfig(shape)))));
  const views = CASES.map((which) => {
    const request = caseRequest(shape, which);
    const view = viewOf(request);
    const matched = matchRoute(routingTable, view);
    if (matched?.route.name !== request.expectRoute) {
      throw new Error(`micro ${name}/${routes}/${which}: matched ${matched?.route.name ?? "nothing"}, expected ${request.expectRoute ?? "nothing"}`);
    }
    return view;
  });
  // Warm the matcher on all four cases together first, so no case is timed on colder code.
  const warmEnd = nowNs() + budget.matchMs * 1e6;
  while (nowNs() < warmEnd) for (const view of views) matchRoute(routingTable, view);
  const figures = {} as Record<MatchCase, TimeFigure>;
  CASES.forEach((which, index) => {
    const view = views[index]!;
    figures[which] = timePerCall(() => matchRoute(routingTable, view), budget.matchMs);
  });
  return figures;
}

function weightedDraw(budget: Budget): MicroResults["weighted_draw"] {
  const destinations = [
    { cluster: "v1", weight: 90 },
    { cluster: "v2", weight: 10 },
  ];
  const figure = timePerCall(() => pickWeightedDestination(destinations, 100, Math.random), budget.matchMs);
  let first = 0;
  const draws = 100_000;
  for (let index = 0; index < draws; index++) if (pickWeightedDestination(destinations, 100, Math.random) === destinations[0]) first++;
  return { ...figure, destinations: 2, share_first: round(first / draws, 4), expected_share_first: 0.9 };
}

/** Times an async call, one at a time, for about `budgetMs` (after a warm-up). */
async function timePerAsyncCall(fn: () => Promise<unknown>, budgetMs: number): Promise<TimeFigure> {
  for (let index = 0; index < 50; index++) await fn();
  const samples: number[] = [];
  const end = nowNs() + budgetMs * 1e6;
  while ((nowNs() < end || samples.length < 30) && samples.length < 100_000) {
    const start = nowNs();
    await fn();
    samples.push(nowNs() - start);
  }
  samples.sort((a, b) => a - b);
  return { median_ns: round(quantileSorted(samples, 0.5), 3), p99_ns: round(quantileSorted(samples, 0.99), 3), samples: samples.length, batch: 1 };
}

/**
 * JWT-SVID verification as the gateway does it (gateway/stages/request-authentication.ts):
 * cold = the full verification (ES256 signature, SPIFFE and claim rules); cached = the verified
 * token cache's lookup (SHA-256 of the token, then the LRU).
 */
async function jwtSvidFigures(budget: Budget): Promise<MicroResults["jwt_svid"]> {
  const keys = await generateSigningKeyPair("ES256");
  const jwk = await jwtSvidAuthority(keys.publicKey, "bench-key");
  const { use: _use, ...authority } = jwk;
  const bundle: TrustBundle = { trustDomain: "acme.test", x509Authorities: [], jwtAuthorities: [authority] };
  const now = Date.now();
  const token = await issueJwtSvid({ privateKey: keys.privateKey, kid: "bench-key", spiffeId: "spiffe://acme.test/ns/shop/sa/frontend", audience: "bench.local", now, ttlMs: 3_600_000 });
  const verify = () => verifyJwtSvid(token, () => bundle, { audience: "bench.local", now: Date.now() });
  const verified = await verify();
  const cache = new VerifiedCache<{ claims: unknown }>(4096);
  const key = async () => `svid|${await sha256Hex(token)}|bench.local|1`;
  cache.set(await key(), { claims: verified.claims }, now, verified.expiresAt);
  const cold = await timePerAsyncCall(verify, budget.matchMs);
  const cached = await timePerAsyncCall(async () => {
    if (!cache.get(await key(), Date.now())) throw new Error("the verified-token cache lost the token");
  }, budget.matchMs);
  return { status: "measured (ES256)", cold, cached, speedup: round(cold.median_ns / cached.median_ns, 1) };
}

export async function runMicroBenchmarks(mode: Mode): Promise<MicroResults> {
  const budget = BUDGETS[mode];
  const compile: CompileFigure[] = [];
  const match = {} as MicroResults["match"];
  for (const name of Object.keys(MATCH_SHAPES) as MatchShapeName[]) match[name] = { describe: MATCH_SHAPES[name].describe, bySize: {} };
  for (const routes of SIZES) {
    progress(`compile and load, ${routes} routes`);
    const { figure, table } = await compileFigures(routes, budget);
    compile.push(figure);
    progress(`match, ${routes} routes`);
    match.spread.bySize[routes] = await matchFigures("spread", routes, budget, table);
    match["one-host-paths"].bySize[routes] = await matchFigures("one-host-paths", routes, budget);
    match["one-host-headers"].bySize[routes] = await matchFigures("one-host-headers", routes, budget);
  }
  const growth = {} as MicroResults["growth"];
  const smallest = String(SIZES[0]);
  const largest = String(SIZES[SIZES.length - 1]);
  for (const name of Object.keys(match) as MatchShapeName[]) {
    growth[name] = {} as Record<MatchCase, number>;
    for (const which of CASES) {
      growth[name][which] = round(match[name].bySize[largest]![which].median_ns / match[name].bySize[smallest]![which].median_ns, 3);
    }
  }
  progress("weighted draw");
  return {
    sizes: SIZES,
    compile,
    match,
    growth,
    weighted_draw: weightedDraw(budget),
    jwt_svid: await jwtSvidFigures(budget),
    notes: [
      "match = matchRoute(table, request): host lookup, then the path index's candidates in route order, each match block checked (policies/routing/match-route.ts)",
      "the request view reads headers from a Map; in workerd the gateway reads a Headers object",
      "per-call times are batch means (batches of ~20 µs); p99 is over batches",
      "load = what the gateway does on a cold isolate or a config swap (gateway/config/snapshot-source.ts): JSON.parse, Snapshot schema validation, routing table, cluster state",
    ],
  };
}

if (process.argv[1]?.endsWith("micro.ts")) {
  const mode = (process.argv[2] ?? "full") as Mode;
  if (!(mode in BUDGETS)) throw new TypeError(`usage: micro.ts full|quick|smoke`);
  const results = await runMicroBenchmarks(mode);
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

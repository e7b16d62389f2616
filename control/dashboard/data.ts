import { PrometheusParseError } from "../../policies/telemetry/prometheus-parse.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";
import { scrapeMetrics } from "../telemetry/scrape.js";
import { readTrafficScrape, trafficRows, trafficWindow, type TrafficRow, type TrafficWindow } from "../telemetry/traffic.js";
import { destinationKeys, meshGraph, type MeshGraph } from "./graph.js";

/**
 * What `GET /v1/dashboard` answers: the graph of the current snapshot and, when the control
 * worker knows where gateways are (MESH_GATEWAY_URLS, or a MESH_GATEWAY service binding), live
 * traffic per destination read from their `/__mesh/metrics` on every call. The counts are the
 * gateways' since they started (cumulative, as Prometheus counters are); the page turns two
 * successive answers into a rate.
 */

export interface GatewayTarget {
  name: string;
  url: string;
  fetch?: (request: Request) => Promise<Response>;
}

export interface TrafficStatsView {
  requests: number;
  errors: number;
  errorRatio: number | null;
  /** Since the gateways started; null with no request. */
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface TrafficSourceView {
  name: string;
  ok: boolean;
  error?: string;
  /** The version the gateway serves, and whether it is the current one. */
  configVersion?: string | null;
  inSync?: boolean;
  /** How long its counters have been counting (since its isolate started). */
  sinceSeconds?: number | null;
}

export interface DashboardData {
  version: string | null;
  generatedAt: string;
  graph: MeshGraph;
  traffic: {
    /** False when the control worker was told of no gateway: counts are not available. */
    configured: boolean;
    sources: TrafficSourceView[];
    /** Destination node id → traffic. */
    destinations: Record<string, TrafficStatsView>;
    /** Requests no destination of the graph accounts for (no route, or a subset the snapshot does not name). */
    unattributed: TrafficStatsView;
    total: TrafficStatsView;
  };
}

export interface DashboardInput {
  version: string | null;
  snapshot: Snapshot | undefined;
  gateways: readonly GatewayTarget[];
  metricsToken?: string | undefined;
  now?: () => number;
  timeoutMs?: number;
}

const UNATTRIBUTED = "\u0000unattributed";
const TOTAL = "\u0000total";

export async function dashboardData(input: DashboardInput): Promise<DashboardData> {
  const now = input.now ?? Date.now;
  const graph = input.snapshot ? meshGraph(input.snapshot) : { nodes: [], edges: [] };
  const scraped = await Promise.all(
    input.gateways.map(async (gateway) => {
      const result = await scrapeMetrics({ url: gateway.url, token: input.metricsToken, timeoutMs: input.timeoutMs ?? 3000, now, ...(gateway.fetch ? { fetch: gateway.fetch } : {}) });
      if (!result.ok) return { gateway, error: result.message };
      try {
        return { gateway, scrape: readTrafficScrape(result.text, result.atMs) };
      } catch (error) {
        if (error instanceof PrometheusParseError) return { gateway, error: `${gateway.name} did not answer Prometheus text (${error.message})` };
        throw error;
      }
    }),
  );

  const sources: TrafficSourceView[] = [];
  const windows: TrafficWindow[] = [];
  for (const entry of scraped) {
    if (!("scrape" in entry) || !entry.scrape) {
      sources.push({ name: entry.gateway.name, ok: false, error: entry.error ?? "unknown error" });
      continue;
    }
    const window = trafficWindow(undefined, entry.scrape);
    windows.push(window);
    sources.push({ name: entry.gateway.name, ok: true, configVersion: entry.scrape.configVersion ?? null, inSync: entry.scrape.configVersion === input.version, sinceSeconds: window.seconds ?? null });
  }

  // Each series goes to the destination node of its host and subset; a host's series whose
  // version is no subset the graph names go to its subset-less node, if it has one.
  const keys = destinationKeys(graph);
  const subsets = new Map<string, Set<string>>();
  for (const key of keys) if (key.subset !== undefined) subsets.set(key.host, (subsets.get(key.host) ?? new Set()).add(key.subset));
  const nodeOf = new Map(keys.map((key) => [`${key.host}\u0000${key.subset ?? ""}`, key.id]));
  const attribute = (service: string, version: string) => nodeOf.get(`${service}\u0000${version}`) ?? (subsets.get(service)?.has(version) ? undefined : nodeOf.get(`${service}\u0000`)) ?? UNATTRIBUTED;
  const relabel = (name: (service: string, version: string) => string) =>
    windows.map((window) => ({ ...window, stats: window.stats.map((stats) => ({ ...stats, service: name(stats.service, stats.version), version: "" })) }));

  const destinations: Record<string, TrafficStatsView> = {};
  let unattributed = view(undefined);
  for (const row of trafficRows(relabel(attribute))) {
    if (row.service === UNATTRIBUTED) unattributed = view(row);
    else destinations[row.service] = view(row);
  }
  const total = view(trafficRows(relabel(() => TOTAL))[0]);
  return {
    version: input.version,
    generatedAt: new Date(now()).toISOString(),
    graph,
    traffic: { configured: input.gateways.length > 0, sources, destinations, unattributed, total },
  };
}

function view(row: TrafficRow | undefined): TrafficStatsView {
  if (!row) return { requests: 0, errors: 0, errorRatio: null, p50Ms: null, p99Ms: null };
  const finite = (value: number) => (Number.isFinite(value) ? value : null);
  return { requests: row.requests, errors: row.errors, errorRatio: row.errorRatio ?? null, p50Ms: finite(row.p50Ms), p99Ms: finite(row.p99Ms) };
}

/**
 * The gateways the control worker reads metrics from: MESH_GATEWAY_URLS (comma-separated
 * origins, fetched over the network) and a MESH_GATEWAY service binding (on Cloudflare, the way
 * one Worker reaches another). Checked once, when settings are parsed.
 */
export function gatewayTargets(urls: readonly string[], binding: { fetch(request: Request): Promise<Response> } | undefined): GatewayTarget[] {
  const targets: GatewayTarget[] = urls.map((url) => ({ name: new URL(url).host, url }));
  if (binding) targets.push({ name: "MESH_GATEWAY (service binding)", url: "https://mesh-gateway.internal", fetch: (request) => binding.fetch(request) });
  return targets;
}

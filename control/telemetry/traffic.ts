import {
  histogramQuantile,
  histogramSeries,
  parsePrometheusText,
  seriesKey,
  type HistogramBucket,
  type PromFamily,
} from "../../policies/telemetry/prometheus-parse.js";

/**
 * Traffic per destination, read from a gateway's `/__mesh/metrics` (Istio's standard metrics),
 * as `meshctl top` and the dashboard show it: requests, 5xx errors and the duration histogram per
 * `destination_service` and `destination_version` (the DestinationRule subset).
 *
 * Counters only grow, so what happened in a window is the difference between two scrapes, taken
 * per series as Prometheus's `rate()` does: a series that went down (its isolate restarted) counts
 * from zero. With no earlier scrape, the window is the gateway's whole life so far
 * (`process_start_time_seconds`). Quantiles are `histogram_quantile` over the window's buckets, the
 * same numbers Istio's dashboards draw from `rate(istio_request_duration_milliseconds_bucket[...])`.
 *
 * Only one reporter is read (default `source`, the gateway's own report: one per client request,
 * refusals included), as every Istio query must, or each request would be counted twice.
 */

export type Reporter = "source" | "destination";
/** `route` reads the gateway's per-route series (`mesh_route_*`), the others Istio's standard ones. */
export type TrafficGrouping = "version" | "service" | "route";

interface SeriesCounters {
  service: string;
  version: string;
  code: string;
  requests: number;
  buckets: HistogramBucket[];
}

/** One scrape of one gateway, reduced to what traffic summaries need. */
export interface TrafficScrape {
  atMs: number;
  /** `process_start_time_seconds`: a change means the isolate's counters started again. */
  startTimeSeconds: number | undefined;
  /** `mesh_config_version_info`'s version label. */
  configVersion: string | undefined;
  series: Map<string, SeriesCounters>;
  /** Per route (`mesh_route_*`, one report per client request): `service` holds the route name. */
  routes: Map<string, SeriesCounters>;
}

export interface TrafficStats {
  service: string;
  /** The subset (`destination_version`), or `*` when grouped by service. */
  version: string;
  requests: number;
  /** Requests answered 5xx (Istio's dashboards count everything else as a success). */
  errors: number;
  /** Cumulative duration buckets (ms), `+Inf` last. */
  buckets: HistogramBucket[];
}

/** What one gateway did in a window. */
export interface TrafficWindow {
  /** The window's length; undefined when the gateway does not say when it started. */
  seconds: number | undefined;
  /** True when the window starts at the gateway's start (no earlier scrape, or its counters restarted). */
  sinceStart: boolean;
  stats: TrafficStats[];
}

export interface TrafficRow {
  service: string;
  version: string;
  requests: number;
  errors: number;
  /** Requests per second over the window; undefined when its length is unknown. */
  rps: number | undefined;
  /** errors / requests; undefined with no request. */
  errorRatio: number | undefined;
  /** NaN with no request in the window. */
  p50Ms: number;
  p99Ms: number;
}

const REQUESTS = "istio_requests_total";
const DURATION = "istio_request_duration_milliseconds";
const ROUTE_REQUESTS = "mesh_route_requests_total";
const ROUTE_DURATION = "mesh_route_request_duration_milliseconds";

/** Reads a gateway's exposition (throws PrometheusParseError when it is not Prometheus text). */
export function readTrafficScrape(text: string, atMs: number, options: { reporter?: Reporter } = {}): TrafficScrape {
  return trafficScrapeOf(parsePrometheusText(text), atMs, options);
}

export function trafficScrapeOf(families: Map<string, PromFamily>, atMs: number, options: { reporter?: Reporter } = {}): TrafficScrape {
  const reporter = options.reporter ?? "source";
  const series = new Map<string, SeriesCounters>();
  const entry = (labels: Record<string, string>) => {
    const key = seriesKey(labels);
    let found = series.get(key);
    if (!found) {
      found = { service: labels.destination_service ?? "unknown", version: labels.destination_version ?? "unknown", code: labels.response_code ?? "", requests: 0, buckets: [] };
      series.set(key, found);
    }
    return found;
  };
  for (const sample of families.get(REQUESTS)?.samples ?? []) {
    if (sample.name === REQUESTS && sample.labels.reporter === reporter) entry(sample.labels).requests = sample.value;
  }
  const duration = families.get(DURATION);
  if (duration?.type === "histogram") {
    for (const histogram of histogramSeries(duration)) if (histogram.labels.reporter === reporter) entry(histogram.labels).buckets = histogram.buckets;
  }
  const routes = new Map<string, SeriesCounters>();
  const routeEntry = (labels: Record<string, string>) => {
    const key = seriesKey(labels);
    let found = routes.get(key);
    if (!found) routes.set(key, (found = { service: labels.route_name ?? "unknown", version: "*", code: labels.response_code ?? "", requests: 0, buckets: [] }));
    return found;
  };
  for (const sample of families.get(ROUTE_REQUESTS)?.samples ?? []) if (sample.name === ROUTE_REQUESTS) routeEntry(sample.labels).requests = sample.value;
  const routeDuration = families.get(ROUTE_DURATION);
  if (routeDuration?.type === "histogram") for (const histogram of histogramSeries(routeDuration)) routeEntry(histogram.labels).buckets = histogram.buckets;
  const start = families.get("process_start_time_seconds")?.samples[0]?.value;
  const version = families.get("mesh_config_version_info")?.samples[0]?.labels.version;
  return { atMs, startTimeSeconds: Number.isFinite(start) ? start : undefined, configVersion: version, series, routes };
}

/** What happened between `previous` and `current` (or since the gateway started), grouped. */
export function trafficWindow(previous: TrafficScrape | undefined, current: TrafficScrape, grouping: TrafficGrouping = "version"): TrafficWindow {
  const sinceStart = previous === undefined || previous.startTimeSeconds !== current.startTimeSeconds;
  const seconds = !sinceStart ? (current.atMs - previous!.atMs) / 1000 : current.startTimeSeconds !== undefined ? Math.max(0, current.atMs / 1000 - current.startTimeSeconds) : undefined;
  const groups = new Map<string, TrafficStats>();
  const byRoute = grouping === "route";
  for (const [key, now] of byRoute ? current.routes : current.series) {
    const before = sinceStart ? undefined : (byRoute ? previous!.routes : previous!.series).get(key);
    const version = grouping === "version" ? now.version : "*";
    const groupKey = `${now.service}\u0000${version}`;
    let group = groups.get(groupKey);
    if (!group) groups.set(groupKey, (group = { service: now.service, version, requests: 0, errors: 0, buckets: [] }));
    const requests = increase(before?.requests, now.requests);
    group.requests += requests;
    if (now.code.startsWith("5")) group.errors += requests;
    group.buckets = addBuckets(group.buckets, bucketIncrease(before?.buckets, now.buckets));
  }
  return { seconds, sinceStart, stats: [...groups.values()].sort(byName) };
}

/** Rows for display: windows of several gateways added up (rates too), sorted by service and version. */
export function trafficRows(windows: readonly TrafficWindow[]): TrafficRow[] {
  const rows = new Map<string, { row: TrafficRow; buckets: HistogramBucket[] }>();
  for (const window of windows) {
    for (const stats of window.stats) {
      const key = `${stats.service}\u0000${stats.version}`;
      let found = rows.get(key);
      if (!found) {
        found = { row: { service: stats.service, version: stats.version, requests: 0, errors: 0, rps: 0, errorRatio: undefined, p50Ms: Number.NaN, p99Ms: Number.NaN }, buckets: [] };
        rows.set(key, found);
      }
      found.row.requests += stats.requests;
      found.row.errors += stats.errors;
      found.row.rps = found.row.rps === undefined || window.seconds === undefined || window.seconds <= 0 ? undefined : found.row.rps + stats.requests / window.seconds;
      found.buckets = addBuckets(found.buckets, stats.buckets);
    }
  }
  return [...rows.values()]
    .map(({ row, buckets }) => ({
      ...row,
      errorRatio: row.requests > 0 ? row.errors / row.requests : undefined,
      p50Ms: histogramQuantile(0.5, buckets),
      p99Ms: histogramQuantile(0.99, buckets),
    }))
    .sort(byName);
}

/** Sum of two sets of cumulative buckets, bound by bound. */
export function addBuckets(a: readonly HistogramBucket[], b: readonly HistogramBucket[]): HistogramBucket[] {
  if (a.length === 0) return b.map((bucket) => ({ ...bucket }));
  if (b.length === 0) return a.map((bucket) => ({ ...bucket }));
  const sums = new Map<number, number>();
  for (const bucket of [...a, ...b]) sums.set(bucket.le, (sums.get(bucket.le) ?? 0) + bucket.count);
  return [...sums.entries()].map(([le, count]) => ({ le, count })).sort((x, y) => x.le - y.le);
}

/** A counter's increase: a counter that went down was reset, and everything it holds is new. */
function increase(before: number | undefined, now: number): number {
  if (before === undefined || now < before) return now;
  return now - before;
}

function bucketIncrease(before: readonly HistogramBucket[] | undefined, now: readonly HistogramBucket[]): HistogramBucket[] {
  if (!before || before.length === 0) return now.map((bucket) => ({ ...bucket }));
  const earlier = new Map(before.map((bucket) => [bucket.le, bucket.count]));
  const reset = now.some((bucket) => bucket.count < (earlier.get(bucket.le) ?? 0));
  return now.map((bucket) => ({ le: bucket.le, count: reset ? bucket.count : bucket.count - (earlier.get(bucket.le) ?? 0) }));
}

function byName(a: { service: string; version: string }, b: { service: string; version: string }): number {
  return a.service === b.service ? (a.version < b.version ? -1 : a.version > b.version ? 1 : 0) : a.service < b.service ? -1 : 1;
}

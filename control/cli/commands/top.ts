import { PrometheusParseError } from "../../../policies/telemetry/prometheus-parse.js";
import { scrapeMetrics, type ScrapeResult } from "../../telemetry/scrape.js";
import { readTrafficScrape, trafficRows, trafficWindow, type Reporter, type TrafficGrouping, type TrafficRow, type TrafficScrape, type TrafficWindow } from "../../telemetry/traffic.js";
import type { CommandContext } from "../context.js";
import { flagArg, stringArg } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { asJson, asYaml, table } from "../format.js";

/**
 * `meshctl top [--gateway URL]... [--interval SECONDS] [--once] [--by version|service|route]
 * [--reporter source|destination] [--metrics-token T]`: request rate, error rate, p50 and p99 per
 * destination service and version, from the gateways' `/__mesh/metrics`, refreshed every interval
 * (Ctrl-C stops it). Each frame covers the time since the scrape before it; the first covers the
 * gateway's life so far. `--once` prints one frame, over `--interval` seconds (0: since start).
 *
 * The gateway's metrics are Istio's, which have no route label: rows are per destination
 * (`destination_service`, `destination_version`), not per route.
 */

export interface TopGatewayState {
  name: string;
  url: string;
  configVersion?: string;
  /** The window this frame covers for this gateway. */
  windowSeconds?: number;
  sinceStart?: boolean;
  error?: string;
}

export interface TopFrame {
  at: string;
  reporter: Reporter;
  by: TrafficGrouping;
  gateways: TopGatewayState[];
  rows: TrafficRow[];
  total: TrafficRow;
}

const DEFAULT_INTERVAL_SECONDS = 2;

export async function top(context: CommandContext): Promise<number> {
  const intervalText = stringArg(context.args, "interval");
  const interval = intervalText === undefined ? DEFAULT_INTERVAL_SECONDS : Number(intervalText);
  const once = flagArg(context.args, "once");
  if (!Number.isFinite(interval) || interval < 0 || (!once && interval < 0.2) || interval > 3600) {
    throw new CliError(`--interval must be a number of seconds from 0.2 to 3600 (0 only with --once; got '${intervalText}')`, EXIT.usage);
  }
  const by = (stringArg(context.args, "by") ?? "version") as TrafficGrouping;
  if (by !== "version" && by !== "service" && by !== "route") throw new CliError(`--by must be version, service or route (got '${by}')`, EXIT.usage);
  const reporter = (stringArg(context.args, "reporter") ?? "source") as Reporter;
  if (reporter !== "source" && reporter !== "destination") throw new CliError(`--reporter must be source or destination (got '${reporter}')`, EXIT.usage);
  const token = stringArg(context.args, "metrics-token") ?? (context.env.MESH_METRICS_TOKEN || undefined);
  const gateways = await context.gateways();
  for (const gateway of gateways) {
    if (!URL.canParse(gateway.url) || !/^https?:$/.test(new URL(gateway.url).protocol)) throw new CliError(`the gateway URL '${gateway.url}' is not an http(s) URL (--gateway / MESH_GATEWAY_URLS)`, EXIT.usage);
  }

  const previous = new Map<string, TrafficScrape>();
  const frame = async (): Promise<{ frame: TopFrame; failures: ScrapeFailure[] }> => {
    const results = await Promise.all(gateways.map((gateway) => scrapeOne(gateway.url, token, reporter, context.fetch)));
    const states: TopGatewayState[] = [];
    const windows: TrafficWindow[] = [];
    const failures: ScrapeFailure[] = [];
    results.forEach((result, index) => {
      const gateway = gateways[index]!;
      if (!result.ok) {
        states.push({ ...gateway, error: result.message });
        failures.push(result);
        return;
      }
      const window = trafficWindow(previous.get(gateway.url), result.scrape, by);
      previous.set(gateway.url, result.scrape);
      windows.push(window);
      states.push({
        ...gateway,
        ...(result.scrape.configVersion !== undefined ? { configVersion: result.scrape.configVersion } : {}),
        ...(window.seconds !== undefined ? { windowSeconds: window.seconds } : {}),
        sinceStart: window.sinceStart,
      });
    });
    const rows = trafficRows(windows);
    const total = trafficRows(windows.map((window) => ({ ...window, stats: window.stats.map((stats) => ({ ...stats, service: "TOTAL", version: "" })) })))[0];
    return {
      frame: { at: new Date().toISOString(), reporter, by, gateways: states, rows, total: total ?? { service: "TOTAL", version: "", requests: 0, errors: 0, rps: 0, errorRatio: undefined, p50Ms: Number.NaN, p99Ms: Number.NaN } },
      failures,
    };
  };

  if (once) {
    if (interval > 0) {
      const first = await frame();
      if (first.failures.length === gateways.length) return fail(context, first.failures);
      context.err(`measuring for ${interval}s …`);
      await sleep(interval * 1000);
    }
    const { frame: result, failures } = await frame();
    print(context, result, { interval: once && interval === 0 ? undefined : interval, clear: false });
    return failures.length === gateways.length ? fail(context, failures) : EXIT.ok;
  }

  const stop = context.signal ?? stopOnSignals();
  for (;;) {
    const { frame: result } = await frame();
    print(context, result, { interval, clear: context.isTty === true, live: true });
    await sleep(interval * 1000, stop);
    if (stop.aborted) return EXIT.ok;
  }
}

type ScrapeFailure = Extract<ScrapeResult, { ok: false }> | { ok: false; reason: "parse_error"; message: string };

async function scrapeOne(url: string, token: string | undefined, reporter: Reporter, fetcher: typeof fetch | undefined): Promise<{ ok: true; scrape: TrafficScrape } | ScrapeFailure> {
  const scraped = await scrapeMetrics({ url, token, ...(fetcher ? { fetch: (request: Request) => fetcher(request) } : {}) });
  if (!scraped.ok) return scraped;
  try {
    return { ok: true, scrape: readTrafficScrape(scraped.text, scraped.atMs, { reporter }) };
  } catch (error) {
    if (error instanceof PrometheusParseError) return { ok: false, reason: "parse_error", message: `${url} did not answer Prometheus text (${error.message})` };
    throw error;
  }
}

function fail(_context: CommandContext, failures: ScrapeFailure[]): never {
  const unauthorized = failures.some((failure) => failure.reason === "unauthorized");
  throw new CliError(
    failures.map((failure) => failure.message).join("; "),
    unauthorized ? EXIT.refused : EXIT.unavailable,
    [],
    unauthorized ? "pass --metrics-token or set MESH_METRICS_TOKEN" : "is `npm start` running? Pass --gateway URL or set MESH_GATEWAY_URLS",
  );
}

function print(context: CommandContext, frame: TopFrame, options: { interval: number | undefined; clear: boolean; live?: boolean }): void {
  if (context.output === "json") return context.out(options.live ? JSON.stringify(frame) : asJson(frame));
  if (context.output === "yaml") return context.out(`${asYaml(frame)}${options.live ? "\n---" : ""}`);
  const lines = formatTopFrame(frame, options);
  context.out(`${options.clear ? "\x1b[H\x1b[2J" : ""}${lines.join("\n")}${options.live && !options.clear ? "\n" : ""}`);
}

/** The frame as the terminal shows it. */
export function formatTopFrame(frame: TopFrame, options: { interval?: number | undefined; live?: boolean } = {}): string[] {
  const when = frame.at.slice(11, 19);
  const every = options.live && options.interval !== undefined ? `  every ${options.interval}s (Ctrl-C to stop)` : "";
  const lines = [`meshctl top  ${when}${every}  reporter=${frame.reporter}, per ${frame.by === "version" ? "service and version" : frame.by}`];
  for (const gateway of frame.gateways) {
    if (gateway.error) {
      lines.push(`gateway ${gateway.name}  ${gateway.url}  ERROR ${gateway.error}`);
      continue;
    }
    const window = gateway.windowSeconds === undefined ? "window unknown" : gateway.sinceStart ? `since it started ${seconds(gateway.windowSeconds)} ago` : `last ${seconds(gateway.windowSeconds)}`;
    lines.push(`gateway ${gateway.name}  ${gateway.url}  config ${gateway.configVersion ?? "(none)"}  ${window}`);
  }
  const header = frame.by === "version" ? ["SERVICE", "VERSION", "REQUESTS", "RPS", "ERRORS", "P50", "P99"] : [frame.by === "route" ? "ROUTE" : "SERVICE", "REQUESTS", "RPS", "ERRORS", "P50", "P99"];
  const cells = (row: TrafficRow) => {
    const numbers = [String(row.requests), rate(row.rps), ratio(row.errorRatio), millis(row.p50Ms), millis(row.p99Ms)];
    return frame.by === "version" ? [row.service, row.version, ...numbers] : [row.service, ...numbers];
  };
  const rows = frame.rows.map(cells);
  if (frame.rows.length === 0) lines.push("", "no requests yet");
  else lines.push("", table(header, [...rows, cells(frame.total)]));
  return lines;
}

function seconds(value: number): string {
  return value < 120 ? `${value.toFixed(1)}s` : value < 7200 ? `${Math.round(value / 60)}m` : `${Math.round(value / 3600)}h`;
}

export function rate(rps: number | undefined): string {
  if (rps === undefined || !Number.isFinite(rps)) return "-";
  return rps >= 100 ? rps.toFixed(0) : rps >= 10 ? rps.toFixed(1) : rps.toFixed(2);
}

export function ratio(value: number | undefined): string {
  return value === undefined ? "-" : `${(value * 100).toFixed(1)}%`;
}

export function millis(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : ms >= 10 ? `${ms.toFixed(0)}ms` : `${ms.toFixed(2)}ms`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Ctrl-C (and SIGTERM) end the refresh loop cleanly, with exit code 0. */
function stopOnSignals(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return controller.signal;
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatTopFrame, millis, rate, ratio } from "../../control/cli/commands/top.js";
import { runMeshctl } from "../../control/cli/main.js";
import { istioRequestLabels, recordIstioRequest, registerIstioRequestMetrics } from "../../policies/telemetry/istio-metrics.js";
import { MetricRegistry } from "../../policies/telemetry/metric-registry.js";
import { formatPrometheusText } from "../../policies/telemetry/prometheus-text.js";
import { recordRouteRequest, registerRouteRequestMetrics } from "../../policies/telemetry/route-metrics.js";
import { startClosedPort } from "../support/upstream.js";

/**
 * `meshctl top` in-process, against gateways faked at the fetch level (their expositions made by
 * the gateway's own metric functions): the table, JSON output, the refresh loop, and every
 * failure's exit code. test/e2e/top.test.ts runs it as a process against a real gateway.
 */

let home: string;
beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "meshctl-top-"));
});
afterAll(() => rm(home, { recursive: true, force: true }));

function fakeGateway() {
  const registry = new MetricRegistry();
  const istio = registerIstioRequestMetrics(registry);
  const routes = registerRouteRequestMetrics(registry);
  registry.gauge("mesh_config_version_info", "", ["version"]).set({ version: "0123456789abcdef" }, 1);
  registry.gauge("process_start_time_seconds", "").set({}, Math.floor(Date.now() / 1000) - 100);
  return {
    record(host: string, subset: string, code: number, ms: number, times: number) {
      const labels = istioRequestLabels("source", { workload: "gw" }, { responseCode: code, responseFlags: [], requestProtocol: "http", destination: { host, subset } });
      for (let index = 0; index < times; index++) recordIstioRequest(istio, labels, { durationMs: ms, requestBytes: 0, responseBytes: 0 });
    },
    recordRoute(routeName: string | undefined, code: number, ms: number, times: number) {
      for (let index = 0; index < times; index++) recordRouteRequest(routes, { routeName, responseCode: code, responseFlags: [] }, ms);
    },
    text: () => formatPrometheusText(registry.collect()),
  };
}

async function meshctl(args: string[], options: { fetch?: typeof fetch; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runMeshctl(args, {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: { MESH_HOME: home, ...options.env },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { code, out, err: err.join("\n") };
}

function serving(routes: Record<string, () => Response>): typeof fetch & { calls: Request[] } {
  const calls: Request[] = [];
  const fake = (async (input: Request) => {
    calls.push(input);
    const handler = routes[new URL(input.url).origin];
    if (!handler) throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    return handler();
  }) as unknown as typeof fetch & { calls: Request[] };
  fake.calls = calls;
  return fake;
}

describe("meshctl top", () => {
  it("prints rate, errors, p50 and p99 per service and version since the gateway started (--once --interval 0)", async () => {
    const gateway = fakeGateway();
    gateway.record("reviews.local", "v1", 200, 3, 80);
    gateway.record("reviews.local", "v1", 503, 3, 20);
    gateway.record("reviews.local", "v2", 200, 120, 50);
    const fetcher = serving({ "http://gw.test": () => new Response(gateway.text()) });
    const result = await meshctl(["top", "--gateway", "http://gw.test", "--once", "--interval", "0"], { fetch: fetcher });
    expect(result.code, result.err).toBe(0);
    const lines = result.out.join("\n").split("\n");
    expect(lines[0]).toMatch(/^meshctl top {2}\d\d:\d\d:\d\d {2}reporter=source, per service and version$/);
    expect(lines[1]).toMatch(/^gateway gateway-1 {2}http:\/\/gw\.test {2}config 0123456789abcdef {2}since it started 1\d\d\.\ds ago$/);
    expect(lines.slice(3).map((line) => line.split(/\s{2,}/))).toEqual([
      ["SERVICE", "VERSION", "REQUESTS", "RPS", "ERRORS", "P50", "P99"],
      ["reviews.local", "v1", "100", expect.stringMatching(/^(0\.99|1\.00)$/), "20.0%", "3.00ms", "4.96ms"],
      ["reviews.local", "v2", "50", expect.stringMatching(/^0\.(49|50)$/), "0.0%", "175ms", "249ms"],
      ["TOTAL", "150", expect.stringMatching(/^1\.(49|50)$/), "13.3%", "4.00ms", "246ms"],
    ]);
    expect(fetcher.calls[0]!.url).toBe("http://gw.test/__mesh/metrics");
    expect(fetcher.calls[0]!.headers.get("authorization")).toBeNull();
  });

  it("groups by route with --by route, from the gateway's per-route series", async () => {
    const gateway = fakeGateway();
    gateway.record("reviews.local", "v1", 200, 3, 7);
    gateway.recordRoute("reviews-canary", 200, 3, 30);
    gateway.recordRoute("reviews-canary", 503, 3, 10);
    gateway.recordRoute(undefined, 404, 1, 5);
    const fetcher = serving({ "http://gw.test": () => new Response(gateway.text()) });
    const result = await meshctl(["top", "--gateway", "http://gw.test", "--once", "--interval", "0", "--by", "route", "-o", "json"], { fetch: fetcher });
    expect(result.code, result.err).toBe(0);
    const frame = JSON.parse(result.out.join("\n"));
    expect(frame.rows.map((row: { service: string; requests: number; errors: number }) => [row.service, row.requests, row.errors])).toEqual([
      ["reviews-canary", 40, 10],
      ["unknown", 5, 0],
    ]);
  });

  it("measures over --interval with --once, and says so on stderr", async () => {
    const gateway = fakeGateway();
    gateway.record("a.local", "v1", 200, 3, 1000);
    let scrapes = 0;
    const fetcher = serving({
      "http://gw.test": () => {
        // Ten new requests between the two scrapes.
        if (scrapes++ === 1) gateway.record("a.local", "v1", 500, 30, 10);
        return new Response(gateway.text());
      },
    });
    const result = await meshctl(["top", "--gateway", "http://gw.test", "--once", "--interval", "0.3", "-o", "json"], { fetch: fetcher });
    expect(result.code, result.err).toBe(0);
    expect(result.err).toBe("measuring for 0.3s …");
    const frame = JSON.parse(result.out.join("\n"));
    expect(frame.gateways[0]).toMatchObject({ url: "http://gw.test", configVersion: "0123456789abcdef", sinceStart: false });
    expect(frame.gateways[0].windowSeconds).toBeGreaterThanOrEqual(0.3);
    expect(frame.rows).toEqual([expect.objectContaining({ service: "a.local", version: "v1", requests: 10, errors: 10, errorRatio: 1 })]);
    expect(frame.rows[0].p50Ms).toBeCloseTo(37.5);
  });

  it("refreshes until stopped, one frame per interval, grouped by service with --by service", async () => {
    const gateway = fakeGateway();
    gateway.record("a.local", "v1", 200, 3, 10);
    gateway.record("a.local", "v2", 200, 3, 10);
    const controller = new AbortController();
    const frames: string[] = [];
    const fetcher = serving({
      "http://gw.test": () => {
        if (frames.length >= 2) controller.abort();
        return new Response(gateway.text());
      },
    });
    const out: string[] = [];
    const code = await runMeshctl(["top", "--gateway", "http://gw.test", "--interval", "0.2", "--by", "service"], {
      out: (text) => {
        out.push(text);
        frames.push(text);
      },
      err: () => {},
      env: { MESH_HOME: home },
      fetch: fetcher,
      signal: controller.signal,
    });
    expect(code).toBe(0);
    expect(out.length).toBeGreaterThanOrEqual(2);
    expect(out[0]).toContain("every 0.2s (Ctrl-C to stop)");
    expect(out[0]).toMatch(/a\.local\s+20\s/);
    // The next frames cover the interval only: nothing new happened.
    expect(out[1]).toMatch(/gateway gateway-1 {2}http:\/\/gw\.test {2}config \S+ {2}last \d+\.\ds/);
    expect(out[1]).toMatch(/a\.local\s+0\s+0\.00\s+-\s+-\s+-/);
  });

  it("sends the metrics token, and exits 1 with a hint when the gateway wants one", async () => {
    const gateway = fakeGateway();
    const fetcher = serving({
      "http://gw.test": () => new Response(gateway.text()),
      "http://locked.test": () => new Response("{}", { status: 401 }),
    });
    await meshctl(["top", "--gateway", "http://gw.test", "--once", "--interval", "0", "--metrics-token", "s3cret"], { fetch: fetcher });
    expect(fetcher.calls[0]!.headers.get("authorization")).toBe("Bearer s3cret");
    await meshctl(["top", "--gateway", "http://gw.test", "--once", "--interval", "0"], { fetch: fetcher, env: { MESH_METRICS_TOKEN: "from-env" } });
    expect(fetcher.calls[1]!.headers.get("authorization")).toBe("Bearer from-env");

    const locked = await meshctl(["top", "--gateway", "http://locked.test", "--once", "--interval", "0"], { fetch: fetcher });
    expect(locked.code).toBe(1);
    expect(locked.err).toContain("http://locked.test/__mesh/metrics needs the gateway's metrics token (MESH_METRICS_TOKEN)");
    expect(locked.err).toContain("hint: pass --metrics-token or set MESH_METRICS_TOKEN");
  });

  it("exits 3 when no gateway answers or one answers something else, 2 on bad flags", async () => {
    const closed = await startClosedPort();
    const unreachable = await meshctl(["top", "--gateway", closed.url, "--once", "--interval", "0"]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.err).toContain(`cannot reach ${closed.url}/__mesh/metrics (ECONNREFUSED)`);
    const html = await meshctl(["top", "--gateway", "http://html.test", "--once", "--interval", "0"], { fetch: serving({ "http://html.test": () => new Response("<html></html>") }) });
    expect(html.code).toBe(3);
    expect(html.err).toContain("http://html.test did not answer Prometheus text (line 1: expected a metric name");
    // One gateway down of two: the frame shows it, and top still succeeds.
    const gateway = fakeGateway();
    const mixed = await meshctl(["top", "--gateway", "http://gw.test", "--gateway", closed.url, "--once", "--interval", "0"], { fetch: serving({ "http://gw.test": () => new Response(gateway.text()) }) });
    expect(mixed.code).toBe(0);
    expect(mixed.out.join("\n")).toContain(`gateway gateway-2  ${closed.url}  ERROR cannot reach`);

    for (const args of [["--interval", "0"], ["--interval", "soon"], ["--once", "--interval", "-1"], ["--by", "subset"], ["--reporter", "sidecar"], ["--gateway", "ftp://x"]]) {
      expect((await meshctl(["top", ...args])).code, args.join(" ")).toBe(2);
    }
  });

  it("formats numbers for people", () => {
    expect([rate(undefined), rate(0), rate(0.456), rate(12.34), rate(1234.5)]).toEqual(["-", "0.00", "0.46", "12.3", "1235"]);
    expect([ratio(undefined), ratio(0), ratio(0.1234)]).toEqual(["-", "0.0%", "12.3%"]);
    expect([millis(Number.NaN), millis(0.25), millis(175), millis(2500)]).toEqual(["-", "0.25ms", "175ms", "2.50s"]);
    const empty = formatTopFrame({ at: "2026-01-01T10:00:00.000Z", reporter: "source", by: "version", gateways: [{ name: "g", url: "http://g", windowSeconds: 2, sinceStart: false }], rows: [], total: { service: "TOTAL", version: "", requests: 0, errors: 0, rps: 0, errorRatio: undefined, p50Ms: Number.NaN, p99Ms: Number.NaN } });
    expect(empty).toEqual(["meshctl top  10:00:00  reporter=source, per service and version", "gateway g  http://g  config (none)  last 2.0s", "", "no requests yet"]);
  });
});

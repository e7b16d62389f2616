import { describe, expect, it } from "vitest";
import { readTrafficScrape, trafficRows, trafficWindow } from "../../../control/telemetry/traffic.js";
import { istioRequestLabels, recordIstioRequest, registerIstioRequestMetrics, type Reporter } from "../../../policies/telemetry/istio-metrics.js";
import { MetricRegistry } from "../../../policies/telemetry/metric-registry.js";
import { formatPrometheusText } from "../../../policies/telemetry/prometheus-text.js";

/**
 * Traffic per destination from Istio's metrics, as `meshctl top` and the dashboard compute it:
 * only one reporter, 5xx as errors, increases between scrapes per series (a restart counts from
 * zero), quantiles over the window's buckets only.
 */

/** A gateway isolate's registry, made by the same functions the gateway records with. */
function fakeGateway(startSeconds: number, version = "v-1") {
  const registry = new MetricRegistry();
  const istio = registerIstioRequestMetrics(registry);
  registry.gauge("mesh_config_version_info", "", ["version"]).set({ version }, 1);
  registry.gauge("process_start_time_seconds", "").set({}, startSeconds);
  const gateway = { workload: "istio-ingressgateway", namespace: "istio-system" };
  return {
    record(reporter: Reporter, host: string | undefined, subset: string | undefined, code: number, ms: number, times = 1) {
      const labels = istioRequestLabels(reporter, gateway, { responseCode: code, responseFlags: [], requestProtocol: "http", ...(host ? { destination: { host, ...(subset ? { subset } : {}) } } : {}) });
      for (let index = 0; index < times; index++) recordIstioRequest(istio, labels, { durationMs: ms, requestBytes: 0, responseBytes: 0 });
    },
    text: () => formatPrometheusText(registry.collect()),
  };
}

describe("traffic from a gateway's metrics", () => {
  it("since the gateway started: requests, 5xx errors and quantiles per service and version, one reporter", () => {
    const gateway = fakeGateway(1000);
    gateway.record("source", "reviews.local", "v1", 200, 3, 8);
    gateway.record("source", "reviews.local", "v1", 503, 3, 2);
    gateway.record("source", "reviews.local", "v2", 200, 120, 5);
    gateway.record("source", "reviews.local", "v2", 404, 120, 1);
    gateway.record("source", undefined, undefined, 404, 0.2, 3);
    // The destination reports (one per upstream answer) are another view: never added in.
    gateway.record("destination", "reviews.local", "v1", 200, 2, 50);

    const scrape = readTrafficScrape(gateway.text(), 1010_000);
    expect(scrape).toMatchObject({ startTimeSeconds: 1000, configVersion: "v-1" });
    const window = trafficWindow(undefined, scrape);
    expect(window).toMatchObject({ seconds: 10, sinceStart: true });
    const rows = trafficRows([window]);
    expect(rows.map((row) => [row.service, row.version, row.requests, row.errors, row.rps])).toEqual([
      ["reviews.local", "v1", 10, 2, 1],
      ["reviews.local", "v2", 6, 0, 0.6],
      ["unknown", "unknown", 3, 0, 0.3],
    ]);
    expect(rows[0]!.errorRatio).toBeCloseTo(0.2);
    // All of v1 sits in the (1, 5] ms bucket, v2 in (100, 250].
    expect(rows[0]!.p50Ms).toBeCloseTo(3);
    expect(rows[0]!.p99Ms).toBeCloseTo(1 + 4 * 0.99);
    expect(rows[1]!.p50Ms).toBeCloseTo(175);
    expect(rows[1]!.p99Ms).toBeCloseTo(248.5);

    const destination = trafficRows([trafficWindow(undefined, readTrafficScrape(gateway.text(), 1010_000, { reporter: "destination" }))]);
    expect(destination.map((row) => [row.service, row.version, row.requests])).toEqual([["reviews.local", "v1", 50]]);
  });

  it("between two scrapes: only what happened in between, quantiles of the window alone", () => {
    const gateway = fakeGateway(1000);
    gateway.record("source", "ratings.local", undefined, 200, 4000, 100); // slow, before the window
    const first = readTrafficScrape(gateway.text(), 2000_000);
    gateway.record("source", "ratings.local", undefined, 200, 20, 30);
    gateway.record("source", "ratings.local", undefined, 500, 20, 10);
    gateway.record("source", "details.local", undefined, 200, 20, 4);
    const second = readTrafficScrape(gateway.text(), 2004_000);

    const window = trafficWindow(first, second);
    expect(window).toMatchObject({ seconds: 4, sinceStart: false });
    const rows = trafficRows([window]);
    expect(rows.map((row) => [row.service, row.version, row.requests, row.errors, row.rps])).toEqual([
      ["details.local", "unknown", 4, 0, 1],
      ["ratings.local", "unknown", 40, 10, 10],
    ]);
    // (10, 25] ms only: the slow requests before the window do not count.
    expect(rows[1]!.p99Ms).toBeCloseTo(10 + 15 * 0.99);

    // Nothing new: zero requests, no quantile.
    const idle = trafficRows([trafficWindow(second, readTrafficScrape(gateway.text(), 2006_000))]);
    expect(idle.find((row) => row.service === "ratings.local")).toMatchObject({ requests: 0, rps: 0, errorRatio: undefined });
    expect(idle[0]!.p50Ms).toBeNaN();
  });

  it("counts from zero after the isolate restarted, and adds up gateways and versions", () => {
    const before = fakeGateway(1000);
    before.record("source", "a.local", "v1", 200, 3, 50);
    const first = readTrafficScrape(before.text(), 1100_000);
    const restarted = fakeGateway(1090);
    restarted.record("source", "a.local", "v1", 200, 3, 5);
    const window = trafficWindow(first, readTrafficScrape(restarted.text(), 1100_000));
    expect(window).toMatchObject({ sinceStart: true, seconds: 10 });
    expect(trafficRows([window])[0]).toMatchObject({ requests: 5, rps: 0.5 });

    const other = fakeGateway(1000);
    other.record("source", "a.local", "v2", 200, 3, 20);
    other.record("source", "a.local", "v1", 200, 3, 10);
    const byService = [trafficWindow(undefined, readTrafficScrape(restarted.text(), 1100_000), "service"), trafficWindow(undefined, readTrafficScrape(other.text(), 1100_000), "service")];
    const [row] = trafficRows(byService);
    expect(row).toMatchObject({ service: "a.local", version: "*", requests: 35 });
    expect(row!.rps).toBeCloseTo(5 / 10 + 30 / 100);
  });
});

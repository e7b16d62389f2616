import { describe, expect, it } from "vitest";
import type { SpanRecord } from "../../../policies/telemetry/otlp.js";
import { OtlpExporter, parseHeaderList } from "../../../gateway/telemetry/otlp-exporter.js";
import { otlpTracesUrl } from "../../../gateway/telemetry/gateway-telemetry.js";
import { parseGatewaySettings } from "../../../gateway/env.js";

const span = (id: number): SpanRecord => ({ traceId: "1".repeat(32), spanId: id.toString(16).padStart(16, "0"), name: "s", kind: "server", startMs: 1, endMs: 2, attributes: {}, status: { code: "unset" } });

function recorder(status = 200) {
  const posts: { url: string; headers: Record<string, string>; spans: number }[] = [];
  const fetcher = (async (url: string, init: RequestInit) => {
    const body = JSON.parse(init.body as string);
    posts.push({ url, headers: init.headers as Record<string, string>, spans: body.resourceSpans[0].scopeSpans[0].spans.length });
    return new Response("{}", { status });
  }) as unknown as typeof fetch;
  return { posts, fetcher };
}

describe("OTLP exporter", () => {
  it("sends what several requests queued in one POST, in batches of maxBatch", async () => {
    const { posts, fetcher } = recorder();
    let exported = 0;
    const exporter = new OtlpExporter({ endpoint: "http://c/v1/traces", headers: { "x-key": "k" }, resource: {}, scope: { name: "t" }, fetcher, log: () => {}, now: Date.now, maxBatch: 3, onExported: (n) => (exported += n) });
    exporter.enqueue([span(1), span(2)]);
    const first = exporter.flushSoon();
    exporter.enqueue([span(3), span(4)]);
    const second = exporter.flushSoon();
    await Promise.all([first, second]);
    expect(posts.map((post) => post.spans)).toEqual([3, 1]);
    expect(posts[0]!.headers).toMatchObject({ "x-key": "k", "content-type": "application/json" });
    expect(exported).toBe(4);
    expect(exporter.queued).toBe(0);
  });

  it("drops the oldest spans beyond maxQueue, and counts them", () => {
    const dropped: [number, string][] = [];
    const exporter = new OtlpExporter({ endpoint: "http://c", resource: {}, scope: { name: "t" }, fetcher: recorder().fetcher, log: () => {}, now: Date.now, maxQueue: 2, onDropped: (n, reason) => dropped.push([n, reason]) });
    exporter.enqueue([span(1), span(2), span(3)]);
    expect(exporter.queued).toBe(2);
    expect(dropped).toEqual([[1, "queue_full"]]);
  });

  it("never throws when the collector fails, logs once a minute without credentials, and counts the loss", async () => {
    const logs: Record<string, unknown>[] = [];
    const dropped: [number, string][] = [];
    let now = 0;
    const exporter = new OtlpExporter({ endpoint: "http://c/v1/traces", headers: { authorization: "Bearer collector-secret" }, resource: {}, scope: { name: "t" }, fetcher: recorder(503).fetcher, log: (line) => logs.push(line), now: () => now, onDropped: (n, reason) => dropped.push([n, reason]) });
    exporter.enqueue([span(1)]);
    await exporter.flush();
    exporter.enqueue([span(2)]);
    await exporter.flush();
    now = 61_000;
    exporter.enqueue([span(3)]);
    await exporter.flush();
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatchObject({ event: "otlp_export_failed", endpoint: "http://c/v1/traces", reason: "collector answered 503" });
    expect(JSON.stringify(logs)).not.toContain("collector-secret");
    expect(dropped).toEqual([[1, "export_failed"], [1, "export_failed"], [1, "export_failed"]]);
  });

  it("reads collector headers and the endpoint the way OTLP exporters do", () => {
    expect(parseHeaderList("api-key=a%3Db, X-Team = edge")).toEqual({ "api-key": "a=b", "x-team": "edge" });
    expect(() => parseHeaderList("novalue")).toThrow(TypeError);
    expect(otlpTracesUrl("http://127.0.0.1:4318")).toBe("http://127.0.0.1:4318/v1/traces");
    expect(otlpTracesUrl("https://collector.example/custom/path")).toBe("https://collector.example/custom/path");
  });
});

describe("observability settings", () => {
  it("has Istio-like defaults", () => {
    expect(parseGatewaySettings({})).toMatchObject({ MESH_METRICS_REPORTERS: ["source", "destination"], MESH_WORKLOAD_NAME: "istio-ingressgateway", MESH_WORKLOAD_NAMESPACE: "istio-system", MESH_TRACE_SAMPLING: 100, MESH_ACCESS_LOG_SAMPLING: 100 });
    expect(parseGatewaySettings({ MESH_TRACE_SAMPLING: "2.5", MESH_METRICS_REPORTERS: "source", MESH_OTLP_ENDPOINT: "" }).MESH_TRACE_SAMPLING).toBe(2.5);
  });

  it.each([
    [{ MESH_TRACE_SAMPLING: "101" }, /MESH_TRACE_SAMPLING must be between 0 and 100/],
    [{ MESH_ACCESS_LOG_SAMPLING: "lots" }, /MESH_ACCESS_LOG_SAMPLING must be a number/],
    [{ MESH_METRICS_REPORTERS: "source,waypoint" }, /unknown 'waypoint'/],
    [{ MESH_OTLP_ENDPOINT: "ftp://collector" }, /MESH_OTLP_ENDPOINT must be an http\(s\) URL/],
    [{ MESH_ACCESS_LOG_FIELDS: "path,secret_header" }, /MESH_ACCESS_LOG_FIELDS/],
    [{ MESH_ACCESS_LOG_FILTER: "response.code >=" }, /MESH_ACCESS_LOG_FILTER/],
  ])("refuses %j", (env, message) => {
    expect(() => parseGatewaySettings(env)).toThrow(message);
  });
});

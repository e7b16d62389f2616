import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "../mesh-config.js";
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.js";

/**
 * Spans exported over OTLP/HTTP JSON to a receiver on 127.0.0.1: the gateway's server span is
 * the child of the caller's span, each upstream attempt is a client span under it (so a retry
 * shows as two siblings), and the upstream is told the attempt's span as its parent.
 */

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const SERVER = 2;
const CLIENT = 3;

let receiver: OtlpReceiver;
let flaky: Upstream;
let gateway: TestGateway;

beforeAll(async () => {
  [receiver, flaky] = await Promise.all([startOtlpReceiver(), startUpstream({ name: "flaky" })]);
  gateway = await startTestGateway(
    gatewayYaml() +
      serviceYaml("flaky.internal", [flaky]) +
      virtualServiceYaml(
        "traced",
        ["traced.test"],
        `- name: retried
  retries: { attempts: 2, retryOn: 5xx }
  route: [{ destination: { host: flaky.internal, subset: v1 } }]`,
      ),
    // A base URL without a path: the exporter adds OTLP's /v1/traces. Sampling 0% for new traces.
    { bindings: { MESH_OTLP_ENDPOINT: receiver.url, MESH_OTLP_HEADERS: "x-collector-key=k3y", MESH_TRACE_SAMPLING: "0" } },
  );
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([flaky?.close(), receiver?.close()]);
});

describe("tracing", () => {
  it("exports a server span under the caller's span and one client span per attempt", async () => {
    flaky.reset();
    flaky.failTimes(1, 503);
    const response = await gateway.fetch("/orders?id=7&access_token=hunter2", {
      host: "traced.test",
      headers: { traceparent: `00-${TRACE}-${CALLER_SPAN}-01`, tracestate: "congo=t61rcWkgMzE", "x-request-id": "trace-1" },
    });
    expect(response.status).toBe(200);

    const spans = await receiver.spansOf(TRACE, 3);
    const server = spans.find((span) => span.kind === SERVER)!;
    const attempts = spans.filter((span) => span.kind === CLIENT).sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    expect(spans).toHaveLength(3);
    expect(server.parentSpanId).toBe(CALLER_SPAN);
    expect(server.traceState).toBe("congo=t61rcWkgMzE");
    expect(server.name).toBe("GET retried");
    expect(server.attributes).toMatchObject({
      "http.request.method": "GET",
      "url.path": "/orders",
      "url.query": "id=7&access_token=REDACTED",
      "server.address": "traced.test",
      "http.response.status_code": 200,
      "guid:x-request-id": "trace-1",
      response_flags: "-",
      upstream_cluster: "flaky.internal|v1|80",
      "mesh.route_name": "retried",
      "mesh.destination.service": "flaky.internal",
      "mesh.destination.subset": "v1",
      "mesh.attempts": 2,
    });
    expect(server.resource["service.name"]).toBe("istio-ingressgateway.istio-system");
    expect(JSON.stringify(receiver.spans)).not.toContain("hunter2");

    expect(attempts.map((span) => span.parentSpanId)).toEqual([server.spanId, server.spanId]);
    expect(attempts.map((span) => span.attributes["http.response.status_code"])).toEqual([503, 200]);
    expect(attempts[0]!.attributes["http.request.resend_count"]).toBeUndefined();
    expect(attempts[1]!.attributes["http.request.resend_count"]).toBe(1);
    expect(attempts[0]!.status.code).toBe(2);
    expect(attempts.map((span) => span.attributes["server.port"])).toEqual([flaky.port, flaky.port]);
    expect(BigInt(attempts[0]!.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(attempts[1]!.startTimeUnixNano));

    // Each try told the upstream its own span as the parent, in W3C and B3 alike.
    expect(flaky.requests.map((request) => request.headers.traceparent)).toEqual(attempts.map((span) => `00-${TRACE}-${span.spanId}-01`));
    expect(flaky.requests[1]!.headers).toMatchObject({ tracestate: "congo=t61rcWkgMzE", "x-b3-traceid": TRACE, "x-b3-spanid": attempts[1]!.spanId, "x-b3-parentspanid": server.spanId, "x-b3-sampled": "1" });
    expect(receiver.requests.at(-1)).toMatchObject({ path: "/v1/traces" });
    expect(receiver.requests.at(-1)!.headers["x-collector-key"]).toBe("k3y");
  });

  it("continues a B3 trace and answers in B3", async () => {
    flaky.reset();
    const traceId = "a3ce929d0e0e4736";
    expect((await gateway.fetch("/", { host: "traced.test", headers: { "x-b3-traceid": traceId, "x-b3-spanid": "05e3ac9a4f6e3b90", "x-b3-sampled": "1" } })).status).toBe(200);
    const full = traceId.padStart(32, "0");
    const [server] = (await receiver.spansOf(full, 2)).filter((span) => span.kind === SERVER);
    expect(server!.parentSpanId).toBe("05e3ac9a4f6e3b90");
    expect(flaky.requests[0]!.headers).toMatchObject({ "x-b3-traceid": full, "x-b3-parentspanid": server!.spanId, "x-b3-sampled": "1" });
  });

  it("exports nothing for a trace the caller did not sample, or a new one at 0%, but still propagates", async () => {
    flaky.reset();
    const unsampled = "11111111111111111111111111111111";
    await gateway.fetch("/", { host: "traced.test", headers: { traceparent: `00-${unsampled}-${CALLER_SPAN}-00` } });
    await gateway.fetch("/", { host: "traced.test" });
    expect(flaky.requests[0]!.headers.traceparent).toMatch(new RegExp(`^00-${unsampled}-[0-9a-f]{16}-00$`));
    expect(flaky.requests[1]!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const fresh = flaky.requests[1]!.headers.traceparent!.slice(3, 35);
    // A sampled request after them flushes whatever is queued: neither trace is there.
    flaky.reset();
    const sampled = "22222222222222222222222222222222";
    await gateway.fetch("/", { host: "traced.test", headers: { traceparent: `00-${sampled}-${CALLER_SPAN}-01` } });
    await receiver.spansOf(sampled, 2);
    expect(receiver.spans.some((span) => span.traceId === unsampled || span.traceId === fresh)).toBe(false);
  });

  it("records a refused request (fault, no route) as a lone server span with its flag", async () => {
    const traceId = "33333333333333333333333333333333";
    expect((await gateway.fetch("/", { host: "nowhere.example", headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` } })).status).toBe(404);
    const [span] = await receiver.spansOf(traceId, 1);
    expect(span!.attributes).toMatchObject({ "http.response.status_code": 404, response_flags: "NR", "mesh.response_code_details": "no_gateway_for_host" });
    expect(span!.status.code ?? 0).toBe(0);
  });
});

describe("tracing at the default sampling", () => {
  it("starts a sampled trace when the request brings none: a root server span is exported", async () => {
    const sampledGateway = await startTestGateway(
      gatewayYaml() + serviceYaml("flaky.internal", [flaky]) + virtualServiceYaml("traced", ["traced.test"], `- route: [{ destination: { host: flaky.internal, subset: v1 } }]`),
      { bindings: { MESH_OTLP_ENDPOINT: receiver.url } },
    );
    try {
      flaky.reset();
      expect((await sampledGateway.fetch("/root", { host: "traced.test" })).status).toBe(200);
      const traceparent = flaky.requests.at(-1)!.headers.traceparent!;
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const spans = await receiver.spansOf(traceparent.slice(3, 35), 2);
      const server = spans.find((span) => span.kind === SERVER)!;
      expect(server.parentSpanId ?? "").toBe("");
      expect(spans.find((span) => span.kind === CLIENT)!.parentSpanId).toBe(server.spanId);
    } finally {
      await sampledGateway.close();
    }
  });

  it("never holds a response for the export: a collector that never answers delays nothing", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const silent = (await import("node:net")).createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as import("node:net").AddressInfo).port;
    const stuck = await startTestGateway(
      gatewayYaml() + serviceYaml("flaky.internal", [flaky]) + virtualServiceYaml("traced", ["traced.test"], `- route: [{ destination: { host: flaky.internal, subset: v1 } }]`),
      { bindings: { MESH_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } },
    );
    try {
      for (let index = 0; index < 3; index++) {
        const started = Date.now();
        expect((await stuck.fetch("/", { host: "traced.test" })).status).toBe(200);
        // The collector holds every export open for good; the answer does not wait for it.
        expect(Date.now() - started).toBeLessThan(2000);
      }
    } finally {
      await stuck.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

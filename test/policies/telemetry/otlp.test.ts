import { describe, expect, it } from "vitest";
import { encodeOtlpTraces, unixNano } from "../../../policies/telemetry/otlp.js";
import { isSensitiveParameter, redactPathAndQuery } from "../../../policies/telemetry/redact.js";

describe("OTLP/HTTP JSON", () => {
  it("encodes spans in the protobuf JSON mapping: hex ids, string nanos, numeric enums, typed attributes", () => {
    const body = encodeOtlpTraces({ "service.name": "istio-ingressgateway.istio-system" }, { name: "edge-mesh-gateway", version: "0.1.0" }, [
      {
        traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
        spanId: "00f067aa0ba902b7",
        parentSpanId: "05e3ac9a4f6e3b90",
        traceState: "a=b",
        name: "GET retried",
        kind: "server",
        startMs: 1700000000000,
        endMs: 1700000000012.5,
        attributes: { "http.response.status_code": 503, "mesh.sampled": true, ratio: 0.5, "url.path": "/x", absent: undefined },
        status: { code: "error", message: "upstream failed" },
        events: [{ name: "retry", timeMs: 1700000000001 }],
      },
    ]);
    expect(body).toEqual({
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "istio-ingressgateway.istio-system" } }] },
          scopeSpans: [
            {
              scope: { name: "edge-mesh-gateway", version: "0.1.0" },
              spans: [
                {
                  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
                  spanId: "00f067aa0ba902b7",
                  parentSpanId: "05e3ac9a4f6e3b90",
                  traceState: "a=b",
                  name: "GET retried",
                  kind: 2,
                  startTimeUnixNano: "1700000000000000000",
                  endTimeUnixNano: "1700000000012500000",
                  attributes: [
                    { key: "http.response.status_code", value: { intValue: "503" } },
                    { key: "mesh.sampled", value: { boolValue: true } },
                    { key: "ratio", value: { doubleValue: 0.5 } },
                    { key: "url.path", value: { stringValue: "/x" } },
                  ],
                  events: [{ name: "retry", timeUnixNano: "1700000000001000000", attributes: [] }],
                  status: { code: 2, message: "upstream failed" },
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it("never lets a span end before it starts, and converts times exactly", () => {
    const [span] = (encodeOtlpTraces({}, { name: "s" }, [{ traceId: "1".repeat(32), spanId: "2".repeat(16), name: "n", kind: "client", startMs: 10, endMs: 5, attributes: {}, status: { code: "unset" } }]) as any).resourceSpans[0].scopeSpans[0].spans;
    expect(span.endTimeUnixNano).toBe(span.startTimeUnixNano);
    expect(span.kind).toBe(3);
    expect(span.status).toEqual({ code: 0 });
    expect(unixNano(1)).toBe("1000000");
  });
});

describe("redaction", () => {
  it("replaces values of credential-like query parameters and keeps the rest", () => {
    expect(redactPathAndQuery("/cb?code=abc&state=xyz")).toBe("/cb?code=REDACTED&state=xyz");
    expect(redactPathAndQuery("/a?access_token=t&id=1&api_key=k&X-Amz-Signature=s&sig=1")).toBe("/a?access_token=REDACTED&id=1&api_key=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED");
    expect(redactPathAndQuery("/orders?id=1")).toBe("/orders?id=1");
    expect(redactPathAndQuery("/plain")).toBe("/plain");
    expect(redactPathAndQuery("/a?token")).toBe("/a?token");
    expect(redactPathAndQuery("/a?%74oken=x")).toBe("/a?%74oken=REDACTED");
    expect(isSensitiveParameter("password")).toBe(true);
    expect(isSensitiveParameter("page")).toBe(false);
  });
});

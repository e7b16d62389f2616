import { describe, expect, it } from "vitest";
import {
  extractTraceContext,
  formatB3Headers,
  formatB3Single,
  formatTraceparent,
  newId,
  parseB3Single,
  parseTraceparent,
  parseTracestate,
  sampledOnly,
} from "../../../policies/telemetry/trace-context.js";
import { decideTraceSampling, sampleByPercent } from "../../../policies/telemetry/sampling.js";
import { scriptedRandom, seededRandom } from "../resilience/seeded-random.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
const headers = (values: Record<string, string>) => (name: string) => values[name];

describe("W3C trace context", () => {
  it("parses the spec's example and its sampled flag", () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, parentSpanId: SPAN, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled).toBe(false);
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled).toBe(true);
  });

  it.each([
    ["version ff", `ff-${TRACE}-${SPAN}-01`],
    ["zero trace id", `00-${"0".repeat(32)}-${SPAN}-01`],
    ["zero span id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["uppercase", `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ["short trace id", `00-${TRACE.slice(2)}-${SPAN}-01`],
    ["extra field on version 00", `00-${TRACE}-${SPAN}-01-extra`],
    ["garbage", "hello"],
  ])("rejects %s", (_case, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it("accepts a future version with extra fields", () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-whatever`)?.traceId).toBe(TRACE);
  });

  it("formats what it parses", () => {
    expect(formatTraceparent(TRACE, SPAN, true)).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(formatTraceparent(TRACE, SPAN, false)).toBe(`00-${TRACE}-${SPAN}-00`);
  });

  it("passes on a valid tracestate and drops an invalid one whole", () => {
    expect(parseTracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")).toBe("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    expect(parseTracestate("tenant@vendor=x")).toBe("tenant@vendor=x");
    expect(parseTracestate("Upper=x")).toBeUndefined();
    expect(parseTracestate("a=1,a=2")).toBeUndefined();
    expect(parseTracestate("novalue")).toBeUndefined();
    expect(parseTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(","))).toBeUndefined();
  });
});

describe("B3", () => {
  it("parses multi headers, padding a 64-bit trace id", () => {
    expect(extractTraceContext(headers({ "x-b3-traceid": "a3ce929d0e0e4736", "x-b3-spanid": SPAN, "x-b3-sampled": "1" }))).toEqual({
      traceId: "0000000000000000a3ce929d0e0e4736",
      parentSpanId: SPAN,
      sampled: true,
      format: "b3",
    });
    expect(extractTraceContext(headers({ "x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-flags": "1", "x-b3-sampled": "0" }))?.sampled).toBe(true);
    expect(extractTraceContext(headers({ "x-b3-traceid": TRACE, "x-b3-spanid": SPAN }))?.sampled).toBeUndefined();
  });

  it("parses the single header, including a lone decision", () => {
    expect(parseB3Single(`${TRACE}-${SPAN}-1-05e3ac9a4f6e3b90`)).toEqual({ traceId: TRACE, parentSpanId: SPAN, sampled: true });
    expect(parseB3Single(`${TRACE}-${SPAN}`)).toEqual({ traceId: TRACE, parentSpanId: SPAN });
    expect(parseB3Single(`${TRACE}-${SPAN}-d`)?.sampled).toBe(true);
    expect(parseB3Single("0")).toEqual({ sampled: false });
    expect(parseB3Single(`${TRACE}-${SPAN}-x`)).toBeUndefined();
    expect(sampledOnly(headers({ b3: "0" }))).toBe(false);
    expect(sampledOnly(headers({ "x-b3-sampled": "1" }))).toBe(true);
    expect(extractTraceContext(headers({ b3: "0" }))).toBeUndefined();
  });

  it("prefers W3C over B3 when both arrive", () => {
    const context = extractTraceContext(headers({ traceparent: `00-${TRACE}-${SPAN}-00`, tracestate: "a=b", b3: `${"1".repeat(32)}-${"2".repeat(16)}-1` }));
    expect(context).toEqual({ traceId: TRACE, parentSpanId: SPAN, sampled: false, traceState: "a=b", format: "w3c" });
  });

  it("falls back to B3 when traceparent is malformed", () => {
    expect(extractTraceContext(headers({ traceparent: "junk", b3: `${TRACE}-${SPAN}-0` }))?.format).toBe("b3-single");
  });

  it("formats headers for the next hop", () => {
    expect(formatB3Headers(TRACE, SPAN, "05e3ac9a4f6e3b90", true)).toEqual({ "x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-parentspanid": "05e3ac9a4f6e3b90", "x-b3-sampled": "1" });
    expect(formatB3Single(TRACE, SPAN, undefined, false)).toBe(`${TRACE}-${SPAN}-0`);
  });
});

describe("ids and sampling", () => {
  it("makes ids of the right width, never all zeros", () => {
    let call = 0;
    const bytes = (length: number) => (call++ === 0 ? new Uint8Array(length) : new Uint8Array(length).fill(0xab));
    expect(newId(8, bytes)).toBe("abababababababab");
    expect(newId(16, (length) => crypto.getRandomValues(new Uint8Array(length)))).toMatch(/^[0-9a-f]{32}$/);
  });

  it("follows the parent's decision, else samples the configured percentage", () => {
    expect(decideTraceSampling(true, 0, scriptedRandom())).toBe(true);
    expect(decideTraceSampling(false, 100, scriptedRandom())).toBe(false);
    expect(decideTraceSampling(undefined, 10, scriptedRandom(0.05))).toBe(true);
    expect(decideTraceSampling(undefined, 10, scriptedRandom(0.1))).toBe(false);
    expect(sampleByPercent(0, scriptedRandom())).toBe(false);
    expect(sampleByPercent(100, scriptedRandom())).toBe(true);
    const random = seededRandom(7);
    let sampled = 0;
    for (let i = 0; i < 10_000; i++) if (sampleByPercent(25, random)) sampled++;
    expect(Math.abs(sampled - 2500)).toBeLessThan(200);
  });
});

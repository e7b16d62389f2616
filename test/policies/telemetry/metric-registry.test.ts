import { describe, expect, it } from "vitest";
import { MetricRegistry } from "../../../policies/telemetry/metric-registry.js";
import { formatPrometheusText, PROMETHEUS_CONTENT_TYPE } from "../../../policies/telemetry/prometheus-text.js";
import { only, parseExposition } from "./prometheus-parser.js";

describe("metric registry and text exposition", () => {
  it("counts per label set and reads back through a real text-format parser", () => {
    const registry = new MetricRegistry();
    const requests = registry.counter("http_requests_total", "Requests.", ["code", "path"]);
    requests.inc({ code: "200", path: "/a" });
    requests.inc({ code: "200", path: "/a" }, 2);
    requests.inc({ code: "503", path: "/b" });
    const parsed = parseExposition(formatPrometheusText(registry.collect()));
    const family = parsed.get("http_requests_total")!;
    expect(family.type).toBe("counter");
    expect(family.help).toBe("Requests.");
    expect(only(family.samples, { code: "200" }).value).toBe(3);
    expect(only(family.samples, { code: "503" })).toEqual({ labels: { code: "503", path: "/b" }, value: 1 });
  });

  it("puts each observation in the first bucket whose bound is >= the value, cumulatively", () => {
    const registry = new MetricRegistry();
    const sizes = registry.histogram("sizes", "Sizes.", ["kind"], [1, 5, 10]);
    for (const value of [0, 1, 1.5, 5, 11, 1000]) sizes.observe({ kind: "a" }, value);
    sizes.observe({ kind: "b" }, 7);
    const family = parseExposition(formatPrometheusText(registry.collect())).get("sizes")!;
    expect(family.type).toBe("histogram");
    const a = only(family.histograms, { kind: "a" });
    expect(Object.fromEntries(a.buckets)).toEqual({ "1": 2, "5": 4, "10": 4, "+Inf": 6 });
    expect(a.count).toBe(6);
    expect(a.sum).toBe(1018.5);
    const b = only(family.histograms, { kind: "b" });
    expect(Object.fromEntries(b.buckets)).toEqual({ "1": 0, "5": 0, "10": 1, "+Inf": 1 });
  });

  it("escapes label values and help text so a parser reads back exactly what was recorded", () => {
    const registry = new MetricRegistry();
    const weird = 'quote " backslash \\ newline \n brace } comma , equals = end';
    registry.counter("escaped_total", 'Help with \\ and\nnewline and "quotes".', ["value"]).inc({ value: weird });
    registry.gauge("unicode", "Ünïcødé ✓", ["v"]).set({ v: "日本語" }, -1.5);
    const text = formatPrometheusText(registry.collect());
    expect(text).toContain(String.raw`escaped_total{value="quote \" backslash \\ newline \n brace } comma , equals = end"} 1`);
    const parsed = parseExposition(text);
    expect(parsed.get("escaped_total")!.samples[0]!.labels.value).toBe(weird);
    expect(parsed.get("escaped_total")!.help).toBe('Help with \\ and\nnewline and "quotes".');
    expect(parsed.get("unicode")!.samples[0]).toEqual({ labels: { v: "日本語" }, value: -1.5 });
  });

  it("writes the exact 0.0.4 text layout for a labelled histogram", () => {
    const registry = new MetricRegistry();
    registry.histogram("latency_ms", "Latency.", ["route"], [0.5, 3600000]).observe({ route: "r" }, 2);
    expect(formatPrometheusText(registry.collect())).toBe(
      [
        "# HELP latency_ms Latency.",
        "# TYPE latency_ms histogram",
        'latency_ms_bucket{route="r",le="0.5"} 0',
        'latency_ms_bucket{route="r",le="3600000"} 1',
        'latency_ms_bucket{route="r",le="+Inf"} 1',
        'latency_ms_sum{route="r"} 2',
        'latency_ms_count{route="r"} 1',
        "",
      ].join("\n"),
    );
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("prints special values the way Prometheus spells them", () => {
    const registry = new MetricRegistry();
    const gauge = registry.gauge("special", "Special values.", ["v"]);
    gauge.set({ v: "inf" }, Number.POSITIVE_INFINITY);
    gauge.set({ v: "-inf" }, Number.NEGATIVE_INFINITY);
    gauge.set({ v: "nan" }, Number.NaN);
    const samples = parseExposition(formatPrometheusText(registry.collect())).get("special")!.samples;
    expect(only(samples, { v: "inf" }).value).toBe(Number.POSITIVE_INFINITY);
    expect(only(samples, { v: "-inf" }).value).toBe(Number.NEGATIVE_INFINITY);
    expect(only(samples, { v: "nan" }).value).toBeNaN();
  });

  it("drops series beyond the limit and says so, instead of growing without bound", () => {
    const dropped: string[] = [];
    const registry = new MetricRegistry({ maxSeries: 2, onDropped: (name) => dropped.push(name) });
    const counter = registry.counter("c_total", "C.", ["id"]);
    for (const id of ["1", "2", "3", "1"]) counter.inc({ id });
    const samples = parseExposition(formatPrometheusText(registry.collect())).get("c_total")!.samples;
    expect(samples.map((sample) => [sample.labels.id, sample.value])).toEqual([["1", 2], ["2", 1]]);
    expect(dropped).toEqual(["c_total"]);
  });

  it("treats misuse as a programmer's error (TypeError) at declaration or on the wrong labels", () => {
    const registry = new MetricRegistry();
    expect(() => registry.counter("bad-name", "x")).toThrow(TypeError);
    expect(() => registry.counter("ok_total", "x", ["__reserved"])).toThrow(TypeError);
    expect(() => registry.histogram("h", "x", ["le"], [1])).toThrow(TypeError);
    expect(() => registry.histogram("h", "x", [], [5, 1])).toThrow(TypeError);
    expect(() => registry.histogram("h", "x", [], [1, Number.POSITIVE_INFINITY])).toThrow(TypeError);
    const counter = registry.counter("ok_total", "x", ["a"]);
    expect(registry.counter("ok_total", "x", ["a"])).toBe(counter);
    expect(() => registry.gauge("ok_total", "x", ["a"])).toThrow(TypeError);
    expect(() => counter.inc({})).toThrow(TypeError);
    expect(() => counter.inc({ a: "1", b: "2" })).toThrow(TypeError);
    expect(() => counter.inc({ a: "1" }, -1)).toThrow(TypeError);
  });

  it("exposes nothing for an empty registry; an unlabelled counter reads 0 before it counts, a labelled one with no series is HELP and TYPE only", () => {
    expect(formatPrometheusText(new MetricRegistry().collect())).toBe("");
    const registry = new MetricRegistry();
    registry.counter("idle_total", "Idle.");
    registry.counter("idle_by_kind_total", "Idle by kind.", ["kind"]);
    expect(formatPrometheusText(registry.collect())).toBe("# HELP idle_total Idle.\n# TYPE idle_total counter\nidle_total 0\n# HELP idle_by_kind_total Idle by kind.\n# TYPE idle_by_kind_total counter\n");
  });
});

import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { ISTIO_DEFAULT_BUCKETS } from "../../../policies/telemetry/istio-metrics.js";
import { MetricRegistry } from "../../../policies/telemetry/metric-registry.js";
import { histogramQuantile, histogramSeries, parsePrometheusText, PrometheusParseError, type HistogramBucket } from "../../../policies/telemetry/prometheus-parse.js";
import { formatPrometheusText } from "../../../policies/telemetry/prometheus-text.js";

/**
 * The Prometheus text parser behind `meshctl top` and the dashboard: it reads back exactly what
 * the gateway's formatter writes (histograms per series, labels intact), agrees with an
 * independent parser (the npm package parse-prometheus-text-format) where that one is right, and
 * refuses malformed input with a code and a line number. histogramQuantile is checked against
 * Prometheus's own test cases (promql/testdata/histograms.test).
 */

function registryWithTraffic(): MetricRegistry {
  const registry = new MetricRegistry();
  const requests = registry.counter("istio_requests_total", "Requests.", ["reporter", "destination_service", "response_code"]);
  const duration = registry.histogram("istio_request_duration_milliseconds", "Duration.", ["reporter", "destination_service"], ISTIO_DEFAULT_BUCKETS);
  const info = registry.gauge("mesh_config_version_info", "Version.", ["version"]);
  requests.inc({ reporter: "source", destination_service: "a.local", response_code: "200" }, 3);
  requests.inc({ reporter: "source", destination_service: 'odd "name"\\with\nnewline', response_code: "503" });
  for (const ms of [0.3, 4, 7, 120, 9000]) duration.observe({ reporter: "source", destination_service: "a.local" }, ms);
  duration.observe({ reporter: "destination", destination_service: "a.local" }, 2);
  info.set({ version: "abc" }, 1);
  registry.gauge("mesh_config_age_seconds", "Age.").set({}, Number.NaN);
  return registry;
}

describe("parsePrometheusText", () => {
  it("reads back what the gateway's formatter writes, histograms per series", () => {
    const text = formatPrometheusText(registryWithTraffic().collect());
    const families = parsePrometheusText(text);
    expect([...families.keys()]).toEqual(["istio_requests_total", "istio_request_duration_milliseconds", "mesh_config_version_info", "mesh_config_age_seconds"]);
    const requests = families.get("istio_requests_total")!;
    expect(requests).toMatchObject({ type: "counter", help: "Requests." });
    expect(requests.samples).toEqual([
      { name: "istio_requests_total", labels: { reporter: "source", destination_service: "a.local", response_code: "200" }, value: 3 },
      { name: "istio_requests_total", labels: { reporter: "source", destination_service: 'odd "name"\\with\nnewline', response_code: "503" }, value: 1 },
    ]);
    expect(families.get("mesh_config_age_seconds")!.samples[0]!.value).toBeNaN();

    const duration = families.get("istio_request_duration_milliseconds")!;
    expect(duration.type).toBe("histogram");
    const series = histogramSeries(duration);
    expect(series.map((entry) => entry.labels)).toEqual([
      { reporter: "source", destination_service: "a.local" },
      { reporter: "destination", destination_service: "a.local" },
    ]);
    const source = series[0]!;
    expect(source.count).toBe(5);
    expect(source.sum).toBeCloseTo(9131.3);
    expect(source.buckets).toHaveLength(ISTIO_DEFAULT_BUCKETS.length + 1);
    expect(source.buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 5 });
    expect(source.buckets.find((bucket) => bucket.le === 5)).toEqual({ le: 5, count: 2 });
    expect(source.buckets.find((bucket) => bucket.le === 250)).toEqual({ le: 250, count: 4 });
  });

  it("agrees with parse-prometheus-text-format on counters and gauges", () => {
    const text = formatPrometheusText(registryWithTraffic().collect());
    const ours = parsePrometheusText(text);
    for (const family of parsePrometheusTextFormat(text)) {
      if (family.type === "HISTOGRAM") continue; // that package drops histogram labels (see test/policies/telemetry/prometheus-parser.ts)
      const mine = ours.get(family.name)!;
      expect(mine.type).toBe(family.type.toLowerCase());
      expect(mine.samples.map((sample) => ({ labels: sample.labels, value: String(sample.value) }))).toEqual(
        family.metrics.map((metric) => ({ labels: metric.labels ?? {}, value: metric.value })),
      );
    }
  });

  it("takes what the format allows: comments, blank lines, CRLF, timestamps, special values, a trailing comma", () => {
    const families = parsePrometheusText(
      [
        "# a comment",
        "",
        "# HELP up Whether the target is up.\\nSecond line \\\\ done",
        "# TYPE up gauge\r",
        'up{job="a",} 1 1700000000000',
        "up  +Inf",
        "up\t-Inf",
        "up NaN",
        "up 1.5e3",
        "untyped_thing 7",
        "  ",
      ].join("\n"),
    );
    expect(families.get("up")!.help).toBe("Whether the target is up.\nSecond line \\ done");
    expect(families.get("up")!.samples.map((sample) => sample.value)).toEqual([1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1500]);
    expect(families.get("up")!.samples[0]).toEqual({ name: "up", labels: { job: "a" }, value: 1, timestampMs: 1700000000000 });
    expect(families.get("untyped_thing")).toMatchObject({ type: "untyped", samples: [{ value: 7 }] });
  });

  it("refuses malformed input with a code and the line", () => {
    const refuse = (text: string) => {
      try {
        parsePrometheusText(text);
      } catch (error) {
        expect(error).toBeInstanceOf(PrometheusParseError);
        return { code: (error as PrometheusParseError).code, line: (error as PrometheusParseError).line };
      }
      throw new Error(`accepted: ${text}`);
    };
    expect(refuse('ok 1\nbad{a="1" 2')).toEqual({ code: "ERR_PROMETHEUS_SYNTAX", line: 2 });
    expect(refuse('x{a="\\t"} 1')).toEqual({ code: "ERR_PROMETHEUS_SYNTAX", line: 1 });
    expect(refuse('x{a="1",a="2"} 1')).toEqual({ code: "ERR_PROMETHEUS_SYNTAX", line: 1 });
    expect(refuse("x one")).toEqual({ code: "ERR_PROMETHEUS_SYNTAX", line: 1 });
    expect(refuse("x 1 2 3")).toEqual({ code: "ERR_PROMETHEUS_SYNTAX", line: 1 });
    expect(refuse("<html>")).toEqual({ code: "ERR_PROMETHEUS_SYNTAX", line: 1 });
    expect(refuse("\n\n# TYPE x sometimes")).toEqual({ code: "ERR_PROMETHEUS_TYPE", line: 3 });
    expect(refuse("x 1\n# TYPE x counter")).toEqual({ code: "ERR_PROMETHEUS_TYPE", line: 2 });
  });
});

describe("histogramQuantile", () => {
  const buckets = (pairs: [number, number][]): HistogramBucket[] => pairs.map(([le, count]) => ({ le, count }));

  it("interpolates as Prometheus does (promql/testdata/histograms.test)", () => {
    // testhistogram{start="positive"}: le 0.1 → 5, 0.2 → 7, 1 → 11, +Inf → 12 per step.
    const positive = buckets([[0.1, 5], [0.2, 7], [1, 11], [Infinity, 12]]);
    expect(histogramQuantile(0, positive)).toBe(0);
    expect(histogramQuantile(0.2, positive)).toBeCloseTo(0.048);
    expect(histogramQuantile(0.3, positive)).toBeCloseTo(0.072);
    expect(histogramQuantile(0.5, positive)).toBeCloseTo(0.15);
    expect(histogramQuantile(0.8, positive)).toBeCloseTo(0.72);
    expect(histogramQuantile(1, positive)).toBe(1);
    expect(histogramQuantile(-0.1, positive)).toBe(Number.NEGATIVE_INFINITY);
    expect(histogramQuantile(1.01, positive)).toBe(Number.POSITIVE_INFINITY);
    // testhistogram{start="negative"}: le -0.2 → 1, -0.1 → 2, 0.3 → 2, +Inf → 3.
    const negative = buckets([[-0.2, 1], [-0.1, 2], [0.3, 2], [Infinity, 3]]);
    expect(histogramQuantile(0.2, negative)).toBeCloseTo(-0.2);
    expect(histogramQuantile(0.5, negative)).toBeCloseTo(-0.15);
    expect(histogramQuantile(0.8, negative)).toBeCloseTo(0.3);
  });

  it("is NaN with no observation or no +Inf bucket, sorts and repairs its input", () => {
    expect(histogramQuantile(0.5, [])).toBeNaN();
    expect(histogramQuantile(0.5, buckets([[1, 0], [Infinity, 0]]))).toBeNaN();
    expect(histogramQuantile(0.5, buckets([[1, 2], [2, 4]]))).toBeNaN();
    expect(histogramQuantile(0.5, buckets([[Infinity, 4]]))).toBeNaN();
    // Unsorted, with a count that went down mid-update: treated as monotonic.
    expect(histogramQuantile(0.5, buckets([[Infinity, 4], [2, 3], [1, 4]]))).toBeCloseTo(0.5);
  });

  it("gives the rank's bucket interpolation over the gateway's own buckets", () => {
    const registry = new MetricRegistry();
    const histogram = registry.histogram("d", "d", [], ISTIO_DEFAULT_BUCKETS);
    // 100 requests between 100 and 250 ms: every quantile is interpolated in that bucket.
    for (let index = 0; index < 100; index++) histogram.observe({}, 120 + index);
    const [series] = histogramSeries(parsePrometheusText(formatPrometheusText(registry.collect())).get("d")!);
    expect(histogramQuantile(0.5, series!.buckets)).toBeCloseTo(175);
    expect(histogramQuantile(0.99, series!.buckets)).toBeCloseTo(248.5);
  });
});

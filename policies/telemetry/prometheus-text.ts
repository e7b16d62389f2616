import type { LabelSet, MetricSnapshot } from "./metric-registry.js";

/**
 * The Prometheus text exposition format (version 0.0.4), what `/__mesh/metrics` serves and every
 * Prometheus scrapes by default: `# HELP` and `# TYPE` per metric, one line per sample, and for a
 * histogram its cumulative `_bucket{le=...}` lines ending with `+Inf`, then `_sum` and `_count`.
 */

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function formatPrometheusText(metrics: readonly MetricSnapshot[]): string {
  const lines: string[] = [];
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
    lines.push(`# TYPE ${metric.name} ${metric.type}`);
    if (metric.type === "histogram") {
      for (const sample of metric.samples) {
        const labels = formatLabelPairs(sample.labels);
        const prefix = labels === "" ? "" : `${labels},`;
        metric.bounds.forEach((bound, index) => {
          lines.push(`${metric.name}_bucket{${prefix}le="${formatNumber(bound)}"} ${formatNumber(sample.buckets[index]!)}`);
        });
        lines.push(`${metric.name}_bucket{${prefix}le="+Inf"} ${formatNumber(sample.count)}`);
        lines.push(`${metric.name}_sum${wrap(labels)} ${formatNumber(sample.sum)}`);
        lines.push(`${metric.name}_count${wrap(labels)} ${formatNumber(sample.count)}`);
      }
    } else {
      for (const sample of metric.samples) lines.push(`${metric.name}${wrap(formatLabelPairs(sample.labels))} ${formatNumber(sample.value)}`);
    }
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

/** `a="1",b="2"`: label values escape backslash, double quote and line feed. */
export function formatLabelPairs(labels: LabelSet): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(",");
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes backslash and line feed only (a double quote stays as it is). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go's spelling of the special values; anything else as JavaScript prints it (`0.5`, `1e-7`, `3600000`). */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function wrap(labels: string): string {
  return labels === "" ? "" : `{${labels}}`;
}

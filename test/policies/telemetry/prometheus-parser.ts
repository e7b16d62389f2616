import parsePrometheusTextFormat from "parse-prometheus-text-format";

/**
 * Reads Prometheus text exposition with `parse-prometheus-text-format`, a real parser of the
 * format (a port of the Prometheus Python client's), so tests check what a scraper would read,
 * not what our own formatter meant to write.
 *
 * That package merges every series of a histogram into one and drops their labels
 * (yunyu/parse-prometheus-text-format#13, unfixed in 1.1.1). So histograms are parsed a second
 * time with their TYPE line downgraded to `untyped`: each `_bucket`, `_sum` and `_count` line is
 * then read on its own, labels intact, and regrouped here by its labels (less `le`).
 */

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface HistogramSeries {
  labels: Record<string, string>;
  /** Cumulative count per `le`, keyed as written (`"0.5"`, ..., `"+Inf"`). */
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: Sample[];
  histograms: HistogramSeries[];
}

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const histogramNames = new Set<string>();
  for (const family of parsePrometheusTextFormat(text)) {
    const type = family.type.toLowerCase() as Family["type"];
    if (type === "histogram") histogramNames.add(family.name);
    families.set(family.name, {
      name: family.name,
      help: family.help,
      type,
      samples: type === "histogram" ? [] : family.metrics.map((metric) => ({ labels: metric.labels ?? {}, value: sampleValue(metric.value) })),
      histograms: [],
    });
  }
  if (histogramNames.size === 0) return families;

  const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, (line, name: string) => (histogramNames.has(name) ? `# TYPE ${name} untyped` : line));
  const series = new Map<string, HistogramSeries>();
  for (const family of parsePrometheusTextFormat(untyped)) {
    const match = /^(.*)_(bucket|sum|count)$/.exec(family.name);
    if (!match || !histogramNames.has(match[1]!)) continue;
    const [, base, part] = match;
    for (const metric of family.metrics) {
      const { le, ...labels } = metric.labels ?? {};
      const key = `${base}${JSON.stringify(Object.entries(labels).sort())}`;
      let entry = series.get(key);
      if (!entry) {
        entry = { labels, buckets: new Map(), sum: Number.NaN, count: Number.NaN };
        series.set(key, entry);
        families.get(base!)!.histograms.push(entry);
      }
      const value = sampleValue(metric.value);
      if (part === "bucket") entry.buckets.set(le!, value);
      else if (part === "sum") entry.sum = value;
      else entry.count = value;
    }
  }
  return families;
}

/** The one sample (or histogram series) whose labels include all of `match`; throws if none or several. */
export function only<T extends { labels: Record<string, string> }>(items: readonly T[], match: Record<string, string>): T {
  const found = items.filter((item) => Object.entries(match).every(([name, value]) => item.labels[name] === value));
  if (found.length !== 1) throw new Error(`expected one series matching ${JSON.stringify(match)}, found ${found.length}: ${JSON.stringify(items.map((item) => item.labels))}`);
  return found[0]!;
}

/** Sum of the values (or counts) of every series whose labels include `match`. */
export function total(family: Family | undefined, match: Record<string, string> = {}): number {
  if (!family) return 0;
  const matches = (labels: Record<string, string>) => Object.entries(match).every(([name, value]) => labels[name] === value);
  if (family.type === "histogram") return family.histograms.filter((series) => matches(series.labels)).reduce((sum, series) => sum + series.count, 0);
  return family.samples.filter((sample) => matches(sample.labels)).reduce((sum, sample) => sum + sample.value, 0);
}

/** Go's float syntax as the format allows it: JavaScript's `Number` reads all of it but `+Inf`/`-Inf`/`Inf`. */
function sampleValue(text: string | undefined): number {
  if (text === undefined) return Number.NaN;
  const infinity = /^([+-]?)inf$/i.exec(text);
  if (infinity) return infinity[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return Number(text);
}

/**
 * A small Prometheus-style metric registry: counters, gauges and histograms with fixed label
 * names, one series per distinct set of label values. Pure and synchronous; the caller owns the
 * lifetime (the gateway keeps one per isolate) and reads it with `collect()`.
 *
 * Misuse is a programmer's mistake and throws a TypeError when the metric is declared or when a
 * series is recorded with the wrong label names. A metric that would grow past `maxSeries`
 * drops the new series instead of growing without bound, and reports it through `onDropped`.
 */

export type MetricType = "counter" | "gauge" | "histogram";
export type LabelSet = Readonly<Record<string, string>>;

export interface CounterSample {
  labels: LabelSet;
  value: number;
}

export interface HistogramSample {
  labels: LabelSet;
  /** Cumulative counts, one per bucket bound (`le`), in bound order; `+Inf` is `count`. */
  buckets: readonly number[];
  sum: number;
  count: number;
}

export type MetricSnapshot =
  | { type: "counter" | "gauge"; name: string; help: string; samples: CounterSample[] }
  | { type: "histogram"; name: string; help: string; bounds: readonly number[]; samples: HistogramSample[] };

export interface MetricRegistryOptions {
  /** Series per metric beyond which new label sets are dropped (default 2000). */
  maxSeries?: number;
  /** Called once per dropped observation with the metric's name. */
  onDropped?: (metric: string) => void;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class MetricRegistry {
  private readonly metrics = new Map<string, Metric>();
  private readonly maxSeries: number;
  private readonly onDropped: ((metric: string) => void) | undefined;

  constructor(options: MetricRegistryOptions = {}) {
    this.maxSeries = options.maxSeries ?? 2000;
    if (!Number.isInteger(this.maxSeries) || this.maxSeries < 1) throw new TypeError("maxSeries must be a positive integer");
    this.onDropped = options.onDropped;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.declare(name, () => new Counter(name, help, checkLabelNames(name, labelNames, false), this.limits()), Counter);
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.declare(name, () => new Gauge(name, help, checkLabelNames(name, labelNames, false), this.limits()), Gauge);
  }

  histogram(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]): Histogram {
    return this.declare(name, () => new Histogram(name, help, checkLabelNames(name, labelNames, true), checkBounds(name, bounds), this.limits()), Histogram);
  }

  /** Every metric, in declaration order, each with its series in first-recorded order. */
  collect(): MetricSnapshot[] {
    return [...this.metrics.values()].map((metric) => metric.snapshot());
  }

  private limits(): SeriesLimits {
    return { maxSeries: this.maxSeries, onDropped: this.onDropped };
  }

  private declare<T extends Metric>(name: string, make: () => T, kind: abstract new (...args: never[]) => T): T {
    if (!METRIC_NAME.test(name)) throw new TypeError(`invalid metric name '${name}'`);
    const existing = this.metrics.get(name);
    if (existing) {
      if (!(existing instanceof kind)) throw new TypeError(`metric '${name}' is already declared as a ${existing.type}`);
      return existing;
    }
    const metric = make();
    this.metrics.set(name, metric);
    return metric;
  }
}

interface SeriesLimits {
  maxSeries: number;
  onDropped: ((metric: string) => void) | undefined;
}

abstract class Metric<S = unknown> {
  abstract readonly type: MetricType;
  protected readonly series = new Map<string, { labels: LabelSet; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly limits: SeriesLimits,
  ) {}

  abstract snapshot(): MetricSnapshot;

  /** The state of the series with these labels, created on first use; undefined when over the limit. */
  protected stateFor(labels: LabelSet, create: () => S): S | undefined {
    const key = this.keyOf(labels);
    const found = this.series.get(key);
    if (found) return found.state;
    if (this.series.size >= this.limits.maxSeries) {
      this.limits.onDropped?.(this.name);
      return undefined;
    }
    const copy: Record<string, string> = {};
    for (const name of this.labelNames) copy[name] = labels[name]!;
    const state = create();
    this.series.set(key, { labels: copy, state });
    return state;
  }

  private keyOf(labels: LabelSet): string {
    let key = "";
    let given = 0;
    for (const name in labels) given++;
    if (given !== this.labelNames.length) throw new TypeError(`metric '${this.name}' takes labels [${this.labelNames.join(", ")}], got [${Object.keys(labels).join(", ")}]`);
    for (const name of this.labelNames) {
      const value = labels[name];
      if (typeof value !== "string") throw new TypeError(`metric '${this.name}': label '${name}' is missing or not a string`);
      key += value + "\u0000";
    }
    return key;
  }
}

export class Counter extends Metric<{ value: number }> {
  readonly type = "counter";

  inc(labels: LabelSet = {}, by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new TypeError(`counter '${this.name}' can only increase by a finite amount >= 0, got ${by}`);
    const state = this.stateFor(labels, () => ({ value: 0 }));
    if (state) state.value += by;
  }

  snapshot(): MetricSnapshot {
    const samples = [...this.series.values()].map(({ labels, state }) => ({ labels, value: state.value }));
    // A counter without labels has one series from the start: it reads 0 until it counts (as Prometheus clients do).
    if (samples.length === 0 && this.labelNames.length === 0) samples.push({ labels: {}, value: 0 });
    return { type: "counter", name: this.name, help: this.help, samples };
  }
}

export class Gauge extends Metric<{ value: number }> {
  readonly type = "gauge";

  set(labels: LabelSet, value: number): void {
    const state = this.stateFor(labels, () => ({ value: 0 }));
    if (state) state.value = value;
  }

  /** Forgets every series (for info-style gauges whose label values change, e.g. a config version). */
  clear(): void {
    this.series.clear();
  }

  snapshot(): MetricSnapshot {
    return { type: "gauge", name: this.name, help: this.help, samples: [...this.series.values()].map(({ labels, state }) => ({ labels, value: state.value })) };
  }
}

export class Histogram extends Metric<{ counts: number[]; sum: number; count: number }> {
  readonly type = "histogram";

  constructor(name: string, help: string, labelNames: readonly string[], readonly bounds: readonly number[], limits: SeriesLimits) {
    super(name, help, labelNames, limits);
  }

  observe(labels: LabelSet, value: number): void {
    if (Number.isNaN(value)) throw new TypeError(`histogram '${this.name}' cannot observe NaN`);
    const state = this.stateFor(labels, () => ({ counts: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 }));
    if (!state) return;
    // Buckets are "less than or equal": the first bound >= value takes it; past the last, only +Inf.
    const index = firstBoundAtLeast(this.bounds, value);
    if (index < this.bounds.length) state.counts[index]!++;
    state.sum += value;
    state.count++;
  }

  snapshot(): MetricSnapshot {
    return {
      type: "histogram",
      name: this.name,
      help: this.help,
      bounds: this.bounds,
      samples: [...this.series.values()].map(({ labels, state }) => {
        let running = 0;
        const buckets = state.counts.map((count) => (running += count));
        return { labels, buckets, sum: state.sum, count: state.count };
      }),
    };
  }
}

function firstBoundAtLeast(bounds: readonly number[], value: number): number {
  let low = 0;
  let high = bounds.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (bounds[middle]! >= value) high = middle;
    else low = middle + 1;
  }
  return low;
}

function checkLabelNames(metric: string, names: readonly string[], histogram: boolean): readonly string[] {
  const seen = new Set<string>();
  for (const name of names) {
    if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new TypeError(`metric '${metric}': invalid label name '${name}'`);
    if (histogram && name === "le") throw new TypeError(`histogram '${metric}': the label name 'le' is reserved`);
    if (seen.has(name)) throw new TypeError(`metric '${metric}': label '${name}' is declared twice`);
    seen.add(name);
  }
  return [...names];
}

function checkBounds(metric: string, bounds: readonly number[]): readonly number[] {
  if (bounds.length === 0) throw new TypeError(`histogram '${metric}' needs at least one bucket bound`);
  for (let index = 0; index < bounds.length; index++) {
    const bound = bounds[index]!;
    if (!Number.isFinite(bound)) throw new TypeError(`histogram '${metric}': bucket bounds must be finite (+Inf is implicit)`);
    if (index > 0 && bound <= bounds[index - 1]!) throw new TypeError(`histogram '${metric}': bucket bounds must increase strictly`);
  }
  return [...bounds];
}

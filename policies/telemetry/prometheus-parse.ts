/**
 * Reading the Prometheus text exposition format (0.0.4): what `/__mesh/metrics` and the control
 * API's `/v1/metrics` serve, parsed back for `meshctl top` and the dashboard. Histograms are
 * regrouped per series (their `_bucket`, `_sum` and `_count` lines, labels intact), and
 * `histogramQuantile` is Prometheus's own interpolation, so a p99 here is the p99 Grafana shows
 * for the same buckets.
 *
 * A malformed exposition is the input's fault: a `PrometheusParseError` with a stable code and
 * the line number, never a partial result (Prometheus fails the whole scrape too).
 */

export type FamilyType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface PromSample {
  /** As written: `istio_requests_total`, `istio_request_duration_milliseconds_bucket`, ... */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  timestampMs?: number;
}

export interface PromFamily {
  name: string;
  type: FamilyType;
  help: string;
  samples: PromSample[];
}

export interface HistogramBucket {
  /** Upper bound (`le`), `Infinity` for `+Inf`. */
  le: number;
  /** Cumulative count. */
  count: number;
}

export interface HistogramSeries {
  /** The series' labels, without `le`. */
  labels: Record<string, string>;
  /** Sorted by `le`, ending with `+Inf` when the exposition has it. */
  buckets: HistogramBucket[];
  sum: number;
  count: number;
}

export type PrometheusParseErrorCode = "ERR_PROMETHEUS_SYNTAX" | "ERR_PROMETHEUS_TYPE";

export class PrometheusParseError extends Error {
  constructor(
    readonly code: PrometheusParseErrorCode,
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = "PrometheusParseError";
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set<FamilyType>(["counter", "gauge", "histogram", "summary", "untyped"]);
const SUFFIXES: Record<string, readonly string[]> = { histogram: ["_bucket", "_sum", "_count"], summary: ["_sum", "_count"] };

/** Every family of the exposition, by name, in the order they first appear. */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const family = (name: string) => {
    let found = families.get(name);
    if (!found) families.set(name, (found = { name, type: "untyped", help: "", samples: [] }));
    return found;
  };
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const number = index + 1;
    const line = lines[index]!.replace(/\r$/, "");
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const meta = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!meta) continue; // a comment
      const [, keyword, name, rest = ""] = meta;
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name!)) throw new PrometheusParseError("ERR_PROMETHEUS_SYNTAX", number, `invalid metric name '${name}'`);
      if (keyword === "HELP") family(name!).help = unescapeHelp(rest);
      else {
        const type = rest.trim().toLowerCase() as FamilyType;
        if (!TYPES.has(type)) throw new PrometheusParseError("ERR_PROMETHEUS_TYPE", number, `unknown metric type '${rest.trim()}' for ${name}`);
        const target = family(name!);
        if (target.samples.length > 0) throw new PrometheusParseError("ERR_PROMETHEUS_TYPE", number, `TYPE of ${name} after its samples`);
        target.type = type;
      }
      continue;
    }
    const sample = parseSample(line, number);
    family(familyOf(sample.name, families)).samples.push(sample);
  }
  return families;
}

/** The family a sample belongs to: `x_bucket` to histogram `x`, `x_sum` to histogram or summary `x`, else its own name. */
function familyOf(name: string, families: Map<string, PromFamily>): string {
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const suffix of suffixes) {
      if (!name.endsWith(suffix)) continue;
      const base = name.slice(0, -suffix.length);
      if (families.get(base)?.type === type) return base;
    }
  }
  return name;
}

function parseSample(line: string, number: number): PromSample {
  const fail = (message: string) => new PrometheusParseError("ERR_PROMETHEUS_SYNTAX", number, message);
  let position = 0;
  const name = METRIC_NAME.exec(line)?.[0];
  if (!name) throw fail(`expected a metric name, got '${line.slice(0, 40)}'`);
  position = name.length;
  const labels: Record<string, string> = {};
  const skipBlanks = () => {
    while (line[position] === " " || line[position] === "\t") position++;
  };
  skipBlanks();
  if (line[position] === "{") {
    position++;
    for (;;) {
      skipBlanks();
      if (line[position] === "}") {
        position++;
        break;
      }
      const labelName = LABEL_NAME.exec(line.slice(position))?.[0];
      if (!labelName) throw fail(`expected a label name in ${name} at column ${position + 1}`);
      position += labelName.length;
      skipBlanks();
      if (line[position] !== "=") throw fail(`expected '=' after label ${labelName} of ${name}`);
      position++;
      skipBlanks();
      if (line[position] !== '"') throw fail(`expected '"' to open the value of label ${labelName} of ${name}`);
      position++;
      let value = "";
      for (;;) {
        const char = line[position];
        if (char === undefined) throw fail(`unterminated value of label ${labelName} of ${name}`);
        position++;
        if (char === '"') break;
        if (char === "\\") {
          const escaped = line[position++];
          if (escaped === "\\" || escaped === '"') value += escaped;
          else if (escaped === "n") value += "\n";
          else throw fail(`invalid escape '\\${escaped ?? ""}' in label ${labelName} of ${name}`);
        } else value += char;
      }
      if (Object.hasOwn(labels, labelName)) throw fail(`label ${labelName} appears twice in ${name}`);
      labels[labelName] = value;
      skipBlanks();
      if (line[position] === ",") position++;
      else if (line[position] !== "}") throw fail(`expected ',' or '}' after label ${labelName} of ${name}`);
    }
  }
  const rest = line.slice(position).trim().split(/[ \t]+/);
  if (rest.length < 1 || rest[0] === "" || rest.length > 2) throw fail(`expected a value${rest.length > 2 ? " and at most a timestamp" : ""} after ${name}`);
  const value = parseFloatGo(rest[0]!);
  if (value === undefined) throw fail(`invalid value '${rest[0]}' of ${name}`);
  const sample: PromSample = { name, labels, value };
  if (rest[1] !== undefined) {
    if (!/^-?\d+$/.test(rest[1])) throw fail(`invalid timestamp '${rest[1]}' of ${name}`);
    sample.timestampMs = Number(rest[1]);
  }
  return sample;
}

/** Go's ParseFloat as the format uses it: decimal or exponent notation, `NaN`, `+Inf`, `-Inf`, `Inf`. */
function parseFloatGo(text: string): number | undefined {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special) return special[2]!.toLowerCase() === "nan" ? Number.NaN : special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) && !/^[+-]?0[xX][0-9a-fA-F]+$/.test(text)) return undefined;
  return Number(text);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_, escaped: string) => (escaped === "n" ? "\n" : "\\"));
}

/** A histogram family's series: buckets sorted by `le`, with their `_sum` and `_count` (NaN when absent). */
export function histogramSeries(family: PromFamily): HistogramSeries[] {
  const series = new Map<string, HistogramSeries>();
  const entry = (labels: Record<string, string>) => {
    const key = seriesKey(labels);
    let found = series.get(key);
    if (!found) series.set(key, (found = { labels, buckets: [], sum: Number.NaN, count: Number.NaN }));
    return found;
  };
  for (const sample of family.samples) {
    if (sample.name === `${family.name}_bucket`) {
      const { le, ...labels } = sample.labels;
      const bound = le === undefined ? undefined : parseFloatGo(le);
      if (bound === undefined || Number.isNaN(bound)) continue; // a bucket without a usable bound cannot be placed
      entry(labels).buckets.push({ le: bound, count: sample.value });
    } else if (sample.name === `${family.name}_sum`) entry(sample.labels).sum = sample.value;
    else if (sample.name === `${family.name}_count`) entry(sample.labels).count = sample.value;
  }
  for (const found of series.values()) found.buckets.sort((a, b) => a.le - b.le);
  return [...series.values()];
}

/** A stable key for a label set (names sorted). */
export function seriesKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.keys(labels).sort().map((name) => [name, labels[name]]));
}

/**
 * Prometheus's `histogram_quantile(q, ...)` over cumulative buckets (promql/quantile.go): the
 * bucket holding rank q·count is found and the value interpolated linearly inside it, the first
 * bucket starting at 0; a rank in the `+Inf` bucket answers the highest finite bound. NaN when
 * there are no observations, fewer than two buckets or no `+Inf` bucket; ±Inf for q outside [0, 1].
 */
export function histogramQuantile(q: number, input: readonly HistogramBucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const sorted = [...input].sort((a, b) => a.le - b.le);
  if (sorted.length === 0 || sorted[sorted.length - 1]!.le !== Number.POSITIVE_INFINITY) return Number.NaN;
  // Coalesce equal bounds, then force the counts to be monotonic (as Prometheus does for scrapes taken mid-update).
  const buckets: HistogramBucket[] = [];
  for (const bucket of sorted) {
    const last = buckets[buckets.length - 1];
    if (last && last.le === bucket.le) last.count += bucket.count;
    else buckets.push({ ...bucket });
  }
  let max = Number.NEGATIVE_INFINITY;
  for (const bucket of buckets) {
    if (bucket.count < max) bucket.count = max;
    else max = bucket.count;
  }
  if (buckets.length < 2) return Number.NaN;
  const observations = buckets[buckets.length - 1]!.count;
  if (!(observations > 0)) return Number.NaN;
  let rank = q * observations;
  let b = buckets.length - 1;
  for (let index = 0; index < buckets.length - 1; index++) {
    if (buckets[index]!.count >= rank) {
      b = index;
      break;
    }
  }
  if (b === buckets.length - 1) return buckets[buckets.length - 2]!.le;
  if (b === 0 && buckets[0]!.le <= 0) return buckets[0]!.le;
  let start = 0;
  let count = buckets[b]!.count;
  if (b > 0) {
    start = buckets[b - 1]!.le;
    count -= buckets[b - 1]!.count;
    rank -= buckets[b - 1]!.count;
  }
  return start + (buckets[b]!.le - start) * (rank / count);
}

import { execFile } from "node:child_process";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { RunningCandidate } from "./candidates/candidate.js";
import { findNginx } from "./candidates/nginx.js";
import { workerdBinary } from "./candidates/workerd.js";
import type { LoadResult } from "./load.js";
import type { MatchCase, MatchShapeName, MicroResults } from "./micro.js";
import type { BenchOptions, LoadPlan, Mode } from "./options.js";
import type { CpuPlan } from "./processes.js";
import type { ProfileSummary } from "./profile.js";
import { median, round, spread } from "./stats.js";

/**
 * Turns the measurements into `bench/results.json` (stable layout: fixed key order, rounded
 * figures), the table on stdout, and the generated part of docs/performance.md.
 */

export type Sample = LoadResult & {
  cpuMs: number | undefined;
  /** Share of all CPUs used by processes outside the bench during the round (0..1). */
  foreignCpu: number | undefined;
  /** How many times the round was measured again because of such noise. */
  repeats: number;
};

export interface Measurement {
  candidate: RunningCandidate;
  rounds: Sample[];
  latencyRounds: Sample[];
}

export interface Machine {
  cpu: string;
  cores: number;
  memory_gib: number;
  os: string;
  kernel: string;
  node: string;
  workerd: string;
  nginx: string | null;
  /** 1, 5 and 15 minute load averages when the run started: other work on the machine shows here. */
  load_average_at_start: number[];
}

export interface CandidateRow {
  name: string;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  errors: number;
  ratio_to_passthrough: number | null;
  ratio_to_direct: number | null;
  p50_delta_to_passthrough_ms: number | null;
  cpu_us_per_request: number | null;
  /** CPU per request over workerd-passthrough's: the cost relative to the runtime's own, steadier than the rps ratio. */
  cpu_ratio_to_passthrough: number | null;
  cpu_ratio_to_node_proxy: number | null;
  requests: number;
  rps_rounds: number[];
  rps_spread: number;
  /** Rounds measured again because other processes were busy, and the worst outside CPU share kept. */
  noise: { repeated_rounds: number; max_foreign_cpu: number | null };
  latency_1conn: { rps: number; p50_ms: number; p90_ms: number; p99_ms: number; p50_delta_to_passthrough_ms: number | null } | null;
  how: string;
  notes: string[];
}

export interface SkippedRow {
  name: string;
  skipped: string;
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

export interface BenchResults {
  schema: "mesh-bench/1";
  generated_at: string;
  mode: Mode;
  elapsed_sec: number;
  machine: Machine;
  load: LoadPlan & { tool: string; order: string; latency: string; pinning: string };
  candidates: (CandidateRow | SkippedRow)[];
  targets: Target[];
  micro: MicroResults | null;
  profiles: ProfileSummary[];
  notes: string[];
}

const run = promisify(execFile);

export async function describeMachine(loadAverage: number[]): Promise<Machine> {
  const version = async (file: string | undefined, args: string[]) => {
    if (!file) return null;
    try {
      const { stdout, stderr } = await run(file, args);
      return (stdout || stderr).trim().split("\n")[0]!;
    } catch {
      return null;
    }
  };
  const osRelease = await readFile("/etc/os-release", "utf8").catch(() => "");
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? os.type();
  return {
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
    memory_gib: round(os.totalmem() / 2 ** 30, 3),
    os: pretty,
    kernel: os.release(),
    node: process.version,
    workerd: (await version(workerdBinary(), ["--version"])) ?? "unknown",
    nginx: (await version(findNginx(), ["-v"]))?.replace(/^nginx version: /, "") ?? null,
    load_average_at_start: loadAverage,
  };
}

export interface BuildInput {
  options: BenchOptions;
  machine: Machine;
  measurements: Measurement[];
  skipped: Map<string, string>;
  order: string[];
  micro: MicroResults | undefined;
  profiles: ProfileSummary[];
  pinning: CpuPlan | undefined;
  elapsedSec: number;
}

export function buildResults(input: BuildInput): BenchResults {
  const summaries = new Map(input.measurements.map((measurement) => [measurement.candidate.name, summarise(measurement)]));
  const passthrough = summaries.get("workerd-passthrough");
  const directRow = summaries.get("direct");
  const nodeProxy = summaries.get("node-proxy");
  const candidates: (CandidateRow | SkippedRow)[] = [];
  for (const name of input.order) {
    const skipped = input.skipped.get(name);
    if (skipped !== undefined) {
      candidates.push({ name, skipped });
      continue;
    }
    const summary = summaries.get(name);
    if (!summary) continue;
    const ratio = (base: Summary | undefined) => (base ? round(summary.rps / base.rps, 4) : null);
    const delta = (value: number, base: number | undefined) => (base === undefined ? null : round(value - base, 3));
    candidates.push({
      name,
      rps: round(summary.rps, 5),
      p50_ms: round(summary.p50, 3),
      p90_ms: round(summary.p90, 3),
      p99_ms: round(summary.p99, 3),
      errors: summary.errors,
      ratio_to_passthrough: ratio(passthrough),
      ratio_to_direct: ratio(directRow),
      p50_delta_to_passthrough_ms: delta(summary.p50, passthrough?.p50),
      cpu_us_per_request: summary.cpuUs === undefined ? null : round(summary.cpuUs, 3),
      cpu_ratio_to_passthrough:
        summary.cpuUs !== undefined && passthrough?.cpuUs !== undefined ? round(summary.cpuUs / passthrough.cpuUs, 3) : null,
      cpu_ratio_to_node_proxy:
        summary.cpuUs !== undefined && nodeProxy?.cpuUs !== undefined ? round(summary.cpuUs / nodeProxy.cpuUs, 3) : null,
      requests: summary.requests,
      rps_rounds: summary.rpsRounds.map((value) => round(value, 5)),
      rps_spread: round(summary.rpsSpread, 3),
      noise: summary.noise,
      latency_1conn: summary.latency
        ? {
            rps: round(summary.latency.rps, 5),
            p50_ms: round(summary.latency.p50, 3),
            p90_ms: round(summary.latency.p90, 3),
            p99_ms: round(summary.latency.p99, 3),
            p50_delta_to_passthrough_ms: delta(summary.latency.p50, passthrough?.latency?.p50),
          }
        : null,
      how: summary.how,
      notes: summary.notes,
    });
  }
  const { options } = input;
  return {
    schema: "mesh-bench/1",
    generated_at: new Date().toISOString(),
    mode: options.mode,
    elapsed_sec: Math.round(input.elapsedSec),
    machine: input.machine,
    load: {
      tool: "autocannon 8 (programmatic, in its own process), HTTP/1.1 keep-alive over loopback, no pipelining",
      order: "every candidate up for the whole run; rounds interleaved, the order rotated each round",
      pinning: input.pinning
        ? `load generator on CPU ${input.pinning.load}; candidate and upstream together on CPU ${input.pinning.sut} (taskset)`
        : "none",
      latency: "latency percentiles per round from every 2xx response's own time (autocannon's hrtime, exact, not its 1 ms histogram), then the median over rounds",
      ...options.load,
    },
    candidates,
    targets: targets(candidates, input.micro, options.load.connections),
    micro: input.micro ?? null,
    profiles: input.profiles,
    notes: [
      "rps: 2xx responses per second, median over rounds; errors: socket errors + timeouts + non-2xx over all measured rounds",
      "cpu_us_per_request: CPU time (user + system, all threads and child processes) of the candidate's own processes during the rounds, per 2xx response, median over rounds; for direct it is the upstream's own cost",
      "latency_1conn: the same request at one connection (no queueing): the latency each hop adds",
      "noise: a round during which processes outside the bench used more than 10% of all CPUs is measured again (at most twice); max_foreign_cpu is the worst share among the rounds kept",
      input.pinning
        ? `the load generator has CPU ${input.pinning.load} to itself; the candidate and the upstream share CPU ${input.pinning.sut}, so rps is what one core does with the candidate plus the upstream's small share, and the ratios between candidates are the comparable figures`
        : `the load generator, the upstream and the candidate share ${input.machine.cores} cores: at saturation they compete for CPU, so rps is a property of the whole machine, and the ratios are the comparable figures`,
      "JWT-SVID verification: gateway-full verifies one per request (verified-token cache warm after the first)",
    ],
  };
}

interface Summary {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  requests: number;
  cpuUs: number | undefined;
  rpsRounds: number[];
  rpsSpread: number;
  latency: { rps: number; p50: number; p90: number; p99: number } | undefined;
  noise: CandidateRow["noise"];
  how: string;
  notes: string[];
}

function summarise(measurement: Measurement): Summary {
  const { rounds, latencyRounds, candidate } = measurement;
  const all = [...rounds, ...latencyRounds];
  const cpu = rounds.filter((sample) => sample.cpuMs !== undefined && sample.ok > 0).map((sample) => (sample.cpuMs! * 1000) / sample.ok);
  const rpsRounds = rounds.map((sample) => sample.rps);
  return {
    rps: median(rpsRounds),
    p50: median(rounds.map((sample) => sample.p50_ms)),
    p90: median(rounds.map((sample) => sample.p90_ms)),
    p99: median(rounds.map((sample) => sample.p99_ms)),
    errors: all.reduce((sum, sample) => sum + sample.errors + sample.timeouts + sample.non2xx, 0),
    requests: all.reduce((sum, sample) => sum + sample.requests, 0),
    cpuUs: cpu.length ? median(cpu) : undefined,
    rpsRounds,
    rpsSpread: spread(rpsRounds),
    latency: latencyRounds.length
      ? {
          rps: median(latencyRounds.map((sample) => sample.rps)),
          p50: median(latencyRounds.map((sample) => sample.p50_ms)),
          p90: median(latencyRounds.map((sample) => sample.p90_ms)),
          p99: median(latencyRounds.map((sample) => sample.p99_ms)),
        }
      : undefined,
    noise: {
      repeated_rounds: all.reduce((sum, sample) => sum + sample.repeats, 0),
      max_foreign_cpu: all.some((sample) => sample.foreignCpu !== undefined)
        ? round(Math.max(...all.map((sample) => sample.foreignCpu ?? 0)), 3)
        : null,
    },
    how: candidate.how,
    notes: candidate.notes ?? [],
  };
}

function isRow(row: CandidateRow | SkippedRow | undefined): row is CandidateRow {
  return row !== undefined && !("skipped" in row);
}

function targets(rows: (CandidateRow | SkippedRow)[], micro: MicroResults | undefined, connections: number): Target[] {
  const find = (name: string) => {
    const row = rows.find((candidate) => candidate.name === name);
    return isRow(row) ? row : undefined;
  };
  const full = find("gateway-full");
  const passthrough = find("workerd-passthrough");
  const nodeProxy = find("node-proxy");
  const list: Target[] = [];
  if (full && passthrough) {
    list.push({
      target: "gateway-full rps >= 90% of workerd-passthrough",
      measured: `${pct(full.ratio_to_passthrough!)} (${fmt(full.rps, 0)} vs ${fmt(passthrough.rps, 0)} req/s)`,
      met: full.ratio_to_passthrough! >= 0.9,
    });
    list.push({
      target: "gateway-full p50 within 0.1 ms of workerd-passthrough (under load)",
      measured: `+${fmt(full.p50_delta_to_passthrough_ms!, 3)} ms (${fmt(full.p50_ms, 3)} vs ${fmt(passthrough.p50_ms, 3)} ms at ${connections} connections)`,
      met: full.p50_delta_to_passthrough_ms! <= 0.1,
    });
    if (full.latency_1conn && passthrough.latency_1conn) {
      list.push({
        target: "gateway-full p50 within 0.1 ms of workerd-passthrough (one connection)",
        measured: `+${fmt(full.latency_1conn.p50_delta_to_passthrough_ms!, 3)} ms (${fmt(full.latency_1conn.p50_ms, 3)} vs ${fmt(passthrough.latency_1conn.p50_ms, 3)} ms)`,
        met: full.latency_1conn.p50_delta_to_passthrough_ms! <= 0.1,
      });
    }
  }
  if (full && nodeProxy && full.cpu_us_per_request !== null && nodeProxy.cpu_us_per_request !== null) {
    list.push({
      target: "gateway-full cheaper per request than node-proxy (CPU per request)",
      measured: `${fmt(full.cpu_us_per_request, 1)} vs ${fmt(nodeProxy.cpu_us_per_request, 1)} µs/request (×${fmt(full.cpu_ratio_to_node_proxy!, 2)}); rps ${fmt(full.rps, 0)} vs ${fmt(nodeProxy.rps, 0)}`,
      met: full.cpu_us_per_request < nodeProxy.cpu_us_per_request,
    });
  }
  if (micro) {
    const largest = String(micro.sizes[micro.sizes.length - 1]);
    const spreadLast = micro.match.spread.bySize[largest]!.last;
    const worst = micro.match["one-host-headers"].bySize[largest]!.last;
    list.push({
      target: `matching at ${Number(largest).toLocaleString("en-US")} routes within a few µs (gateway-full's layout)`,
      measured: `${fmt(spreadLast.median_ns / 1000, 2)} µs median (p99 ${fmt(spreadLast.p99_ns / 1000, 2)}); when all routes share one host and path and differ only by a header's exact value (one-host-headers), last route: ${
        worst.median_ns <= 5000 ? `${fmt(worst.median_ns / 1000, 2)} µs (the path index's header split)` : `${fmt(worst.median_ns / 1000, 0)} µs, not met (a linear scan)`
      }`,
      met: spreadLast.median_ns <= 5000,
    });
    const compile = micro.compile[micro.compile.length - 1]!;
    list.push({
      target: `compiling ${compile.routes.toLocaleString("en-US")} routes well under a second`,
      measured: `${fmt(compile.compile_ms, 0)} ms (median of the runs; schema validation of the resources before it: ${fmt(compile.validate_ms, 0)} ms)`,
      met: compile.compile_ms < 500,
    });
  }
  return list;
}

function fmt(value: number, digits: number): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function table(header: string[], rows: string[][], align: ("l" | "r")[]): string[] {
  const widths = header.map((cell, index) => Math.max(cell.length, ...rows.map((row) => row[index]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, index) => (align[index] === "l" ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!))).join("  ");
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)];
}

function markdownTable(header: string[], rows: string[][], align: ("l" | "r")[]): string[] {
  return [
    `| ${header.join(" | ")} |`,
    `|${align.map((side) => (side === "l" ? " --- " : " ---: ")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ];
}

const CANDIDATE_HEADER = ["candidate", "req/s", "× passthrough", "p50 ms", "p90 ms", "p99 ms", "p50 1-conn ms", "CPU µs/req", "CPU × passthrough", "errors"];
const CANDIDATE_ALIGN: ("l" | "r")[] = ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"];

function candidateCells(row: CandidateRow | SkippedRow): string[] {
  if (!isRow(row)) return [row.name, "skipped", "", "", "", "", "", "", "", ""];
  const ratio = (value: number | null) => (value === null ? "–" : fmt(value, 3));
  return [
    row.name,
    fmt(row.rps, 0),
    ratio(row.ratio_to_passthrough),
    fmt(row.p50_ms, 3),
    fmt(row.p90_ms, 3),
    fmt(row.p99_ms, 3),
    row.latency_1conn ? fmt(row.latency_1conn.p50_ms, 3) : "–",
    row.cpu_us_per_request === null ? "–" : fmt(row.cpu_us_per_request, 1),
    ratio(row.cpu_ratio_to_passthrough),
    String(row.errors),
  ];
}

const MICRO_CASES: readonly MatchCase[] = ["first", "middle", "last", "no-match"];

function microTables(micro: MicroResults, render: typeof table): string[] {
  const lines: string[] = [];
  lines.push(
    ...render(
      ["routes", "hosts", "validate ms", "compile ms", "snapshot", "gzip", "load ms", "(JSON.parse", "schema)", "heap"],
      micro.compile.map((figure) => [
        figure.routes.toLocaleString("en-US"),
        figure.hosts.toLocaleString("en-US"),
        fmt(figure.validate_ms, 1),
        fmt(figure.compile_ms, 1),
        bytes(figure.snapshot_bytes),
        bytes(figure.snapshot_gzip_bytes),
        fmt(figure.load_ms, 1),
        fmt(figure.load_json_parse_ms, 1),
        fmt(figure.load_schema_ms, 1),
        bytes(figure.heap_bytes),
      ]),
      ["r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );
  lines.push("");
  const rows: string[][] = [];
  for (const shape of Object.keys(micro.match) as MatchShapeName[]) {
    for (const size of micro.sizes) {
      const figures = micro.match[shape].bySize[String(size)]!;
      rows.push([
        shape,
        size.toLocaleString("en-US"),
        ...MICRO_CASES.map((which) => `${micros(figures[which].median_ns)} / ${micros(figures[which].p99_ns)}`),
      ]);
    }
    rows.push([shape, "growth ×", ...MICRO_CASES.map((which) => `×${micro.growth[shape][which] < 10 ? fmt(micro.growth[shape][which], 2) : fmt(micro.growth[shape][which], 0)}`)]);
  }
  lines.push(...render(["match: layout", "routes", "first µs (p50 / p99)", "middle", "last", "no match"], rows, ["l", "r", "r", "r", "r", "r"]));
  lines.push("");
  const draw = micro.weighted_draw;
  lines.push(
    `weighted draw (90/10): ${fmt(draw.median_ns, 1)} ns median, ${fmt(draw.p99_ns, 1)} ns p99; first destination drawn ${pct(draw.share_first)} of 100,000 times (expected 90.0%)`,
  );
  const jwt = micro.jwt_svid;
  lines.push(
    jwt.cold && jwt.cached
      ? `JWT-SVID verification (${jwt.status}): cold ${fmt(jwt.cold.median_ns / 1000, 1)} µs median (p99 ${fmt(jwt.cold.p99_ns / 1000, 1)}), with the verified-token cache ${fmt(jwt.cached.median_ns / 1000, 1)} µs (p99 ${fmt(jwt.cached.p99_ns / 1000, 1)}): ×${fmt(jwt.speedup ?? 0, 1)}`
      : `JWT-SVID verification: ${jwt.status}`,
  );
  return lines;
}

/** Nanoseconds as microseconds, with the digits that matter. */
function micros(ns: number): string {
  const us = ns / 1000;
  return fmt(us, us < 10 ? 2 : us < 100 ? 1 : 0);
}

function bytes(value: number): string {
  if (Math.abs(value) >= 2 ** 20) return `${fmt(value / 2 ** 20, 1)} MiB`;
  if (Math.abs(value) >= 2 ** 10) return `${fmt(value / 2 ** 10, 1)} KiB`;
  return `${value} B`;
}

export function printReport(results: BenchResults): void {
  const out: string[] = [""];
  out.push(`mesh gateway bench (${results.mode}): ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.os}, Node ${results.machine.node}, ${results.machine.workerd}`);
  const load = results.load;
  out.push(`load: ${load.connections} connections, ${load.rounds} × ${load.roundSec} s rounds after ${load.warmupSec} s warm-up; 1-connection: ${load.latencyRounds} × ${load.latencyRoundSec} s; pinning: ${load.pinning}`);
  out.push("");
  if (results.candidates.length) {
    out.push(...table(CANDIDATE_HEADER, results.candidates.map(candidateCells), CANDIDATE_ALIGN));
    out.push("");
    for (const row of results.candidates) {
      out.push(isRow(row) ? `  ${row.name}: ${row.how}` : `  ${row.name}: SKIPPED: ${row.skipped}`);
      if (isRow(row)) for (const note of row.notes) out.push(`      ${note}`);
    }
    out.push("");
  }
  if (results.micro) {
    out.push("engine micro-benchmarks (in-process, Node):");
    out.push(...microTables(results.micro, table));
    out.push("");
  }
  if (results.targets.length) {
    out.push("targets (reported, not asserted):");
    for (const target of results.targets) out.push(`  [${target.met ? "met" : "NOT met"}] ${target.target}: ${target.measured}`);
    out.push("");
  }
  for (const profile of results.profiles) {
    out.push(
      `${profile.candidate} CPU profile (workerd inspector, ${profile.seconds} s, ${profile.samples} samples, idle ${fmt(profile.idle_pct, 1)}%), top self time (% of busy):`,
    );
    for (const entry of profile.top.slice(0, 15)) out.push(`  ${fmt(entry.self_pct, 1).padStart(5)}%  ${entry.function}  ${entry.location}`);
    out.push("  by file:");
    for (const entry of profile.by_file.slice(0, 10)) out.push(`  ${fmt(entry.self_pct, 1).padStart(5)}%  ${entry.file}`);
    out.push("");
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

export async function writeResults(file: string, results: BenchResults): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}

export const DOCS_BEGIN = "<!-- bench:begin (generated by `npm run bench`; edit outside these markers) -->";
export const DOCS_END = "<!-- bench:end -->";

/** Rewrites the generated block of the performance doc, keeping whatever is written around it. */
export async function writeDocs(file: string, results: BenchResults): Promise<void> {
  const block = [DOCS_BEGIN, ...generatedDocs(results), DOCS_END].join("\n");
  const existing = await readFile(file, "utf8").catch(() => undefined);
  let text: string;
  if (existing?.includes(DOCS_BEGIN) && existing.includes(DOCS_END)) {
    text = existing.slice(0, existing.indexOf(DOCS_BEGIN)) + block + existing.slice(existing.indexOf(DOCS_END) + DOCS_END.length);
  } else {
    text = `# Performance\n\n${block}\n`;
  }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

function generatedDocs(results: BenchResults): string[] {
  const machine = results.machine;
  const load = results.load;
  const lines: string[] = [];
  lines.push(`## Latest run`, "");
  lines.push(
    `\`npm run bench${results.mode === "full" ? "" : ` -- --${results.mode}`}\` on ${results.generated_at.slice(0, 10)}, ${results.elapsed_sec} s in all. Machine: ${machine.cpu}, ${machine.cores} cores, ${fmt(machine.memory_gib, 1)} GiB, ${machine.os} (Linux ${machine.kernel}), Node ${machine.node}, ${machine.workerd}${machine.nginx ? `, ${machine.nginx}` : ""}; load average before the run ${machine.load_average_at_start.join(" / ")}.`,
    "",
  );
  lines.push(
    `Load: ${load.tool}; ${load.connections} connections; ${load.warmupSec} s warm-up per candidate, then ${load.rounds} rounds of ${load.roundSec} s (${load.order}); then ${load.latencyRounds} round(s) of ${load.latencyRoundSec} s at one connection. CPU pinning: ${load.pinning}. ${capitalise(load.latency)}.`,
    "",
  );
  if (results.candidates.length) {
    lines.push(...markdownTable(CANDIDATE_HEADER, results.candidates.map(candidateCells), CANDIDATE_ALIGN), "");
    lines.push("How each candidate ran:", "");
    for (const row of results.candidates) {
      lines.push(isRow(row) ? `- **${row.name}**: ${row.how}.` : `- **${row.name}**: skipped: ${row.skipped}.`);
      if (isRow(row)) for (const note of row.notes) lines.push(`  - ${note}`);
    }
    lines.push("");
  }
  if (results.targets.length) {
    lines.push("Targets (reported, not asserted):", "");
    lines.push(...markdownTable(["target", "measured", "met"], results.targets.map((target) => [target.target, target.measured, target.met ? "yes" : "**no**"]), ["l", "l", "l"]), "");
  }
  if (results.micro) {
    lines.push("### Engine micro-benchmarks", "");
    lines.push("Compile, size, load and memory by number of routes (gateway-full's layout, 10 routes per host):", "");
    const micro = microTables(results.micro, markdownTable);
    const split = micro.indexOf("");
    lines.push(...micro.slice(0, split), "");
    lines.push("Time to match one request, µs, median / p99 (batch means), by layout and number of routes; `growth ×` is the 10,000-route median over the 10-route one (×1,000 would be linear):", "");
    for (const [shape, spec] of Object.entries(results.micro.match)) lines.push(`- \`${shape}\`: ${spec.describe}`);
    const rest = micro.slice(split + 1);
    const matchEnd = rest.indexOf("");
    lines.push("", ...rest.slice(0, matchEnd), "");
    for (const line of rest.slice(matchEnd + 1)) if (line !== "") lines.push(`${line}.`, "");
    for (const note of results.micro.notes) lines.push(`- ${note}`);
    lines.push("");
  }
  for (const profile of results.profiles) {
    lines.push(`### ${profile.candidate} CPU profile`, "");
    lines.push(
      `workerd inspector, ${profile.seconds} s under load, ${profile.samples} samples (idle ${fmt(profile.idle_pct, 1)}%); top functions by self time, % of the isolate's busy time (saved as \`${profile.file}\`, not committed: open it in Chrome DevTools):`,
      "",
    );
    lines.push(
      ...markdownTable(
        ["self %", "function", "where"],
        profile.top.slice(0, 20).map((entry) => [fmt(entry.self_pct, 1), `\`${entry.function}\``, entry.location]),
        ["r", "l", "l"],
      ),
      "",
      `By source file: ${profile.by_file
        .slice(0, 12)
        .map((entry) => `${entry.file} ${fmt(entry.self_pct, 1)}%`)
        .join(", ")}.`,
      "",
    );
  }
  lines.push("Notes:", "");
  for (const note of results.notes) lines.push(`- ${note}`);
  lines.push("", "The raw figures of this run are in `bench/results.json`.");
  return lines;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./processes.js";

/**
 * `npm run bench -- [options]`. Three modes share one code path and differ only in how long
 * they measure: `--smoke` (seconds, for the test suite), `--quick` (under a minute), and the
 * default full run (a few minutes), which also rewrites docs/performance.md.
 */

export type Mode = "full" | "quick" | "smoke";

export interface LoadPlan {
  /** Concurrent keep-alive connections of the throughput rounds. */
  connections: number;
  /** Warm-up per candidate before the first round (JIT, connection pools, snapshot load). */
  warmupSec: number;
  rounds: number;
  roundSec: number;
  /** Rounds at one connection: latency without queueing. */
  latencyRounds: number;
  latencyRoundSec: number;
  /** Rounds that may be measured again because other processes were busy (bounds the run's time). */
  repeatBudget: number;
}

export interface BenchOptions {
  mode: Mode;
  load: LoadPlan;
  only: string[] | undefined;
  skip: string[];
  micro: boolean;
  install: boolean;
  out: string;
  docs: string | undefined;
  profile: boolean;
  /** Pin the load generator and the system under test to separate CPUs (taskset). */
  pin: boolean;
  /** A `wrangler deploy --dry-run` bundle to run as the gateway instead of this tree's (A/B runs). */
  bundle: string | undefined;
  /** Another gateway bundle run side by side with this tree's, in the same rounds (A/B in one run). */
  baseline: string | undefined;
  help: boolean;
}

export const PLANS: Record<Mode, LoadPlan> = {
  full: { connections: 10, warmupSec: 5, rounds: 8, roundSec: 5, latencyRounds: 3, latencyRoundSec: 3, repeatBudget: 16 },
  quick: { connections: 10, warmupSec: 1, rounds: 2, roundSec: 2, latencyRounds: 1, latencyRoundSec: 1, repeatBudget: 2 },
  // The probe request has loaded each candidate's config; a smoke run needs no further warm-up.
  smoke: { connections: 4, warmupSec: 0, rounds: 1, roundSec: 1, latencyRounds: 1, latencyRoundSec: 1, repeatBudget: 0 },
};

export const USAGE = `usage: npm run bench -- [options]

  (default)            full run: 8 rounds of 5 s per candidate; writes bench/results.json and docs/performance.md
  --quick              a smoke run in under a minute; writes bench/results.quick.json
  --smoke              the smallest run (the test suite's); writes bench/results.smoke.json; never installs nginx
  --only a,b           only these candidates (direct, workerd-passthrough, gateway-minimal, gateway-full, nginx, node-proxy)
  --skip a,b           all but these candidates
  --no-micro           skip the engine micro-benchmarks
  --micro-only         only the engine micro-benchmarks
  --no-install         never apt-get install nginx (the candidate is skipped when missing)
  --no-pin             do not pin the load generator (CPU 0) and the candidate + upstream (last CPU) apart
  --connections N      --rounds N  --duration S (per round, whole seconds)  --warmup S
  --out FILE           where to write the results JSON
  --docs FILE          also write the Markdown report there (default: docs/performance.md in a full run only)
  --no-docs            never write the Markdown report
  --profile            also CPU-profile the gateway candidates in workerd (inspector) and print their hot spots
  --bundle FILE        run the gateway candidates from this bundle (e.g. another branch's
                       \`wrangler deploy --dry-run --outdir D\` D/index.js) instead of building this tree's
  --baseline FILE      also run gateway-minimal and gateway-full from this bundle (e.g. the last commit's),
                       as gateway-minimal@baseline and gateway-full@baseline, interleaved in the same rounds:
                       an A/B comparison in one run, so machine noise hits both sides alike
`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean" },
      smoke: { type: "boolean" },
      only: { type: "string" },
      skip: { type: "string" },
      "no-micro": { type: "boolean" },
      "micro-only": { type: "boolean" },
      "no-install": { type: "boolean" },
      connections: { type: "string" },
      rounds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      out: { type: "string" },
      docs: { type: "string" },
      "no-docs": { type: "boolean" },
      profile: { type: "boolean" },
      bundle: { type: "string" },
      baseline: { type: "string" },
      "no-pin": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
    strict: true,
  });
  if (values.quick && values.smoke) throw new TypeError("--quick and --smoke exclude each other");
  const mode: Mode = values.smoke ? "smoke" : values.quick ? "quick" : "full";
  const load = { ...PLANS[mode] };
  if (values.connections !== undefined) load.connections = positive("--connections", values.connections, true);
  if (values.rounds !== undefined) load.rounds = positive("--rounds", values.rounds, true);
  // autocannon runs for whole seconds.
  if (values.duration !== undefined) load.roundSec = positive("--duration", values.duration, true);
  if (values.warmup !== undefined) load.warmupSec = positive("--warmup", values.warmup, true, true);
  const list = (text: string | undefined) => text?.split(",").map((item) => item.trim()).filter(Boolean);
  const defaultOut = mode === "full" ? "bench/results.json" : `bench/results.${mode}.json`;
  const docs = values["no-docs"] ? undefined : values.docs ?? (mode === "full" ? "docs/performance.md" : undefined);
  return {
    mode,
    load,
    only: values["micro-only"] ? [] : list(values.only),
    skip: list(values.skip) ?? [],
    micro: !values["no-micro"],
    install: !values["no-install"] && mode !== "smoke",
    out: path.resolve(REPO_ROOT, values.out ?? defaultOut),
    docs: docs === undefined ? undefined : path.resolve(REPO_ROOT, docs),
    profile: values.profile ?? false,
    pin: !values["no-pin"],
    bundle: values.bundle === undefined ? undefined : path.resolve(process.cwd(), values.bundle),
    baseline: values.baseline === undefined ? undefined : path.resolve(process.cwd(), values.baseline),
    help: values.help ?? false,
  };
}

function positive(flag: string, text: string, integer: boolean, zeroAllowed = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!zeroAllowed && value === 0) || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${flag} must be a ${integer ? "positive integer" : "positive number"} (got '${text}')`);
  }
  return value;
}

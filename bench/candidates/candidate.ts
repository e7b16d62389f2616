import type { IncomingHttpHeaders } from "node:http";
import type { BenchRequest } from "../full-config.js";

/** What every candidate shares: where the upstream is, where to put files, what it may install. */
export interface CandidateContext {
  upstreamPort: number;
  upstreamPid: number;
  /** This run's temporary directory (removed at the end). */
  workDir: string;
  /** May the bench install a missing system package (nginx) with apt-get? */
  install: boolean;
  /** CPUs the candidate is pinned to (the system under test's), or undefined for no pinning. */
  cpus: string | undefined;
  /** A prebuilt gateway bundle to use instead of `wrangler deploy --dry-run` of this tree. */
  gatewayBundle?: string | undefined;
  log(line: string): void;
}

/** A candidate started and ready for load. */
export interface RunningCandidate {
  name: string;
  /** How it was run, for the report (runtime, process model, logging). */
  how: string;
  port: number;
  /** The request the load generator sends (Host, path, headers). */
  request: BenchRequest;
  /** Processes whose CPU time is this candidate's cost (descendants are included). */
  pids(): number[];
  /** Checks the headers the upstream received for the probe request; a problem, or undefined when fine. */
  checkUpstream?(headers: IncomingHttpHeaders): string | undefined;
  /** Facts about this candidate the report must show (e.g. a feature not built yet). */
  notes?: string[];
  stop(): Promise<void>;
}

export type StartResult = RunningCandidate | { skipped: string };

export interface CandidateSpec {
  name: string;
  /** One line: what it is, for `--help` and the report. */
  summary: string;
  start(context: CandidateContext): Promise<StartResult>;
}

/** The request the non-gateway candidates get: same path and a plain Host, no routing headers. */
export function plainRequest(): BenchRequest {
  return { host: "echo.bench.local", path: "/api/items/42", headers: {}, expectRoute: undefined };
}

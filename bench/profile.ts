import { copyFile, readFile } from "node:fs/promises";
import path from "node:path";
import type { CandidateContext } from "./candidates/candidate.js";
import type { RunningCandidate } from "./candidates/candidate.js";
import { deployBundle, launchGatewayFull, launchGatewayMinimal } from "./candidates/workerd.js";
import type { LoadGenerator } from "./load.js";
import { probe } from "./probe.js";
import { BENCH_DIR, freePort, readyLine, startNodeScript } from "./processes.js";
import { round } from "./stats.js";

/**
 * `--profile`: a CPU profile of each gateway candidate in workerd under the bench's load, through
 * workerd's inspector (V8's sampling profiler, 200 µs interval). A separate process is started with
 * `--inspector-addr` so the measured one is never slowed by the inspector. The profile is saved as
 * bench/<candidate>.cpuprofile (open it in Chrome DevTools) and summarised by self time
 * per function and per source file: the bundle is not minified and esbuild marks every module
 * with a `// path/to/file.ts` comment, so a bundle line maps back to its source file.
 */

export interface ProfileEntry {
  function: string;
  location: string;
  self_pct: number;
  self_ms: number;
}

export interface ProfileSummary {
  candidate: ProfiledCandidate;
  seconds: number;
  samples: number;
  /** 2xx responses during the profile (the profiler slows the worker: compare shares, not times). */
  requests: number;
  /** Share of the profile the isolate was idle (waiting on I/O). */
  idle_pct: number;
  /** Percentages below are of the non-idle time. */
  top: ProfileEntry[];
  by_file: { file: string; self_pct: number }[];
  file: string;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export type ProfiledCandidate = "gateway-minimal" | "gateway-full";

const LAUNCHERS: Record<ProfiledCandidate, (context: CandidateContext, args: string[]) => Promise<RunningCandidate>> = {
  "gateway-minimal": launchGatewayMinimal,
  "gateway-full": launchGatewayFull,
};

export const PROFILED_CANDIDATES = Object.keys(LAUNCHERS) as ProfiledCandidate[];

export interface ProfileOptions {
  context: CandidateContext;
  load: LoadGenerator;
  candidate: ProfiledCandidate;
  seconds: number;
  connections?: number;
}

export async function profileGateway(options: ProfileOptions): Promise<ProfileSummary> {
  const { context } = options;
  const inspectorPort = await freePort();
  const candidate = await LAUNCHERS[options.candidate](context, [`--inspector-addr=127.0.0.1:${inspectorPort}`]);
  try {
    await probe(candidate, context.upstreamPort);
    const send = (seconds: number) =>
      options.load.run({
        url: `http://127.0.0.1:${candidate.port}${candidate.request.path}`,
        host: candidate.request.host,
        headers: candidate.request.headers,
        connections: options.connections ?? 10,
        durationSec: seconds,
      });
    await send(2);
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
    const main = targets.find((target) => target.id === "main");
    if (!main) throw new Error(`workerd's inspector lists no "main" worker: ${JSON.stringify(targets)}`);
    const out = path.join(context.workDir, "gateway-full.cpuprofile");
    const nodeArgs = typeof globalThis.WebSocket === "undefined" ? ["--experimental-websocket"] : [];
    const client = startNodeScript("profiler", "profile-client.ts", [main.webSocketDebuggerUrl, out], { nodeArgs });
    await readyLine(client);
    const measured = await send(options.seconds);
    const written = readyLine(client, 60_000);
    client.child.stdin!.write("stop\n");
    await written;
    await client.stop();
    const kept = path.join(BENCH_DIR, `${options.candidate}.cpuprofile`);
    await copyFile(out, kept);
    const profile = JSON.parse(await readFile(out, "utf8")) as CpuProfile;
    const summary = summariseProfile(profile, await moduleMap(await deployBundle(context)), kept);
    return {
      candidate: options.candidate,
      seconds: options.seconds,
      samples: profile.samples.length,
      requests: measured.ok,
      ...summary.figures,
    };
  } finally {
    await candidate.stop();
  }
}

/** For each bundle line (0-based), the source module esbuild put there. */
async function moduleMap(bundle: string): Promise<string[]> {
  const lines = (await readFile(bundle, "utf8")).split("\n");
  const modules: string[] = [];
  let current = "(bundle)";
  for (const line of lines) {
    const marker = /^\/\/ ((?:node_modules\/)?[\w@./-]+\.(?:ts|js|mjs|cjs))$/.exec(line);
    if (marker) current = marker[1]!;
    modules.push(current);
  }
  return modules;
}

export function summariseProfile(
  profile: CpuProfile,
  modules: string[],
  file: string,
): { figures: Pick<ProfileSummary, "idle_pct" | "top" | "by_file" | "file"> } {
  const selfUs = new Map<number, number>();
  profile.samples.forEach((node, index) => selfUs.set(node, (selfUs.get(node) ?? 0) + (profile.timeDeltas[index + 1] ?? profile.timeDeltas[index] ?? 0)));
  const byFunction = new Map<string, ProfileEntry & { us: number }>();
  const byFile = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const frame = node.callFrame;
    if (frame.functionName === "(idle)") {
      idle += us;
      continue;
    }
    busy += us;
    const inBundle = frame.url !== "" && frame.lineNumber >= 0 && modules[frame.lineNumber] !== undefined && /worker\.js$/.test(frame.url);
    const source = inBundle ? modules[frame.lineNumber]! : frame.url || "(runtime)";
    const location = inBundle ? `${source} (bundle line ${frame.lineNumber + 1})` : source;
    const name = frame.functionName || "(anonymous)";
    const key = `${name}|${location}`;
    const entry = byFunction.get(key) ?? { function: name, location, self_pct: 0, self_ms: 0, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
    byFile.set(source, (byFile.get(source) ?? 0) + us);
  }
  const total = idle + busy;
  const figures = {
    idle_pct: round((idle / Math.max(total, 1)) * 100, 3),
    top: [...byFunction.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 30)
      .map(({ us, ...entry }) => ({ ...entry, self_pct: round((us / Math.max(busy, 1)) * 100, 3), self_ms: round(us / 1000, 4) })),
    by_file: [...byFile.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([name, us]) => ({ file: name, self_pct: round((us / Math.max(busy, 1)) * 100, 3) })),
    file: path.relative(path.resolve(BENCH_DIR, ".."), file),
  };
  return { figures };
}

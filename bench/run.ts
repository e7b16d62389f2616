import { mkdtemp, rm } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import path from "node:path";
import type { CandidateContext, RunningCandidate } from "./candidates/candidate.js";
import { CANDIDATES } from "./candidates/index.js";
import { baselineCandidates } from "./candidates/workerd.js";
import { LoadGenerator, type LoadResult } from "./load.js";
import { runMicro } from "./micro-runner.js";
import { parseOptions, USAGE, type BenchOptions } from "./options.js";
import { probe } from "./probe.js";
import { cpuPlan, cpuTimeMs, foreignCpu, killAllNow, readyLine, startNodeScript, stopAll, type CpuPlan } from "./processes.js";
import { PROFILED_CANDIDATES, profileGateway, type ProfileSummary } from "./profile.js";
import { buildResults, describeMachine, printReport, writeDocs, writeResults, type Measurement, type Sample } from "./report.js";

/**
 * `npm run bench`: the gateway's cost side by side with the runtime's limit and the proxies
 * users would pick instead, all in one run. Every candidate runs in its own process and is kept
 * up for the whole run; the load generator (autocannon, its own process) measures them in
 * interleaved rounds, each round in a rotated order, so machine noise hits every candidate alike.
 * Then the engine's micro-benchmarks run in a fresh Node process. See bench/README.md.
 */

async function main(options: BenchOptions): Promise<void> {
  const started = Date.now();
  const loadAverage = os.loadavg().map((value) => Math.round(value * 100) / 100);
  const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
  if (loadAverage[0]! > 1) {
    log(`note: the machine is busy (load average ${loadAverage.join(" / ")}): expect noisy req/s; CPU µs/req and the ratios hold up better`);
  }
  const chosen = CANDIDATES.filter((spec) => (options.only ? options.only.includes(spec.name) : true) && !options.skip.includes(spec.name));
  // --baseline: each gateway candidate is followed by its twin from the other bundle.
  const baselines = options.baseline !== undefined ? baselineCandidates(options.baseline) : {};
  const selected = chosen.flatMap((spec) => (baselines[spec.name] ? [spec, baselines[spec.name]!] : [spec]));
  const unknown = [...(options.only ?? []), ...options.skip].filter((name) => !CANDIDATES.some((spec) => spec.name === name));
  if (unknown.length > 0) throw new TypeError(`unknown candidate(s): ${unknown.join(", ")} (known: ${CANDIDATES.map((spec) => spec.name).join(", ")})`);

  const workDir = await mkdtemp(path.join(tmpdir(), "mesh-bench-"));
  const measurements = new Map<string, Measurement>();
  const skipped = new Map<string, string>();
  const running: RunningCandidate[] = [];
  const profiles: ProfileSummary[] = [];
  let pinning: CpuPlan | undefined;
  try {
    if (selected.length > 0) {
      log(`mode ${options.mode}: ${selected.map((spec) => spec.name).join(", ")}; ${describePlan(options)}`);
      pinning = options.pin ? cpuPlan() : undefined;
      log(pinning ? `pinning: load generator on CPU ${pinning.load}; candidate and upstream on CPU ${pinning.sut}` : "no CPU pinning");
      const upstream = startNodeScript("upstream", "upstream-server.ts", [], { cpus: pinning?.sut });
      const { port: upstreamPort } = await readyLine<{ port: number }>(upstream);
      const generator = await LoadGenerator.start(pinning?.load);
      const context: CandidateContext = {
        upstreamPort,
        upstreamPid: upstream.child.pid!,
        workDir,
        install: options.install,
        cpus: pinning?.sut,
        gatewayBundle: options.bundle,
        log,
      };

      for (const spec of selected) {
        log(`starting ${spec.name}`);
        const result = await spec.start(context);
        if ("skipped" in result) {
          log(`skipping ${spec.name}: ${result.skipped}`);
          skipped.set(spec.name, result.skipped);
          continue;
        }
        running.push(result);
        await probe(result, upstreamPort);
        measurements.set(result.name, { candidate: result, rounds: [], latencyRounds: [] });
      }

      const { load } = options;
      const send = (candidate: RunningCandidate, connections: number, durationSec: number) =>
        generator.run({
          url: `http://127.0.0.1:${candidate.port}${candidate.request.path}`,
          host: candidate.request.host,
          headers: candidate.request.headers,
          connections,
          durationSec,
        });
      // A round during which other processes on the machine took more than this share of all
      // CPUs is measured again (at most twice), so a neighbour's burst does not decide a median.
      const FOREIGN_LIMIT = 0.1;
      // ...within a budget, so that a machine busy all along still finishes in bounded time.
      let repeatsLeft = load.repeatBudget;
      const measure = async (candidate: RunningCandidate, connections: number, durationSec: number) => {
        let sample: Sample | undefined;
        // Errors of a round measured again still count: noise never hides a failure.
        let discardedErrors = 0;
        for (let attempt = 0; attempt < 3; attempt++) {
          if (sample) discardedErrors += sample.errors + sample.non2xx + sample.timeouts;
          const foreign = foreignCpu();
          const cpuBefore = cpuTimeMs(candidate.pids());
          const result = await send(candidate, connections, durationSec);
          const cpuAfter = cpuTimeMs(candidate.pids());
          const cpuMs = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
          const foreignShare = foreign.stop();
          sample = { ...result, cpuMs, foreignCpu: foreignShare, repeats: attempt };
          if (foreignShare === undefined || foreignShare <= FOREIGN_LIMIT || repeatsLeft === 0) break;
          repeatsLeft--;
          log(`  ${candidate.name}: other processes used ${Math.round(foreignShare * 100)}% of the CPUs during the round; measuring it again`);
        }
        return { ...sample!, errors: sample!.errors + discardedErrors };
      };

      if (load.warmupSec > 0) {
        for (const candidate of running) {
          log(`warm-up ${candidate.name} (${load.warmupSec} s)`);
          await send(candidate, load.connections, load.warmupSec);
        }
      }
      for (let round = 0; round < load.rounds; round++) {
        for (const candidate of rotate(running, round)) {
          const sample = await measure(candidate, load.connections, load.roundSec);
          measurements.get(candidate.name)!.rounds.push(sample);
          log(`round ${round + 1}/${load.rounds} ${candidate.name}: ${Math.round(sample.rps)} req/s, p50 ${sample.p50_ms.toFixed(3)} ms, errors ${sample.errors + sample.non2xx + sample.timeouts}`);
        }
      }
      for (let round = 0; round < load.latencyRounds; round++) {
        for (const candidate of rotate(running, round)) {
          const sample = await measure(candidate, 1, load.latencyRoundSec);
          measurements.get(candidate.name)!.latencyRounds.push(sample);
          log(`1-connection round ${round + 1}/${load.latencyRounds} ${candidate.name}: p50 ${sample.p50_ms.toFixed(3)} ms`);
        }
      }
      if (options.profile) {
        const targets = PROFILED_CANDIDATES.filter((name) => running.some((candidate) => candidate.name === name));
        if (targets.length === 0) log("--profile profiles gateway-minimal and gateway-full; neither is selected");
        for (const name of targets) {
          log(`profiling ${name} (workerd inspector, a separate instance)`);
          profiles.push(await profileGateway({ context, load: generator, candidate: name, seconds: Math.max(3, load.roundSec) }));
        }
      }
      for (const candidate of running.splice(0)) await candidate.stop();
      await generator.stop();
      await upstream.stop();
    }

    const micro = options.micro ? await runMicro(options.mode, log) : undefined;
    const results = buildResults({
      options,
      machine: await describeMachine(loadAverage),
      measurements: [...measurements.values()],
      skipped,
      order: selected.map((spec) => spec.name),
      micro,
      profiles,
      pinning,
      elapsedSec: (Date.now() - started) / 1000,
    });
    printReport(results);
    await writeResults(options.out, results);
    log(`results written to ${path.relative(process.cwd(), options.out)}`);
    if (options.docs) {
      await writeDocs(options.docs, results);
      log(`report written to ${path.relative(process.cwd(), options.docs)}`);
    }
    log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    for (const candidate of running) await candidate.stop().catch(() => {});
    await stopAll();
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

function describePlan(options: BenchOptions): string {
  const { load } = options;
  return `${load.connections} connections, warm-up ${load.warmupSec} s, ${load.rounds} rounds of ${load.roundSec} s, then ${load.latencyRounds} of ${load.latencyRoundSec} s at 1 connection`;
}

process.on("exit", killAllNow);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
} else {
  await main(options).catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}

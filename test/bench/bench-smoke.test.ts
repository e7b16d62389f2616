import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CANDIDATES } from "../../bench/candidates/index.js";
import { findNginx } from "../../bench/candidates/nginx.js";
import type { BenchResults, CandidateRow } from "../../bench/report.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";

/**
 * `npm run bench -- --smoke` end to end, so the bench cannot rot: every candidate starts, proxies
 * the bench's request without an error, and the engine's micro-benchmarks produce their figures.
 * Seconds of load only: it checks the bench works, not how fast anything is. nginx is never
 * installed here; without it, its row must say it was skipped.
 */

const run = promisify(execFile);
let outDir: string;
let results: BenchResults;

beforeAll(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), "mesh-bench-smoke-"));
  const out = path.join(outDir, "results.json");
  await run(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke", "--out", out, "--no-docs"], {
    cwd: REPO_ROOT,
    timeout: 150_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`bench --smoke failed: ${error.message}\n${error.stdout ?? ""}\n${error.stderr ?? ""}`);
  });
  results = JSON.parse(await readFile(out, "utf8")) as BenchResults;
}, 180_000);

afterAll(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe("npm run bench -- --smoke", () => {
  it("measures every candidate: requests per second, no errors", () => {
    expect(results.candidates.map((row) => row.name)).toEqual(CANDIDATES.map((spec) => spec.name));
    for (const row of results.candidates) {
      if ("skipped" in row) {
        expect(row.name, `${row.name} was skipped: ${row.skipped}`).toBe("nginx");
        expect(findNginx()).toBeUndefined();
        continue;
      }
      const measured = row as CandidateRow;
      expect(measured.rps, `${row.name} rps`).toBeGreaterThan(0);
      expect(measured.errors, `${row.name} errors`).toBe(0);
      expect(measured.p50_ms).toBeGreaterThan(0);
      expect(measured.p99_ms).toBeGreaterThanOrEqual(measured.p50_ms);
      expect(measured.latency_1conn?.rps).toBeGreaterThan(0);
    }
  });

  it("compares the gateway with the runtime's limit", () => {
    const full = results.candidates.find((row) => row.name === "gateway-full") as CandidateRow;
    expect(full.ratio_to_passthrough).toBeGreaterThan(0);
    expect(full.notes.join(" ")).toMatch(/carries a JWT-SVID .* that the gateway verifies/);
    expect(results.targets.map((target) => target.target)).toContain("gateway-full rps >= 90% of workerd-passthrough");
  });

  it("has the engine's micro-benchmark figures at 10, 1,000 and 10,000 routes", () => {
    const micro = results.micro!;
    expect(micro.compile.map((figure) => figure.routes)).toEqual([10, 1_000, 10_000]);
    for (const figure of micro.compile) {
      expect(figure.compile_ms).toBeGreaterThan(0);
      expect(figure.snapshot_bytes).toBeGreaterThan(0);
      expect(figure.heap_bytes).toBeGreaterThan(0);
    }
    for (const shape of Object.values(micro.match)) {
      for (const size of micro.sizes) {
        for (const which of ["first", "middle", "last", "no-match"] as const) expect(shape.bySize[size]![which].median_ns).toBeGreaterThan(0);
      }
    }
    expect(micro.weighted_draw.median_ns).toBeGreaterThan(0);
    expect(micro.jwt_svid.cold!.median_ns).toBeGreaterThan(0);
    expect(micro.jwt_svid.cached!.median_ns).toBeGreaterThan(0);
  });
});

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";

/**
 * `wrangler deploy --dry-run` for one worker config, offline and non-interactive: the proof that
 * a deploy config is valid and its bundle builds. The output directory is removed after the file's tests.
 */
const run = promisify(execFile);
const outDirs: string[] = [];

afterAll(async () => {
  await Promise.all(outDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function dryRunDeploy(config?: string): Promise<{ stdout: string; outdir: string }> {
  const outdir = await mkdtemp(path.join(tmpdir(), "mesh-dry-run-"));
  outDirs.push(outdir);
  const args = ["wrangler", "deploy", "--dry-run", ...(config ? ["--config", config] : []), "--outdir", outdir];
  const result = await run("npx", args, {
    cwd: REPO_ROOT,
    timeout: 120_000,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      WRANGLER_HIDE_BANNER: "true",
      WRANGLER_LOG_PATH: outdir,
      CI: "true",
      NO_COLOR: "1",
    },
  }).catch((error: Error & { code?: number; stdout?: string; stderr?: string }) => {
    throw new Error(`wrangler exited ${error.code}:\n${error.stdout}\n${error.stderr}`);
  });
  return { stdout: result.stdout, outdir };
}

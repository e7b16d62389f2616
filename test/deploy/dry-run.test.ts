import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { WRANGLER_DEFAULTS } from "../../scripts/lib/local-gateway.js";

/**
 * The ingress worker deploys: wrangler accepts wrangler.toml and bundles gateway/index.ts for
 * Workers (no nodejs_compat, so any Node import would fail here). Offline: --dry-run never
 * uploads, and the banner (wrangler's update check) and metrics are switched off.
 */

const run = promisify(execFile);
const outDirs: string[] = [];

afterAll(async () => {
  await Promise.all(outDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("wrangler deploy --dry-run", () => {
  it("bundles the ingress worker and exits 0", async () => {
    const outdir = await mkdtemp(path.join(tmpdir(), "mesh-dry-run-"));
    outDirs.push(outdir);
    const result = await run("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
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
    expect(result.stdout).toContain("--dry-run: exiting now");
    expect(result.stdout).toContain("env.MESH_CONFIG");

    const files = await readdir(outdir);
    expect(files).toContain("index.js");
    expect((await stat(path.join(outdir, "index.js"))).size).toBeGreaterThan(0);
  }, 120_000);

  it("wrangler.toml says what the local runner assumes", async () => {
    const { unstable_readConfig } = await import("wrangler");
    const config = unstable_readConfig({ config: path.join(REPO_ROOT, "wrangler.toml") });
    expect(config.name).toBe("mesh-ingress");
    expect(path.resolve(REPO_ROOT, config.main ?? "")).toBe(path.join(REPO_ROOT, "gateway/index.ts"));
    expect(config.compatibility_date).toBe(WRANGLER_DEFAULTS.compatibilityDate);
    expect(config.compatibility_flags).toEqual([]);
    expect(config.kv_namespaces.map((namespace: { binding: string }) => namespace.binding)).toEqual([WRANGLER_DEFAULTS.kvBinding]);
    expect(config.vars).toEqual(WRANGLER_DEFAULTS.vars);
  });
});

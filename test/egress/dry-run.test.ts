import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { EGRESS_DEFAULTS } from "../../egress/app.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { WRANGLER_DEFAULTS } from "../../scripts/lib/local-gateway.js";

/**
 * The egress worker deploys as its own worker: wrangler accepts egress/wrangler.toml and bundles
 * egress/index.ts for Workers (no nodejs_compat). Offline: --dry-run never uploads.
 */

const run = promisify(execFile);
const outDirs: string[] = [];
const CONFIG = path.join(REPO_ROOT, "egress/wrangler.toml");

afterAll(async () => {
  await Promise.all(outDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("wrangler deploy --dry-run --config egress/wrangler.toml", () => {
  it("bundles the egress worker and exits 0", async () => {
    const outdir = await mkdtemp(path.join(tmpdir(), "mesh-egress-dry-run-"));
    outDirs.push(outdir);
    const result = await run("npx", ["wrangler", "deploy", "--dry-run", "--config", CONFIG, "--outdir", outdir], {
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

  it("egress/wrangler.toml names its own worker over the ingress's KV, labelled as the egress gateway", async () => {
    const { unstable_readConfig } = await import("wrangler");
    const config = unstable_readConfig({ config: CONFIG });
    expect(config.name).toBe("mesh-egress");
    expect(path.resolve(path.dirname(CONFIG), config.main ?? "")).toBe(path.join(REPO_ROOT, "egress/index.ts"));
    expect(config.compatibility_date).toBe(WRANGLER_DEFAULTS.compatibilityDate);
    expect(config.compatibility_flags).toEqual([]);
    const ingress = unstable_readConfig({ config: path.join(REPO_ROOT, "wrangler.toml") });
    expect(config.kv_namespaces).toEqual(ingress.kv_namespaces);
    expect(config.vars.MESH_GATEWAY_LABELS).toBe("istio=egressgateway");
    expect(config.vars.MESH_GATEWAY_LABELS).toBe(EGRESS_DEFAULTS.MESH_GATEWAY_LABELS);
    expect(config.vars.MESH_WORKLOAD_NAME).toBe(EGRESS_DEFAULTS.MESH_WORKLOAD_NAME);
  });
});

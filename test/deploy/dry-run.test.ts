import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dryRunDeploy } from "../support/wrangler-dry-run.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { WRANGLER_DEFAULTS } from "../../scripts/lib/local-gateway.js";

/**
 * The ingress worker deploys: wrangler accepts wrangler.toml and bundles gateway/index.ts for
 * Workers (no nodejs_compat, so any Node import would fail here). Offline: --dry-run never
 * uploads, and the banner (wrangler's update check) and metrics are switched off.
 */

describe("wrangler deploy --dry-run", () => {
  it("bundles the ingress worker and exits 0", async () => {
    const result = await dryRunDeploy();
    const outdir = result.outdir;
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

import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dryRunDeploy } from "../support/wrangler-dry-run.js";
import { EGRESS_DEFAULTS } from "../../egress/app.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { WRANGLER_DEFAULTS } from "../../scripts/lib/local-gateway.js";

/**
 * The egress worker deploys as its own worker: wrangler accepts egress/wrangler.toml and bundles
 * egress/index.ts for Workers (no nodejs_compat). Offline: --dry-run never uploads.
 */

const CONFIG = path.join(REPO_ROOT, "egress/wrangler.toml");

describe("wrangler deploy --dry-run --config egress/wrangler.toml", () => {
  it("bundles the egress worker and exits 0", async () => {
    const result = await dryRunDeploy(CONFIG);
    const outdir = result.outdir;
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
    expect(config.vars.MESH_PLATFORM_MTLS).toBe(EGRESS_DEFAULTS.MESH_PLATFORM_MTLS);
  });
});

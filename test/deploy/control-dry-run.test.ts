import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dryRunDeploy } from "../support/wrangler-dry-run.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { WRANGLER_DEFAULTS } from "../../scripts/lib/local-gateway.js";
import { CONTROL_DEFAULTS } from "../../scripts/lib/local-mesh.js";

/**
 * The control worker deploys: wrangler accepts control/wrangler.toml (KV, the ConfigStore Durable
 * Object and its SQLite migration) and bundles control/index.ts for Workers with no
 * nodejs_compat. Offline: --dry-run never uploads; banner and metrics are off.
 */

const CONFIG = path.join(REPO_ROOT, "control/wrangler.toml");

describe("wrangler deploy --dry-run --config control/wrangler.toml", () => {
  it("bundles the control worker with its Durable Object and exits 0", async () => {
    const result = await dryRunDeploy(CONFIG);
    const outdir = result.outdir;
    expect(result.stdout).toContain("--dry-run: exiting now");
    expect(result.stdout).toContain("env.MESH_CONFIG");
    expect(result.stdout).toMatch(/env\.CONFIG_STORE \(ConfigStore\)\s+Durable Object/);
    expect((await stat(path.join(outdir, "index.js"))).size).toBeGreaterThan(0);
    expect(await readdir(outdir)).toContain("index.js");
  }, 120_000);

  it("control/wrangler.toml says what the local runner assumes, and shares the gateway's KV namespace", async () => {
    const { unstable_readConfig } = await import("wrangler");
    const control = unstable_readConfig({ config: CONFIG });
    const gateway = unstable_readConfig({ config: path.join(REPO_ROOT, "wrangler.toml") });
    expect(control.name).toBe(CONTROL_DEFAULTS.name);
    expect(path.resolve(path.dirname(CONFIG), control.main ?? "")).toBe(CONTROL_DEFAULTS.entry);
    expect(control.compatibility_date).toBe(WRANGLER_DEFAULTS.compatibilityDate);
    expect(control.compatibility_flags).toEqual([]);
    expect(control.kv_namespaces).toEqual(gateway.kv_namespaces);
    expect(control.durable_objects.bindings).toEqual([{ name: CONTROL_DEFAULTS.durableObjectBinding, class_name: CONTROL_DEFAULTS.durableObjectClass }]);
    expect(control.migrations).toEqual([{ tag: "v1", new_sqlite_classes: [CONTROL_DEFAULTS.durableObjectClass] }]);
    expect(control.vars).toEqual(CONTROL_DEFAULTS.vars);
  });
});

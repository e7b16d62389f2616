import path from "node:path";
import { createInterface } from "node:readline";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CURRENT_POINTER_KEY, snapshotKey } from "../../policies/snapshot/kv-layout.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";
import { WRANGLER_DEFAULTS } from "../../scripts/lib/local-gateway.js";
import { compileConfig, gatewayBundle, requestOverHttp } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/**
 * A KV read that throws: the gateway keeps serving the last good snapshot and logs why
 * (`config_load_failed`, "reading KV failed: ..."), then picks up new config once KV answers.
 *
 * Miniflare's local KV does not fail on its own, so the real gateway bundle runs in workerd with
 * its MESH_CONFIG binding pointed at a stand-in: a service binding (JS RPC) to a small worker in
 * the same workerd whose `get(key, type)` reads a real KV namespace, or throws while the test
 * has switched the outage on. The gateway calls it exactly as it calls KV (`get(key, "text")`).
 * (gateway-fixture's startTestGateway always binds a real KV namespace, hence Miniflare directly.)
 */

const TTL_MS = 100;
const OUTAGE_KEY = "test/outage";
const FLAKY_KV = `
import { WorkerEntrypoint } from "cloudflare:workers";
export class FlakyKv extends WorkerEntrypoint {
  async get(key, type) {
    const outage = await this.env.STORE.get(${JSON.stringify(OUTAGE_KEY)});
    if (outage !== null) throw new Error(outage);
    return this.env.STORE.get(key, type);
  }
}
export default { fetch: () => new Response("flaky kv") };
`;

let blue: Upstream, green: Upstream;
let mf: Miniflare;
let url: URL;
const logs: Record<string, unknown>[] = [];

const configFor = (subset: "blue" | "green") =>
  gatewayYaml() + serviceYaml("app.internal", [blue, green]) + virtualServiceYaml("app", ["app.test"], `- route: [{ destination: { host: app.internal, subset: ${subset} } }]`);

async function store() {
  return mf.getKVNamespace("STORE", "flaky-kv");
}

async function seed(snapshot: Snapshot): Promise<void> {
  const kv = await store();
  await kv.put(snapshotKey(snapshot.version), JSON.stringify(snapshot));
  await kv.put(CURRENT_POINTER_KEY, JSON.stringify({ version: snapshot.version }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function version(): Promise<string> {
  const response = await requestOverHttp(url, "/", { host: "app.test" });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as UpstreamEcho).version;
}

async function health(): Promise<{ status: string; configVersion: string | null; lastError?: string }> {
  return (await (await requestOverHttp(url, "/__mesh/healthz")).json()) as { status: string; configVersion: string | null; lastError?: string };
}

beforeAll(async () => {
  [blue, green] = await Promise.all([startUpstream({ name: "app", version: "blue" }), startUpstream({ name: "app", version: "green" })]);
  const scriptPath = await gatewayBundle();
  mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      createInterface({ input: stdout }).on("line", (line) => {
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ text: line });
        }
      });
      stderr.pipe(process.stderr);
    },
    workers: [
      {
        name: "gateway",
        modules: true,
        scriptPath,
        modulesRoot: path.dirname(scriptPath),
        compatibilityDate: WRANGLER_DEFAULTS.compatibilityDate,
        bindings: { ...WRANGLER_DEFAULTS.vars, MESH_CONFIG_TTL_MS: String(TTL_MS), MESH_DEBUG_HEADERS: "true" },
        serviceBindings: { [WRANGLER_DEFAULTS.kvBinding]: { name: "flaky-kv", entrypoint: "FlakyKv" } },
      },
      { name: "flaky-kv", modules: true, script: FLAKY_KV, compatibilityDate: WRANGLER_DEFAULTS.compatibilityDate, kvNamespaces: ["STORE"] },
    ],
  });
  url = await mf.ready;
  await seed(await compileConfig(configFor("blue")));
});

afterAll(async () => {
  await mf?.dispose();
  await Promise.all([blue, green].map((upstream) => upstream?.close()));
});

describe("a KV read that throws", () => {
  it("keeps serving the last good snapshot, says why in healthz and in one config_load_failed line, and recovers when KV answers again", async () => {
    expect(await version()).toBe("blue");
    const good = (await health()).configVersion;
    expect(good).toMatch(/\S/);

    const kv = await store();
    await kv.put(OUTAGE_KEY, "simulated KV outage");
    // A newer config is written too: it must not be seen while reads fail.
    const green = await compileConfig(configFor("green"));
    await kv.put(snapshotKey(green.version), JSON.stringify(green));
    await kv.put(CURRENT_POINTER_KEY, JSON.stringify({ version: green.version }));
    await sleep(TTL_MS * 2);
    for (let index = 0; index < 5; index++) {
      expect(await version()).toBe("blue");
      await sleep(TTL_MS / 2);
    }
    const during = await health();
    expect(during.configVersion).toBe(good);
    expect(during.lastError).toBe("reading KV failed: simulated KV outage");
    const failures = logs.filter((line) => line.event === "config_load_failed");
    // Logged once per distinct reason, not once per refresh.
    expect(failures).toEqual([{ event: "config_load_failed", reason: "reading KV failed: simulated KV outage", serving: good }]);

    await kv.delete(OUTAGE_KEY);
    await sleep(TTL_MS * 2);
    expect(await version()).toBe("green");
    expect(await health()).toEqual({ status: "ok", configVersion: green.version });
    expect(logs.some((line) => line.event === "config_swapped" && line.from === good && line.to === green.version)).toBe(true);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CURRENT_POINTER_KEY, snapshotKey } from "../../policies/snapshot/kv-layout.js";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "./mesh-config.js";

/** The gateway follows the snapshot in KV: atomic swaps under traffic, and the last good one kept. */

let blue: Upstream, green: Upstream;
const TTL_MS = 100;

const configFor = (subset: "blue" | "green") =>
  gatewayYaml() +
  serviceYaml("app.internal", [blue, green]) +
  virtualServiceYaml("app", ["app.test"], `- route: [{ destination: { host: app.internal, subset: ${subset} } }]`);

beforeAll(async () => {
  [blue, green] = await Promise.all([startUpstream({ name: "app", version: "blue" }), startUpstream({ name: "app", version: "green" })]);
});

afterAll(async () => {
  await Promise.all([blue, green].map((upstream) => upstream?.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function version(gateway: TestGateway): Promise<string> {
  const response = await gateway.fetch("/", { host: "app.test" });
  expect(response.status).toBe(200);
  return ((await response.json()) as UpstreamEcho).version;
}

describe("snapshot swaps", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(configFor("blue"), { bindings: { MESH_CONFIG_TTL_MS: String(TTL_MS), MESH_DEBUG_HEADERS: "true" } });
  });
  afterAll(() => gateway?.close());

  it("switches to a new snapshot under traffic with no failed request and no going back", async () => {
    const first = gateway.snapshot!.version;
    expect(await version(gateway)).toBe("blue");
    // Pairs of concurrent requests: a pair in flight during the swap may be served by either
    // version, but every pair started after one saw green must be all green (never back to blue).
    const pairs: string[][] = [];
    let stop = false;
    const traffic = (async () => {
      while (!stop) pairs.push(await Promise.all([version(gateway), version(gateway)]));
    })();
    await sleep(150);
    const next = await gateway.applySnapshot(configFor("green"));
    expect(next.version).not.toBe(first);
    await sleep(TTL_MS * 4);
    stop = true;
    await traffic;
    const firstGreen = pairs.findIndex((pair) => pair.includes("green"));
    expect(firstGreen).toBeGreaterThan(0);
    expect(pairs.slice(firstGreen + 1).flat().every((v) => v === "green")).toBe(true);
    const health = (await (await gateway.fetch("/__mesh/healthz")).json()) as { configVersion: string };
    expect(health.configVersion).toBe(next.version);
  });

  it("keeps serving the last good snapshot when KV holds an invalid one", async () => {
    const good = gateway.snapshot!.version;
    await gateway.putRawKv(snapshotKey("broken1"), JSON.stringify({ format: 1, version: "broken1", routes: "nope" }));
    await gateway.putRawKv(CURRENT_POINTER_KEY, JSON.stringify({ version: "broken1" }));
    await sleep(TTL_MS * 2);
    expect(await version(gateway)).toBe("green");
    await gateway.putRawKv(CURRENT_POINTER_KEY, "{not json");
    await sleep(TTL_MS * 2);
    expect(await version(gateway)).toBe("green");
    await gateway.putRawKv(CURRENT_POINTER_KEY, JSON.stringify({ version: "missing-version" }));
    await sleep(TTL_MS * 2);
    expect(await version(gateway)).toBe("green");
    const health = (await (await gateway.fetch("/__mesh/healthz")).json()) as { configVersion: string; lastError?: string };
    expect(health.configVersion).toBe(good);
    expect(health.lastError).toMatch(/missing-version/);
    // Pointing back at the served version clears the error.
    await gateway.putRawKv(CURRENT_POINTER_KEY, JSON.stringify({ version: good }));
    await sleep(TTL_MS * 2);
    const healed = (await (await gateway.fetch("/__mesh/healthz")).json()) as { configVersion: string; lastError?: string };
    expect(healed).toEqual({ status: "ok", configVersion: good });
  });
});

describe("a gateway with no config", () => {
  it("answers 503 at healthz and on requests until a snapshot arrives", async () => {
    const gateway = await startTestGateway([], { seed: false, bindings: { MESH_CONFIG_TTL_MS: String(TTL_MS) } });
    try {
      const health = await gateway.fetch("/__mesh/healthz");
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: "no_config", configVersion: null });
      const request = await gateway.fetch("/", { host: "app.test" });
      expect(request.status).toBe(503);
      expect(await request.json()).toMatchObject({ error: "no_config" });
      await gateway.applySnapshot(configFor("blue"));
      expect(await version(gateway)).toBe("blue");
    } finally {
      await gateway.close();
    }
  });
});

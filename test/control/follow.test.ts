import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "../gateway/mesh-config.js";
import { startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { startTestMesh, type TestMesh } from "./support/control-fixture.js";

/**
 * The ingress gateway follows the control API while traffic flows: an apply and then a rollback,
 * each seen within the gateway's TTL, with no request failing and none served half by one version
 * and half by the other. Each version is recognisable twice in every answer: by the upstream that
 * served it (blue or green) and by a response header its route sets (x-config: a or b); a request
 * that mixed versions would show one of each.
 */

const TTL_MS = 200;
let blue: Upstream, green: Upstream;

beforeAll(async () => {
  [blue, green] = await Promise.all([startUpstream({ name: "app", version: "blue" }), startUpstream({ name: "app", version: "green" })]);
});
afterAll(async () => {
  await Promise.all([blue, green].map((upstream) => upstream?.close()));
});

const configFor = (label: "a" | "b", subset: "blue" | "green") =>
  gatewayYaml() +
  serviceYaml("app.internal", [blue, green]) +
  virtualServiceYaml("app", ["app.test"], `- name: app\n  headers: { response: { set: { x-config: ${label} } } }\n  route: [{ destination: { host: app.internal, subset: ${subset} } }]`);

interface Sample {
  startedAt: number;
  status: number;
  label: string | null;
  upstream: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a gateway following the control API", () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh({ gatewayBindings: { MESH_CONFIG_TTL_MS: String(TTL_MS) }, captureLogs: true });
  });
  afterAll(() => mesh?.dispose());

  it("switches on apply and back on rollback under traffic, with no failed or mixed request", async () => {
    const applyA = await mesh.api("POST", "/v1/apply", { body: configFor("a", "blue"), contentType: "application/yaml" });
    expect(applyA.status, applyA.text).toBe(200);
    const versionA: string = applyA.body.version;

    const samples: Sample[] = [];
    const request = async () => {
      const startedAt = performance.now();
      const response = await mesh.gateway("/", { host: "app.test" });
      const echo = response.status === 200 ? ((await response.json()) as UpstreamEcho) : undefined;
      samples.push({ startedAt, status: response.status, label: response.headers.get("x-config"), upstream: echo?.version ?? null });
    };
    let stop = false;
    const traffic = (async () => {
      while (!stop) await Promise.all([request(), request()]);
    })();

    await sleep(TTL_MS * 2);
    // The pointer moves while the apply is still answering: "before" is when it was sent.
    const applySentAt = performance.now();
    const applyB = await mesh.api("POST", "/v1/apply", { body: configFor("b", "green"), contentType: "application/yaml", headers: { "if-match": `"${versionA}"` } });
    expect(applyB.status, applyB.text).toBe(200);
    const appliedAt = performance.now();
    const versionB: string = applyB.body.version;
    await sleep(TTL_MS * 5);

    const rollbackSentAt = performance.now();
    const rollback = await mesh.api("POST", "/v1/rollback", { body: JSON.stringify({ version: versionA }), headers: { "if-match": `"${versionB}"` } });
    expect(rollback.status, rollback.text).toBe(200);
    expect(rollback.body.version).toBe(versionA);
    const rolledBackAt = performance.now();
    await sleep(TTL_MS * 5);
    stop = true;
    await traffic;

    expect(samples.length).toBeGreaterThan(20);
    expect(samples.filter((sample) => sample.status !== 200)).toEqual([]);
    // Never mixed: the route's header and the upstream always come from the same version.
    expect(samples.every((sample) => (sample.label === "a" && sample.upstream === "blue") || (sample.label === "b" && sample.upstream === "green"))).toBe(true);

    // Before the apply: A only. From a TTL (plus slack for a loaded machine) after each write, the new version only.
    const slack = TTL_MS + 500;
    expect(samples.filter((sample) => sample.startedAt < applySentAt).every((sample) => sample.label === "a")).toBe(true);
    const afterApply = samples.filter((sample) => sample.startedAt > appliedAt + slack && sample.startedAt < rollbackSentAt);
    expect(afterApply.length).toBeGreaterThan(0);
    expect(afterApply.every((sample) => sample.label === "b")).toBe(true);
    const afterRollback = samples.filter((sample) => sample.startedAt > rolledBackAt + slack);
    expect(afterRollback.length).toBeGreaterThan(0);
    expect(afterRollback.every((sample) => sample.label === "a")).toBe(true);

    // The access log says which version served each request: only ever A or B.
    const versions = new Set(mesh.logs.filter((line) => line.path === "/" && "config_version" in line).map((line) => line.config_version));
    expect([...versions].sort()).toEqual([versionA, versionB].sort());
    const health = (await (await mesh.gateway("/__mesh/healthz")).json()) as { configVersion: string };
    expect(health.configVersion).toBe(versionA);
  });
});

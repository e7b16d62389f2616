import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { gatewayYaml, serviceYaml, virtualServiceYaml } from "../gateway/mesh-config.js";
import { startTestGateway, type TestGateway } from "../support/gateway-fixture.js";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { MESHCTL_BIN, runMeshctl, type MeshctlResult } from "./processes.js";

/**
 * `meshctl top` as a process, as a user runs it, against the real gateway in workerd with known
 * traffic: a fast route to v1, a route delayed 150 ms by a fault (v1 too), a route whose fault
 * aborts every request with 503 (v2), and requests no route takes.
 */

const BIN = MESHCTL_BIN;

let v1: Upstream;
let v2: Upstream;
let gateway: TestGateway;
let home: string;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "meshctl-top-e2e-"));
  [v1, v2] = await Promise.all([startUpstream({ name: "app", version: "v1" }), startUpstream({ name: "app", version: "v2" })]);
  gateway = await startTestGateway(
    gatewayYaml() +
      serviceYaml("app.internal", [v1, v2]) +
      virtualServiceYaml(
        "shop",
        ["shop.test"],
        `- name: slow
  match: [{ uri: { prefix: /slow } }]
  fault: { delay: { fixedDelay: 150ms, percentage: { value: 100 } } }
  route: [{ destination: { host: app.internal, subset: v1 } }]
- name: broken
  match: [{ uri: { prefix: /broken } }]
  fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }
  route: [{ destination: { host: app.internal, subset: v2 } }]
- name: fast
  route: [{ destination: { host: app.internal, subset: v1 } }]`,
      ),
  );
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([v1?.close(), v2?.close()]);
  if (home) await rm(home, { recursive: true, force: true });
});

const env = () => ({ ...process.env, MESH_HOME: home, MESH_GATEWAY_URLS: "", MESH_METRICS_TOKEN: "", NO_COLOR: "1" });

function meshctl(args: string[]): Promise<MeshctlResult> {
  return runMeshctl(args, env());
}

async function send(target: string, times: number, host = "shop.test"): Promise<number[]> {
  const statuses: number[] = [];
  for (let batch = 0; batch < times; batch += 10) {
    const answers = await Promise.all(Array.from({ length: Math.min(10, times - batch) }, () => gateway.fetch(target, { host })));
    for (const answer of answers) {
      statuses.push(answer.status);
      await answer.arrayBuffer();
    }
  }
  return statuses;
}

/** Waits until the gateway has recorded `count` source reports (a response is counted once it has been sent). */
async function settled(count: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const text = await (await gateway.fetch("/__mesh/metrics")).text();
    const total = [...text.matchAll(/^istio_requests_total\{reporter="source",[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    if (total >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the gateway did not record ${count} requests`);
}

describe("meshctl top, as a process against a gateway with known traffic", () => {
  it("--once --interval 0: every request since the gateway started, per service and version", async () => {
    expect(await send("/slow", 10)).toEqual(Array(10).fill(200));
    expect(await send("/", 20)).toEqual(Array(20).fill(200));
    expect(await send("/broken", 5)).toEqual(Array(5).fill(503));
    expect(await send("/", 3, "nowhere.example")).toEqual(Array(3).fill(404));
    await settled(38);

    const result = await meshctl(["top", "--gateway", gateway.url.origin, "--once", "--interval", "0", "-o", "json"]);
    expect(result.code, result.stderr).toBe(0);
    const frame = JSON.parse(result.stdout);
    expect(frame.gateways).toEqual([expect.objectContaining({ url: gateway.url.origin, configVersion: gateway.snapshot!.version, sinceStart: true })]);
    const rows = frame.rows.map((row: { service: string; version: string; requests: number; errors: number }) => [row.service, row.version, row.requests, row.errors]);
    expect(rows).toEqual([
      ["app.internal", "v1", 30, 0],
      ["app.internal", "v2", 5, 5],
      ["unknown", "unknown", 3, 0],
    ]);
    const [fastAndSlow, aborted] = frame.rows;
    expect(aborted.errorRatio).toBe(1);
    expect(fastAndSlow.rps).toBeGreaterThan(0);
    // A third of v1's requests waited at least 150 ms: p99 is among them, above the 100 ms bound,
    // and p50 among the fast ones. (How far above depends on the machine's load.)
    expect(fastAndSlow.p99Ms).toBeGreaterThan(100);
    expect(fastAndSlow.p50Ms).toBeLessThan(fastAndSlow.p99Ms);
    expect(frame.total).toMatchObject({ requests: 38, errors: 5 });
  });

  it("--once --interval 2: only the traffic of those two seconds, as a table", async () => {
    const child = spawn(process.execPath, [BIN, "top", "--gateway", gateway.url.origin, "--once", "--interval", "2"], { cwd: REPO_ROOT, env: env(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    for (let waited = 0; !stderr.includes("measuring for 2s"); waited += 20) {
      if (waited > 15_000) throw new Error(`top did not start measuring: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await send("/broken", 6)).toEqual(Array(6).fill(503));
    expect(await exited).toBe(0);
    const table = stdout.split("\n").filter((line) => /^(SERVICE|app\.internal|unknown|TOTAL)/.test(line)).map((line) => line.split(/\s{2,}/));
    expect(table[0]).toEqual(["SERVICE", "VERSION", "REQUESTS", "RPS", "ERRORS", "P50", "P99"]);
    expect(table.slice(1).map((row) => row.slice(0, 3))).toEqual([
      ["app.internal", "v1", "0"],
      ["app.internal", "v2", "6"],
      ["unknown", "unknown", "0"],
      ["TOTAL", "6", expect.any(String)],
    ]);
    expect(table[2]![4]).toBe("100.0%");
    expect(stdout).toMatch(/last 2\.\ds/);
  });

  it("refreshes every --interval until Ctrl-C, then exits 0", async () => {
    const child = spawn(process.execPath, [BIN, "top", "--gateway", gateway.url.origin, "--interval", "0.5"], { cwd: REPO_ROOT, env: env(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    for (let waited = 0; (stdout.match(/^meshctl top /gm) ?? []).length < 3; waited += 20) {
      if (waited > 20_000) throw new Error(`top did not refresh: ${stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    const frames = stdout.split(/^(?=meshctl top )/m);
    expect(frames[0]).toContain("since it started");
    expect(frames[1]).toMatch(/last \d+\.\ds/);
    expect(frames[0]).toContain("every 0.5s (Ctrl-C to stop)");
  });
});

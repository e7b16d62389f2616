import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { binomialTolerance } from "../gateway/mesh-config.js";
import { requestOverHttp } from "../support/gateway-fixture.js";
import { freePort, startClosedPort, startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { listeningUrl, runMeshctl, sleep, spawnNpmStart, stopNpmStart, waitForBanner, type MeshctlResult, type NpmStart } from "./processes.js";

/**
 * The README's tour, as a newcomer runs it: `npm start`, then `meshctl` as a real process
 * (`npx meshctl` and the package's bin), finding the local control API and token through
 * MESH_HOME the way it does on a developer's machine. examples/bookinfo.yaml is served with its
 * demo ports swapped for test upstreams; examples/canary-90-10.yaml and broken-canary.yaml are
 * applied exactly as shipped.
 */


let work: string;
let home: string;
let upstreams: Upstream[] = [];
let npm: NpmStart | undefined;
let ingress: URL;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "mesh-e2e-meshctl-"));
  home = path.join(work, "home");
  // One upstream per demo port of examples/bookinfo.yaml: productpage, reviews v1-v3, ratings, details, flaky.
  const demo = [["productpage", "v1"], ["reviews", "v1"], ["reviews", "v2"], ["reviews", "v3"], ["ratings", "v1"], ["details", "v1"], ["flaky", "v1"]] as const;
  upstreams = await Promise.all(demo.map(([name, version]) => startUpstream({ name, version })));
  let config = await readFile(path.join(REPO_ROOT, "examples/bookinfo.yaml"), "utf8");
  demo.forEach((_, index) => (config = config.replaceAll(`http: ${9080 + index} }`, `http: ${upstreams[index]!.port} }`)));
  await writeFile(path.join(work, "bookinfo.yaml"), config);

  const [port, controlPort, egressPort] = [await freePort(), await freePort(), await freePort()];
  env = { ...process.env, MESH_HOME: home, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", MESH_ADMIN_TOKEN: "", MESH_CONTROL_URL: "", MESH_AUTHOR: "newcomer" };
  npm = spawnNpmStart(["--config", path.join(work, "bookinfo.yaml"), "--no-demo", "--persist-to", path.join(work, "store")], {
    ...env,
    INGRESS_PORT: String(port),
    CONTROL_PORT: String(controlPort),
    EGRESS_PORT: String(egressPort),
  });
  ingress = listeningUrl(await waitForBanner(npm), "mesh-ingress");
}, 60_000);

afterAll(async () => {
  await stopNpmStart(npm);
  await Promise.all(upstreams.map((upstream) => upstream.close()));
  if (work) await rm(work, { recursive: true, force: true });
});

function meshctl(args: string[], options: { npx?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<MeshctlResult> {
  return runMeshctl(args, { ...env, ...options.env }, options);
}

async function servedVersion(): Promise<string | null> {
  const response = await requestOverHttp(ingress, "/__mesh/healthz");
  return ((await response.json()) as { configVersion: string | null }).configVersion;
}

async function waitForVersion(version: string, withinMs: number): Promise<number> {
  const start = Date.now();
  while ((await servedVersion()) !== version) {
    if (Date.now() - start > withinMs) throw new Error(`the gateway did not serve ${version} within ${withinMs} ms`);
    await sleep(50);
  }
  return Date.now() - start;
}

async function reviewsSplit(requests: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let batch = 0; batch < requests / 20; batch++) {
    const answers = await Promise.all(Array.from({ length: 20 }, () => requestOverHttp(ingress, "/reviews/1", { host: "bookinfo.local" })));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      const version = ((await answer.json()) as UpstreamEcho).version;
      counts[version] = (counts[version] ?? 0) + 1;
    }
  }
  return counts;
}

function expectShare(counts: Record<string, number>, version: string, share: number, total: number): void {
  expect(Math.abs((counts[version] ?? 0) - share * total)).toBeLessThanOrEqual(binomialTolerance(total, share));
}

describe("the README tour: npm start, then meshctl", () => {
  let seeded: string;
  let canaryVersion: string;

  it("finds the local control API and token by itself and reports every gateway in sync", async () => {
    const status = await meshctl(["status"], { npx: true });
    expect(status.code, status.stderr).toBe(0);
    seeded = /version ([0-9a-f]{16})/.exec(status.stdout)![1]!;
    expect(status.stdout).toMatch(new RegExp(`mesh-ingress\\s+${ingress.origin.replace(/[.:/]/g, "\\$&")}\\s+${seeded}\\s+in sync`));
    expect(await servedVersion()).toBe(seeded);
  });

  it("shows the canary's change, applies it, and the split changes within a second or two", async () => {
    const before = await reviewsSplit(200);
    expectShare(before, "v1", 0.8, 200);
    expectShare(before, "v2", 0.2, 200);
    expect(before.v3).toBeUndefined();

    const diff = await meshctl(["diff", "-f", "examples/canary-90-10.yaml", "--exit-code"]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain("~ VirtualService bookinfo/bookinfo");
    expect(diff.stdout).toContain("spec.http[2].route[0].weight: 80 → 90");
    expect(diff.stdout).toContain('spec.http[2].route[1].destination.subset: "v2" → "v3"');

    const applied = await meshctl(["apply", "-f", "examples/canary-90-10.yaml"], { npx: true });
    expect(applied.code, applied.stderr).toBe(0);
    canaryVersion = /applied: version ([0-9a-f]{16}) \(was ([0-9a-f]{16})\)/.exec(applied.stdout)![1]!;
    expect(applied.stdout).toContain(`(was ${seeded})`);
    expect(applied.stdout).toContain("changed   VirtualService bookinfo/bookinfo");
    // npm start sets MESH_CONFIG_TTL_MS to 1000 locally.
    expect(await waitForVersion(canaryVersion, 2500)).toBeLessThanOrEqual(2500);

    const after = await reviewsSplit(200);
    expectShare(after, "v1", 0.9, 200);
    expectShare(after, "v3", 0.1, 200);
    expect(after.v2).toBeUndefined();
    expect((await meshctl(["status", "--wait", "5"])).stdout).toMatch(new RegExp(`${canaryVersion}\\s+in sync`));
  });

  it("refuses the broken canary with every issue and exit 1, and stores nothing", async () => {
    const refused = await meshctl(["apply", "-f", "examples/broken-canary.yaml"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("error: the config after this change would be invalid (2 issues); nothing was stored [400 invalid_config]");
    expect(refused.stderr).toContain("examples/broken-canary.yaml:10:1: VirtualService bookinfo/bookinfo: spec.http[1].route[0].destination: route 'reviews-jason': unknown host 'reviewz.bookinfo.local'");
    expect(refused.stderr).toContain("examples/broken-canary.yaml:10:1: VirtualService bookinfo/bookinfo: spec.http[2].route[1].destination: route 'reviews': unknown subset 'v4' of host 'reviews.bookinfo.local' (DestinationRule bookinfo/reviews defines: v1, v2, v3)");
    const offline = await meshctl(["validate", "-f", "examples/broken-canary.yaml", "--base", "examples/bookinfo.yaml"]);
    expect(offline.code).toBe(1);
    // Offline, the same messages.
    for (const line of refused.stderr.split("\n").filter((text) => text.startsWith("  "))) expect(offline.stderr).toContain(line);
    const history = JSON.parse((await meshctl(["history", "-o", "json"])).stdout) as { version: string; entries: unknown[] };
    expect(history.version).toBe(canaryVersion);
    expect(history.entries).toHaveLength(2);
    expect(await servedVersion()).toBe(canaryVersion);
  });

  it("explains a request as a readable trace", async () => {
    const explained = await meshctl(["explain", "http://bookinfo.local/reviews/1", "-H", "end-user: jason"]);
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toContain("gateway * bookinfo/bookinfo-gateway");
    expect(explained.stdout).toMatch(/no\s+#0 productpage\n\s+match\[0\] uri: exact "\/productpage" does not match "\/reviews\/1"/);
    expect(explained.stdout).toContain("MATCH #1 reviews-jason (by match[0])");
    expect(explained.stdout).toMatch(/100%\s+reviews\.bookinfo\.local\|v3\|9080/);
    const notFound = await meshctl(["explain", "http://nowhere.local/"]);
    expect(notFound.stdout).toContain("404 NR: no_gateway_for_host");
  });

  it("rolls back with `meshctl rollback`, and the history tells the story with authors", async () => {
    const rolled = await meshctl(["rollback"]);
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stdout).toContain(`rolled back: version ${seeded} (was ${canaryVersion})`);
    await waitForVersion(seeded, 2500);
    const split = await reviewsSplit(100);
    expect(split.v3).toBeUndefined();

    const history = await meshctl(["history"]);
    const rows = history.stdout.trim().split("\n").slice(1);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(new RegExp(`^\\*\\s+3\\s+${seeded}\\s+\\S+ ago\\s+newcomer\\s+rollback\\s+rollback to ${seeded}`));
    expect(rows[1]).toMatch(new RegExp(`^\\s+2\\s+${canaryVersion}\\s+\\S+ ago\\s+newcomer\\s+apply`));
    expect(rows[2]).toMatch(/npm start\s+apply/);

    const vs = await meshctl(["get", "vs", "bookinfo", "-o", "yaml"]);
    expect(vs.stdout).toContain("weight: 80");
    expect((await meshctl(["get", "se"])).stdout.trim().split("\n")).toHaveLength(6);
  });

  it("exits non-zero with a clear message on every failure", async () => {
    const wrongToken = await meshctl(["history", "--token", "nope"]);
    expect(wrongToken).toMatchObject({ code: 1 });
    expect(wrongToken.stderr).toContain("the bearer token is not valid [401 unauthorized]");
    const reader = (await readFile(path.join(home, "reader-token"), "utf8")).trim();
    const forbidden = await meshctl(["rollback", canaryVersion, "--token", reader]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain("[403 forbidden]");
    const stale = await meshctl(["apply", "-f", "examples/canary-90-10.yaml", "--if-match", canaryVersion]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("[412 precondition_failed]");
    const closed = await startClosedPort();
    const unreachable = await meshctl(["status", "--server", closed.url]);
    expect(unreachable.code).toBe(3);
    expect(await servedVersion()).toBe(seeded);
  });
});

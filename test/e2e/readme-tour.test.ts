import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { binomialTolerance } from "../gateway/mesh-config.js";
import { requestOverHttp } from "../support/gateway-fixture.js";
import { freePort } from "../support/upstream.js";
import { listeningUrl, spawnNpmStart, stopNpmStart, waitForBanner, type NpmStart } from "./processes.js";

/**
 * The README's "2-minute tour" as a newcomer runs it: plain `npm start` (the default config and
 * the demo services), every port free and chosen by the test (INGRESS_PORT, EGRESS_PORT,
 * CONTROL_PORT, and DEMO_PORT_BASE for the eight demo ports, which the default config's
 * endpoints follow), then the tour's curl commands taken from README.md and run with bash, the
 * gateway's address swapped for the test's. Each documented outcome is checked: the 80/20 split,
 * jason on v3, the abort (503 FI), the 2 s delay (DI), /flaky retried to a 200, NR for an
 * unknown host.
 */

const README_GATEWAY = "http://127.0.0.1:8787";
const DEMO_PORTS = 8;

let work: string;
let npm: NpmStart | undefined;
let banner: string;
let ingress: URL;
let egress: URL;
let demoBase: number;
let env: NodeJS.ProcessEnv;

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** A run of `count` free ports below Linux's ephemeral range (so freePort() never hands one out). */
async function freePortBlock(count: number, avoid: readonly number[]): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const base = 15_000 + Math.floor(Math.random() * 15_000);
    const ports = Array.from({ length: count }, (_, index) => base + index);
    if (ports.some((port) => avoid.includes(port))) continue;
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "mesh-e2e-tour-"));
  const [port, controlPort, egressPort] = [await freePort(), await freePort(), await freePort()];
  demoBase = await freePortBlock(DEMO_PORTS, [port, controlPort, egressPort]);
  env = { ...process.env, MESH_HOME: path.join(work, "home"), NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", MESH_ADMIN_TOKEN: "", MESH_READER_TOKEN: "", MESH_CONTROL_URL: "", MESH_GATEWAY_URLS: "", PARTNER_API_KEY: "" };
  npm = spawnNpmStart(["--persist-to", path.join(work, "store")], {
    ...env,
    INGRESS_PORT: String(port),
    CONTROL_PORT: String(controlPort),
    EGRESS_PORT: String(egressPort),
    DEMO_PORT_BASE: String(demoBase),
  });
  banner = await waitForBanner(npm, 60_000);
  ingress = listeningUrl(banner, "mesh-ingress");
  egress = listeningUrl(banner, "mesh-egress");
}, 90_000);

afterAll(async () => {
  await stopNpmStart(npm);
  if (work) await rm(work, { recursive: true, force: true });
});

/** The tour's commands: the first sh block after "## A 2-minute tour", continuation lines joined, comments dropped. */
async function tourCommands(): Promise<string[]> {
  const readme = await readFile(path.join(REPO_ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## A 2-minute tour"));
  const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!script) throw new Error("README.md has no sh block after '## A 2-minute tour'");
  return script
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

function bash(command: string): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile("bash", ["-e", "-o", "pipefail", "-c", command.replaceAll(README_GATEWAY, ingress.origin)], { cwd: REPO_ROOT, env, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr, elapsedMs: performance.now() - started }),
    );
  });
}

const statusOf = (run: Run) => Number(/^HTTP\/1\.1 (\d{3})/m.exec(run.stdout)?.[1]);
const headerOf = (run: Run, name: string) => new RegExp(`^${name}: *(.*?)\\r?$`, "im").exec(run.stdout)?.[1];

describe("npm start with the demo, on free ports (DEMO_PORT_BASE)", () => {
  it("starts the demo services on DEMO_PORT_BASE.. and names both gateways' metrics in the banner", () => {
    const services = [...banner.matchAll(/^\s+(\S+)\s+(v\d|stand-in)\s+http:\/\/127\.0\.0\.1:(\d+)$/gm)].map((match) => Number(match[3]));
    expect(services.sort((a, b) => a - b)).toEqual(Array.from({ length: DEMO_PORTS }, (_, index) => demoBase + index));
    expect(banner).toContain(`${ingress.origin}/__mesh/metrics`);
    expect(banner).toContain(`${egress.origin}/__mesh/metrics`);
  });
});

describe("the README's ingress tour, run as written (the gateway's port swapped)", () => {
  let commands: string[];
  const find = (fragment: string | RegExp) => {
    const found = commands.filter((command) => (typeof fragment === "string" ? command.includes(fragment) : fragment.test(command)));
    expect(found, `one README tour command matching ${String(fragment)} in:\n${commands.join("\n")}`).toHaveLength(1);
    return found[0]!;
  };

  beforeAll(async () => {
    commands = await tourCommands();
    expect(commands.every((command) => command.includes(README_GATEWAY))).toBe(true);
  });

  it("healthz: the gateway serves a config version", async () => {
    const run = await bash(find("/__mesh/healthz"));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "ok", configVersion: expect.stringMatching(/\S/) });
  });

  it("weighted routing: the loop counts only v1 and v2, and the same request splits 80/20 over a larger sample", async () => {
    const run = await bash(find(/^for i in/));
    expect(run.code, run.stderr).toBe(0);
    const counts = Object.fromEntries([...run.stdout.matchAll(/(\d+) "version":"(v\d)"/g)].map((match) => [match[2]!, Number(match[1])]));
    expect(Object.keys(counts).every((version) => version === "v1" || version === "v2"), run.stdout).toBe(true);
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(20);

    const total = 400;
    let v2 = 0;
    for (let index = 0; index < total; index++) {
      const response = await requestOverHttp(ingress, "/reviews/1", { host: "bookinfo.local" });
      expect(response.status).toBe(200);
      const { version } = (await response.json()) as { version: string };
      expect(["v1", "v2"]).toContain(version);
      if (version === "v2") v2++;
    }
    expect(Math.abs(v2 - total * 0.2)).toBeLessThanOrEqual(binomialTolerance(total, 0.2));
  }, 60_000);

  it("header routing: end-user jason always gets v3", async () => {
    const command = find("end-user: jason");
    for (let index = 0; index < 5; index++) {
      const run = await bash(command);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ service: "reviews", version: "v3" });
    }
  });

  it("fault injection: the abort is a 503 with FI, never reaching ratings", async () => {
    const run = await bash(find("x-fault: abort"));
    expect(run.code, run.stderr).toBe(0);
    expect(statusOf(run), run.stdout).toBe(503);
    expect(headerOf(run, "x-mesh-response-flags")).toBe("FI");
  });

  it("fault injection: the delay holds the answer 2 s (DI), then ratings answers", async () => {
    const run = await bash(find("x-fault: delay"));
    expect(run.code, run.stderr).toBe(0);
    expect(statusOf(run), run.stdout).toBe(200);
    expect(headerOf(run, "x-mesh-response-flags")).toBe("DI");
    expect(run.elapsedMs).toBeGreaterThanOrEqual(1950);
    expect(run.stdout).toContain('"service":"ratings"');
  });

  it("retries: /flaky answers 200 after the gateway retried its 503s", async () => {
    const command = find("/flaky");
    for (let index = 0; index < 3; index++) {
      const run = await bash(command);
      expect(run.code, run.stderr).toBe(0);
      expect(statusOf(run), run.stdout).toBe(200);
      expect(run.stdout).toContain('"service":"flaky"');
      // flaky fails requests 1 and 2 of every 3: each call takes three attempts.
      expect(headerOf(run, "x-mesh-attempts")).toBe("3");
    }
  });

  it("no route: 404 with NR and the reason for an unknown host", async () => {
    const run = await bash(find("nowhere.local"));
    expect(run.code, run.stderr).toBe(0);
    expect(statusOf(run), run.stdout).toBe(404);
    expect(headerOf(run, "x-mesh-response-flags")).toBe("NR");
    expect(run.stdout).toContain('"error":"no_gateway_for_host"');
  });
});

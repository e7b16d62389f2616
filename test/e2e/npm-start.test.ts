import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { compileConfig, requestOverHttp } from "../support/gateway-fixture.js";
import { freePort, startUpstream, type Upstream, type UpstreamEcho } from "../support/upstream.js";
import { INGRESS_READY, listeningUrl, sleep, spawnNpmStart, stopNpmStart, waitForBanner, type NpmStart } from "./processes.js";

/**
 * `npm start` as a user runs it: a child process with its own config file, no demo services,
 * free INGRESS_PORT, CONTROL_PORT and EGRESS_PORT, a temporary store and MESH_HOME (so the
 * developer's own .mesh/ is never touched), driven over real HTTP. The egress tour with the demo
 * config is test/e2e/npm-start-egress.test.ts.
 */

const READY = INGRESS_READY;

let work: string;
let upstream: Upstream;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "mesh-e2e-"));
  upstream = await startUpstream({ name: "hello", version: "v1" });
});

afterAll(async () => {
  await upstream?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

type Started = NpmStart;

/** Runs `npm start -- <args>` with the test's ports and a temporary MESH_HOME. */
function npmStart(args: string[], port: number, controlPort: number, egressPort: number, env: Record<string, string> = {}): Started {
  return spawnNpmStart(args, { ...process.env, INGRESS_PORT: String(port), CONTROL_PORT: String(controlPort), EGRESS_PORT: String(egressPort), MESH_HOME: path.join(work, "home"), NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", ...env });
}

async function waitForReady(started: Started): Promise<string> {
  return listeningUrl(await waitForBanner(started), "mesh-ingress").origin;
}

const stop = stopNpmStart;

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}


function configYaml(upstreamPort: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: e2e }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["hello.e2e.test"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: hello, namespace: e2e }
spec:
  hosts: [hello.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints:
  - { address: 127.0.0.1, ports: { http: ${upstreamPort} }, labels: { version: v1 } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: hello, namespace: e2e }
spec:
  hosts: [hello.e2e.test]
  gateways: [edge]
  http:
  - name: hello
    route:
    - destination: { host: hello.internal }
`;
}

describe("npm start", () => {
  it("loads examples/bookinfo.yaml and examples/egress.yaml by default, and together they are valid", async () => {
    const files = ["examples/bookinfo.yaml", "examples/egress.yaml"].map((file) => path.join(REPO_ROOT, file));
    const texts = await Promise.all(files.map((file) => readFile(file, "utf8")));
    const snapshot = await compileConfig(texts.join("---\n"), "examples/bookinfo.yaml + examples/egress.yaml");
    expect(snapshot.routes.map((route) => route.name)).toEqual(
      expect.arrayContaining(["productpage", "reviews-jason", "reviews", "ratings-abort", "ratings-delay", "flaky"]),
    );
    // The egress demo (examples/egress.yaml): one external host, on the partner stand-in's demo port, and its credential.
    expect(snapshot.egress?.services.map((service) => service.host)).toEqual(["api.partner.test"]);
    expect(Object.values(snapshot.egress!.clusters).flatMap((cluster) => cluster.endpoints.map((endpoint) => `${endpoint.address}:${endpoint.port}`))).toEqual(["127.0.0.1:9087"]);
    expect(snapshot.egress?.credentials?.map((credential) => [credential.name, credential.inject?.secretName])).toEqual([["istio-system/partner", "PARTNER_API_KEY"]]);
  });

  it("serves a config file through the gateway until it is stopped", async () => {
    const file = path.join(work, "hello.yaml");
    await writeFile(file, configYaml(upstream.port));
    const [port, controlPort, egressPort] = [await freePort(), await freePort(), await freePort()];
    const started = npmStart(["--config", file, "--no-demo", "--persist-to", path.join(work, "store")], port, controlPort, egressPort);
    try {
      const url = await waitForReady(started);
      expect(url).toBe(`http://127.0.0.1:${port}`);
      const version = /version ([0-9a-f]+)/.exec(started.output())?.[1];
      expect(version).toBeDefined();
      expect(started.output()).toContain(`mesh-control listening on http://127.0.0.1:${controlPort}`);
      expect(started.output()).toContain(`mesh-egress listening on http://127.0.0.1:${egressPort}`);
      // The egress follows the same snapshot (this config has no external host: it blocks everything).
      const egressHealth = await requestOverHttp(new URL(`http://127.0.0.1:${egressPort}`), "/__mesh/healthz");
      expect(await egressHealth.json()).toMatchObject({ status: "ok", configVersion: version });
      const blocked = await requestOverHttp(new URL(`http://127.0.0.1:${egressPort}`), "/", { host: "hello.e2e.test" });
      expect(blocked.status).toBe(502);

      // The config went in through the control API: its history starts with the seed.
      const token = /token\s+(mesh_admin_\S+)/.exec(started.output())?.[1];
      expect(token).toBeDefined();
      expect((await readFile(path.join(work, "home", "admin-token"), "utf8")).trim()).toBe(token);
      const history = await fetch(`http://127.0.0.1:${controlPort}/v1/history`, { headers: { authorization: `Bearer ${token}` } });
      expect(history.status).toBe(200);
      expect(history.headers.get("etag")).toBe(`"${version}"`);
      expect(((await history.json()) as { entries: unknown[] }).entries).toEqual([expect.objectContaining({ seq: 1, version, author: "npm start", action: "apply", source: expect.stringContaining("hello.yaml") })]);

      const response = await requestOverHttp(new URL(url), "/greeting?x=1", { host: "hello.e2e.test" });
      expect(response.status).toBe(200);
      const echo = (await response.json()) as UpstreamEcho;
      expect(echo).toMatchObject({ service: "hello", version: "v1", path: "/greeting?x=1" });
      expect(upstream.requests.at(-1)?.path).toBe("/greeting?x=1");

      const health = await requestOverHttp(new URL(url), "/__mesh/healthz");
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ configVersion: version });

      // It says where the metrics and the dashboard are, and they answer.
      const reader = /reader\s+(mesh_reader_\S+)/.exec(started.output())?.[1];
      expect(started.output()).toContain(`metrics   ${url}/__mesh/metrics`);
      expect(started.output()).toContain(`http://127.0.0.1:${controlPort}/v1/metrics`);
      expect(started.output()).toContain(`dashboard http://127.0.0.1:${controlPort}/__mesh/dashboard#token=${reader}`);
      expect(started.output()).toContain("npx meshctl top");
      // (A request is counted once its response has been sent: poll for it.)
      const counted = /^istio_requests_total\{reporter="source",.*destination_service="hello\.internal".*\} 1$/m;
      let gatewayMetrics = "";
      for (let tries = 0; tries < 50 && !counted.test(gatewayMetrics); tries++) {
        if (tries > 0) await sleep(20);
        gatewayMetrics = await (await requestOverHttp(new URL(url), "/__mesh/metrics")).text();
      }
      expect(gatewayMetrics).toMatch(counted);
      const controlMetrics = await fetch(`http://127.0.0.1:${controlPort}/v1/metrics`, { headers: { authorization: `Bearer ${reader}` } });
      expect(await controlMetrics.text()).toContain(`mesh_control_config_version_info{version="${version}"} 1`);
      // The control worker was told where the local gateways are: the dashboard has their counts.
      const dashboard = await fetch(`http://127.0.0.1:${controlPort}/v1/dashboard`, { headers: { authorization: `Bearer ${reader}` } });
      const data = (await dashboard.json()) as { traffic: { sources: { ok: boolean; inSync: boolean }[]; destinations: Record<string, { requests: number }> } };
      expect(data.traffic.sources).toEqual([
        expect.objectContaining({ name: `127.0.0.1:${port}`, ok: true, inSync: true }),
        expect.objectContaining({ name: `127.0.0.1:${egressPort}`, ok: true, inSync: true }),
      ]);
      expect(data.traffic.destinations["destination:hello.internal|"]?.requests).toBe(1);
      expect((await fetch(`http://127.0.0.1:${controlPort}/__mesh/dashboard`)).status).toBe(200);
    } finally {
      await stop(started);
    }
    // Stopped means stopped: nothing (workerd included) still listens on the gateways' or the control API's port.
    let listening = true;
    for (let tries = 0; tries < 50 && listening; tries++) {
      listening = (await isListening(port)) || (await isListening(controlPort)) || (await isListening(egressPort));
      if (listening) await sleep(100);
    }
    expect(listening).toBe(false);
    // And meshctl is no longer pointed at it.
    await expect(readFile(path.join(work, "home", "endpoints.json"), "utf8")).rejects.toThrow();
  });

  it("rejects an invalid config with every issue, located in its own file, exits non-zero and starts nothing", async () => {
    // Two --config files are one config (as npm start's default, bookinfo.yaml and egress.yaml): the valid one first.
    const extra = path.join(work, "extra.yaml");
    await writeFile(extra, configYaml(upstream.port).split("---")[1]!.replace("name: hello,", "name: extra,").replace("hello.internal", "extra.internal"));
    const file = path.join(work, "broken.yaml");
    await writeFile(
      file,
      configYaml(upstream.port)
        .replace("hosts: [hello.e2e.test]", "hosts: [hello.e2e.test]\n  colour: blue")
        .replace("ports: [{ number: 80, name: http, protocol: HTTP }]", "ports: [{ number: 80, name: http, protocol: TCP }]"),
    );
    const [port, controlPort, egressPort] = [await freePort(), await freePort(), await freePort()];
    const started = npmStart(["--config", extra, "--config", file, "--no-demo", "--persist-to", path.join(work, "store-broken")], port, controlPort, egressPort);
    try {
      const code = await Promise.race([started.exited, sleep(45_000).then(() => "timeout" as const)]);
      expect(code, started.output()).not.toBe(0);
      expect(code, started.output()).not.toBe("timeout");
      const output = started.output();
      expect(output).toContain("broken.yaml is invalid");
      expect(output).toContain("nothing was started");
      expect(output).toMatch(/VirtualService e2e\/hello: spec\.colour: unknown field 'colour'/);
      // Located in broken.yaml, at a line of broken.yaml (not of the two files sent as one body).
      const line = Number(/broken\.yaml:(\d+):\d+: VirtualService e2e\/hello/.exec(output)?.[1]);
      expect(line).toBeGreaterThan(0);
      expect(line).toBeLessThanOrEqual((await readFile(file, "utf8")).split("\n").length);
      expect(output).not.toMatch(/extra\.yaml:\d+/);
      expect(output).toMatch(/ServiceEntry e2e\/hello: spec\.ports\[0\]\.protocol: protocol must be one of/);
      expect(output).not.toMatch(READY);
      expect(await isListening(port)).toBe(false);
      expect(await isListening(controlPort)).toBe(false);
      expect(await isListening(egressPort)).toBe(false);
    } finally {
      await stop(started);
    }
  });
});

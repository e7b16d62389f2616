import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemCertificatesToDer, sha256Hex } from "../../policies/identity/encoding.js";
import { formatXfccElement, urlEncodePem } from "../../policies/identity/xfcc.js";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { partnerStandIn, startDemoServices, type RunningDemo } from "../../scripts/demo/services.js";
import { requestOverHttp } from "../support/gateway-fixture.js";
import { freePort } from "../support/upstream.js";

/**
 * The README's egress tour against `npm start`: the egress gateway on its own EGRESS_PORT, in
 * the same workerd as the ingress and the control API, following the same snapshot. The demo
 * config is examples/bookinfo.yaml as shipped, with the partner stand-in's port (9087) swapped for
 * a free one, where the demo's own stand-in (scripts/demo/services.ts) listens. Callers prove who
 * they are with JWT-SVIDs from `meshctl token issue` (run as a process, as the README does) or an
 * X.509-SVID forwarded as XFCC by the trusted front (MESH_PROXY_SECRET).
 */

const READY = /mesh-egress listening on (http:\/\/\S+)/;
const BANNER_END = /Ctrl-C to stop\./;
const BIN = path.join(REPO_ROOT, "control/cli/meshctl.mjs");
const PROXY_SECRET = "egress-e2e-proxy-secret-0123456789abcdef";
const EGRESS_AUDIENCE = "spiffe://acme.test/ns/istio-system/sa/istio-egressgateway-service-account";
const PRODUCTPAGE = "spiffe://acme.test/ns/bookinfo/sa/productpage";
const REVIEWS = "spiffe://acme.test/ns/bookinfo/sa/reviews";

let work: string;
let home: string;
let env: NodeJS.ProcessEnv;
let npm: { child: ChildProcess; output: () => string; exited: Promise<number | null> } | undefined;
let standIn: RunningDemo | undefined;
/** What the stand-in received: path and headers (the stand-in itself answers only whether the credential was right). */
const received: { path: string; authorization: string | undefined }[] = [];
let egress: URL;
let ingress: URL;
let egressPort: number;
let partnerKey: string;
let standInPort: number;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "mesh-e2e-egress-"));
  home = path.join(work, "home");
  standInPort = await freePort();
  const config = (await readFile(path.join(REPO_ROOT, "examples/bookinfo.yaml"), "utf8")).replaceAll("http: 9087 }", `http: ${standInPort} }`);
  expect(config).toContain(`http: ${standInPort} }`);
  await writeFile(path.join(work, "bookinfo.yaml"), config);

  const [port, controlPort] = [await freePort(), await freePort()];
  egressPort = await freePort();
  env = { ...process.env, MESH_HOME: home, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", MESH_ADMIN_TOKEN: "", MESH_READER_TOKEN: "", MESH_CONTROL_URL: "", MESH_GATEWAY_URLS: "", PARTNER_API_KEY: "" };
  let output = "";
  const child = spawn("npm", ["start", "--", "--config", path.join(work, "bookinfo.yaml"), "--no-demo", "--persist-to", path.join(work, "store")], {
    cwd: REPO_ROOT,
    env: { ...env, INGRESS_PORT: String(port), CONTROL_PORT: String(controlPort), EGRESS_PORT: String(egressPort), MESH_PROXY_SECRET: PROXY_SECRET },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  npm = { child, output: () => output, exited: new Promise((resolve) => child.once("exit", resolve)) };
  const deadline = Date.now() + 45_000;
  while (!(READY.test(output) && BANNER_END.test(output))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not start:\n${output}`);
    await sleep(100);
  }
  egress = new URL(READY.exec(output)![1]!);
  ingress = new URL(/mesh-ingress listening on (http:\/\/\S+)/.exec(output)![1]!);

  // The demo credential was generated under MESH_HOME; the stand-in expects exactly it.
  partnerKey = (await readFile(path.join(home, "egress-secrets", "PARTNER_API_KEY"), "utf8")).trim();
  const spec = partnerStandIn(`Bearer ${partnerKey}`, standInPort);
  const body = spec.body!;
  standIn = await startDemoServices([
    {
      ...spec,
      body: (target, headers) => {
        received.push({ path: target, authorization: headers.authorization });
        return body(target, headers);
      },
    },
  ]);
}, 60_000);

afterAll(async () => {
  const pid = npm?.child.pid;
  if (pid !== undefined && npm!.child.exitCode === null) {
    process.kill(-pid, "SIGTERM");
    const exited = await Promise.race([npm!.exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!exited) process.kill(-pid, "SIGKILL");
  }
  await standIn?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function meshctl(args: string[], options: { npx?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, argv] = options.npx ? ["npx", ["meshctl", ...args]] : [process.execPath, [BIN, ...args]];
  return new Promise((resolve) => {
    execFile(command, argv, { cwd: REPO_ROOT, env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** `TOKEN=$(npx meshctl token issue --spiffe-id ID --audience <the egress's SPIFFE ID>)`, as the README has it. */
async function jwtSvid(spiffeId: string, options: { npx?: boolean } = {}): Promise<string> {
  const issued = await meshctl(["token", "issue", "--spiffe-id", spiffeId, "--audience", EGRESS_AUDIENCE], options);
  expect(issued.code, issued.stderr).toBe(0);
  return issued.stdout.trim();
}

function auditLines(): Record<string, unknown>[] {
  return npm!
    .output()
    .split("\n")
    .filter((line) => line.startsWith('{"event":"egress_audit"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function waitForAudit(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let tries = 0; tries < 100; tries++) {
    const found = auditLines().find(predicate);
    if (found) return found;
    await sleep(50);
  }
  throw new Error(`no egress_audit line matched:\n${npm!.output()}`);
}

describe("npm start: the egress gateway on EGRESS_PORT (the README's egress tour)", () => {
  it("listens on EGRESS_PORT, serves the same config version as the ingress, and says where its credential is kept (never what it is)", async () => {
    expect(egress.origin).toBe(`http://127.0.0.1:${egressPort}`);
    const output = npm!.output();
    expect(output).toContain(`curl -s ${egress.origin}/__mesh/healthz`);
    // (Not the default config file, so the generic "try:" lines: one per external host.)
    expect(output).toContain(`curl -si -H 'Host: api.partner.test' ${egress.origin}/`);
    expect(output).toContain(`kept in ${path.join(home, "egress-secrets", "PARTNER_API_KEY")}`);
    expect(partnerKey).toMatch(/^partner_sk_[\w-]{20,}$/);
    expect(output).not.toContain(partnerKey);

    const version = /version ([0-9a-f]{16})/.exec(output)![1]!;
    const health = await requestOverHttp(egress, "/__mesh/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", configVersion: version });
    expect(((await (await requestOverHttp(ingress, "/__mesh/healthz")).json()) as { configVersion: string }).configVersion).toBe(version);

    // meshctl finds both gateways through MESH_HOME and reports them in sync.
    const status = await meshctl(["status"]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`mesh-egress\\s+${egress.origin.replace(/[.:/]/g, "\\$&")}\\s+${version}\\s+in sync`));
  });

  it("lets productpage call api.partner.test through the egress, to the stand-in, and audits it", async () => {
    const token = await jwtSvid(PRODUCTPAGE, { npx: true });
    const response = await requestOverHttp(egress, "/v1/quotes", { host: "api.partner.test", headers: { authorization: `Bearer ${token}` } });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    expect(response.headers.get("x-mesh-route")).toBe("external/partner-api:api.partner.test");
    expect(JSON.parse(text)).toMatchObject({ service: "partner-api", version: "stand-in", path: "/v1/quotes", external: "api.partner.test" });
    expect(received.at(-1)?.path).toBe("/v1/quotes");
    // The caller's own JWT-SVID is for the egress only: it never reaches the external host.
    expect(received.at(-1)?.authorization ?? "").not.toContain(token);
    expect(text).not.toContain(partnerKey);
    expect(text).not.toContain(token);

    const audit = await waitForAudit((line) => line.destination_host === "api.partner.test" && line.status === 200);
    expect(audit).toMatchObject({ caller: PRODUCTPAGE, caller_authentication: "jwt-svid", decision: "allowed", policy: "istio-system/egress-callers", upstream_host: `127.0.0.1:${standInPort}` });
    expect(npm!.output()).not.toContain(partnerKey);
  });

  it("blocks a host no ServiceEntry declares: 502 NR, and nothing connects", async () => {
    const before = received.length;
    const token = await jwtSvid(PRODUCTPAGE);
    const response = await requestOverHttp(egress, "/", { host: "api.blocked.test", headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(502);
    expect(response.headers.get("x-mesh-response-flags")).toBe("NR");
    expect(await response.json()).toMatchObject({ error: "outbound_host_blocked", flags: "NR" });
    expect(await waitForAudit((line) => line.destination_host === "api.blocked.test")).toMatchObject({ caller: PRODUCTPAGE, decision: "blocked", upstream_host: null });
    expect(received.length).toBe(before);
  });

  it("denies another identity (403 RBAC) and no identity (401) on api.partner.test; neither reaches the stand-in", async () => {
    const before = received.length;
    const other = await jwtSvid(REVIEWS);
    const denied = await requestOverHttp(egress, "/v1/quotes", { host: "api.partner.test", headers: { authorization: `Bearer ${other}` } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get("x-mesh-response-flags")).toBe("RBAC");
    expect(await waitForAudit((line) => line.caller === REVIEWS)).toMatchObject({ destination_host: "api.partner.test", decision: "denied", status: 403 });

    const anonymous = await requestOverHttp(egress, "/v1/quotes", { host: "api.partner.test" });
    expect(anonymous.status).toBe(401);
    expect(received.length).toBe(before);
  });

  it("runs the README's egress commands as written (its port swapped): 200, then 502 NR, then 403 RBAC", async () => {
    const readme = await readFile(path.join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### The way out: the egress gateway"));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    expect(script).toBeDefined();
    expect(script).toContain("http://127.0.0.1:8788");
    const before = received.length;
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile("bash", ["-e", "-c", script!.replaceAll("http://127.0.0.1:8788", egress.origin)], { cwd: REPO_ROOT, env, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(run.code, run.stderr).toBe(0);
    const statuses = [...run.stdout.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
    expect(statuses, run.stdout).toEqual([200, 502, 403]);
    expect(run.stdout).toMatch(/x-mesh-response-flags: NR/i);
    expect(run.stdout).toMatch(/x-mesh-response-flags: RBAC/i);
    expect(run.stdout).toContain('"service":"partner-api"');
    expect(run.stdout).not.toContain(partnerKey);
    expect(received.length).toBe(before + 1);
  });

  it("takes an X.509-SVID as XFCC only from the trusted front (MESH_PROXY_SECRET), as the ingress does", async () => {
    const outDir = path.join(work, "svid");
    const issued = await meshctl(["cert", "issue", "--spiffe-id", PRODUCTPAGE, "--out-dir", outDir]);
    expect(issued.code, issued.stderr).toBe(0);
    const chain = await readFile(path.join(outDir, "cert.pem"), "utf8");
    const xfcc = formatXfccElement({ hash: await sha256Hex(pemCertificatesToDer(chain)![0]!), chain: urlEncodePem(chain), subject: "" });

    const trusted = await requestOverHttp(egress, "/v1/quotes", { host: "api.partner.test", headers: { "x-mesh-proxy-auth": PROXY_SECRET, "x-forwarded-client-cert": xfcc } });
    expect(trusted.status, await trusted.clone().text()).toBe(200);
    expect(await waitForAudit((line) => line.caller_authentication === "xfcc")).toMatchObject({ caller: PRODUCTPAGE, decision: "allowed" });

    // Without the front's secret the XFCC header is stripped: no identity.
    const before = received.length;
    const spoofed = await requestOverHttp(egress, "/v1/quotes", { host: "api.partner.test", headers: { "x-forwarded-client-cert": xfcc } });
    expect(spoofed.status).toBe(401);
    expect(received.length).toBe(before);
  });
});

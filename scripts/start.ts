import { rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { Log, LogLevel } from "miniflare";
import type { WriteResult } from "../control/api/schemas.js";
import { localToken, meshHome, removeEndpointsSync, tokenFile, writeEndpoints } from "../control/cli/local-state.js";
import { bundleSources } from "../control/cli/files.js";
import { isApiErrorBody } from "../control/errors.js";
import { planApply } from "../control/store/plan.js";
import { readResourceText } from "../control/store/read-text.js";
import { formatConfigIssue, type ConfigIssue } from "../policies/errors.js";
import type { Snapshot } from "../policies/snapshot/schema.js";
import { egressSecret } from "./demo/secrets.js";
import { DEMO_PORT_COUNT, demoServices, parseDemoPortBase, PARTNER_HOST, partnerStandIn, rebaseDemoPorts, startDemoServices, type RunningDemo } from "./demo/services.js";
import { bundleWorker, REPO_ROOT } from "./lib/bundle-worker.js";
import { localCa, meshTrustDomain, withCaBundle } from "./lib/local-ca.js";
import { formatLabels, WRANGLER_DEFAULTS } from "./lib/local-gateway.js";
import { CONTROL_DEFAULTS, EGRESS_LOCAL_DEFAULTS, GATEWAY_NAME, startLocalMesh, type LocalMesh } from "./lib/local-mesh.js";

/**
 * `npm start [-- --config FILE ...] [--no-demo] [--persist-to DIR]`: checks the config with the
 * control plane's own validator and compiler (and stops there, printing every issue, if it is
 * invalid), starts the demo backends, then runs the ingress gateway on
 * 127.0.0.1:${INGRESS_PORT:-8787}, the egress gateway on 127.0.0.1:${EGRESS_PORT:-8788} and the
 * control API on 127.0.0.1:${CONTROL_PORT:-8789} in one workerd, sharing one KV namespace
 * (persisted under .mesh/store), and seeds the store through the control API's apply (so the
 * history starts with the seed). Prints `mesh-ingress listening on <url>` once it serves.
 * Ctrl-C or SIGTERM stops everything.
 */

const USAGE = `usage: npm start [-- --config FILE ...] [--no-demo] [--persist-to DIR]

  --config FILE       Istio resources (YAML or JSON) to serve; repeat it for several files, applied
                      together. Default examples/bookinfo.yaml and examples/egress.yaml.
                      Applied through the control API as the whole config (apply --prune).
  --no-demo           do not start the demo backends (127.0.0.1:9080-9086, the stand-in API on 9087;
                      DEMO_PORT_BASE moves them)
  --persist-to DIR    where local KV and the control plane's store live; default .mesh/store
  -h, --help          show this help

environment:
  INGRESS_PORT        port of the gateway on 127.0.0.1 (default 8787)
  EGRESS_PORT         port of the egress gateway on 127.0.0.1 (default 8788)
  CONTROL_PORT        port of the control API on 127.0.0.1 (default 8789)
  DEMO_PORT_BASE      first port of the demo backends (default 9080): they take it and the next 7,
                      and the default config's endpoint ports are rewritten to follow (a --config
                      file is used as written)
  MESH_ADMIN_TOKEN    the control API's admin token (default: generated once, kept in .mesh/admin-token)
  MESH_READER_TOKEN   its read-only token (default: generated once, kept in .mesh/reader-token)
  MESH_CONFIG_TTL_MS  how often the gateway re-reads the config pointer (default 1000 locally)
  MESH_PROXY_SECRET, MESH_TRUSTED_PROXY_CERT_SHA256
                      passed to both gateways when set (a trusted front proxy, see docs/security.md)
  PARTNER_API_KEY     the egress's demo credential for api.partner.test (default: generated once,
                      kept in .mesh/egress-secrets/PARTNER_API_KEY)
  MESH_HOME           where tokens and local endpoints are kept for meshctl (default .mesh)`;

const DEFAULT_CONFIGS = [path.join(REPO_ROOT, "examples/bookinfo.yaml"), path.join(REPO_ROOT, "examples/egress.yaml")];
const DEFAULT_PORT = 8787;
const DEFAULT_CONTROL_PORT = 8789;
const DEFAULT_EGRESS_PORT = 8788;
const LOCAL_TTL_MS = "1000";
const HOST = "127.0.0.1";

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: "string", multiple: true },
        demo: { type: "boolean", default: true },
        "persist-to": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowNegative: true,
      strict: true,
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }

  // npm runs scripts from the package root; a relative --config means relative to where the user typed it.
  const userCwd = process.env.INIT_CWD ?? process.cwd();
  const isDefaultConfig = args.config === undefined || args.config.length === 0;
  const configFiles = isDefaultConfig ? DEFAULT_CONFIGS : args.config!.map((file) => path.resolve(userCwd, file));
  const configName = configFiles.map(displayPath).join(", ");
  const home = meshHome();
  const persistDir = args["persist-to"] !== undefined ? path.resolve(userCwd, args["persist-to"]) : path.join(home, "store");
  const port = parsePort(process.env.INGRESS_PORT, DEFAULT_PORT);
  const controlPort = parsePort(process.env.CONTROL_PORT, DEFAULT_CONTROL_PORT);
  const egressPort = parsePort(process.env.EGRESS_PORT, DEFAULT_EGRESS_PORT);
  const ports = [["INGRESS_PORT", port], ["CONTROL_PORT", controlPort], ["EGRESS_PORT", egressPort]] as const;
  for (const [name, value] of ports) {
    if (value === undefined) {
      console.error(`${name} must be a port number 1..65535 (got '${process.env[name]}')`);
      return 2;
    }
  }
  for (const [index, [name, value]] of ports.entries()) {
    const same = ports.slice(index + 1).find(([, other]) => other === value);
    if (same) {
      console.error(`${name} and ${same[0]} must differ (both are ${value})`);
      return 2;
    }
  }
  const demoBase = parseDemoPortBase(process.env.DEMO_PORT_BASE);
  if ("error" in demoBase) {
    console.error(demoBase.error);
    return 2;
  }
  if (args.demo) {
    const clash = ports.find(([, value]) => value! >= demoBase.base && value! < demoBase.base + DEMO_PORT_COUNT);
    if (clash) {
      console.error(`${clash[0]} (${clash[1]}) is one of the demo's ports ${demoBase.base}-${demoBase.base + DEMO_PORT_COUNT - 1}: move one of them (DEMO_PORT_BASE moves the demo)`);
      return 2;
    }
  }
  const ttlMs = process.env.MESH_CONFIG_TTL_MS || LOCAL_TTL_MS;

  // The shipped demo config names the demo services' ports: it follows DEMO_PORT_BASE.
  const checked = await checkConfig(configFiles, isDefaultConfig ? (text) => rebaseDemoPorts(text, demoBase.base) : (text) => text);
  if (!checked) return 1;
  const { text: configText, snapshot } = checked;
  const labels = WRANGLER_DEFAULTS.vars.MESH_GATEWAY_LABELS;
  if (!snapshot.gateways.some((gateway) => selects(gateway.selector, labels))) {
    console.warn(`warning: no Gateway in ${configName} selects this gateway's labels (${labels}): every request will find no route`);
  }

  for (const [name, candidate] of ports) {
    const portProblem = await checkPortFree(HOST, candidate!, name);
    if (portProblem) {
      console.error(portProblem);
      return 1;
    }
  }

  // The control API's tokens: from the environment, else generated once and kept for meshctl.
  const admin = process.env.MESH_ADMIN_TOKEN ? { token: process.env.MESH_ADMIN_TOKEN, from: "env" as const } : { ...(await localToken(home, "admin")), from: "file" as const };
  const reader = process.env.MESH_READER_TOKEN ? { token: process.env.MESH_READER_TOKEN, from: "env" as const } : { ...(await localToken(home, "reader")), from: "file" as const };

  // The mesh CA: generated once per trust domain under .mesh/ca/, its bundle put inline in the
  // MeshConfig that is applied (so the gateway trusts it without calling the control plane).
  const { trustDomain, hasMeshConfig } = meshTrustDomain(configText);
  const ca = await localCa(home, trustDomain);
  const seeded = await withCaBundle(configText, ca.secrets);
  // The egress's demo credential: a Workers secret once deployed; locally generated once under MESH_HOME.
  const partnerKey = await egressSecret(home, "PARTNER_API_KEY", "partner_sk_");
  const proxyBindings = Object.fromEntries(
    (["MESH_PROXY_SECRET", "MESH_TRUSTED_PROXY_CERT_SHA256"] as const).filter((name) => process.env[name]).map((name) => [name, process.env[name]!]),
  );

  let demo: RunningDemo | undefined;
  let mesh: LocalMesh | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      removeEndpointsSync(home, process.pid);
      await mesh?.dispose().catch((error: unknown) => console.error(`stopping the workers: ${String(error)}`));
      await demo?.close();
    })());

  let applied: WriteResult;
  try {
    // The partner stand-in expects the credential the egress injects (EgressCredential partner).
    if (args.demo) demo = await startDemoServices([...demoServices(demoBase.base), partnerStandIn(`Bearer ${partnerKey.value}`, demoBase.base + DEMO_PORT_COUNT - 1)]);
    const [gatewayScript, controlScript, egressScript] = await Promise.all([
      bundleWorker(),
      bundleWorker({ entry: CONTROL_DEFAULTS.entry }),
      bundleWorker({ entry: EGRESS_LOCAL_DEFAULTS.entry }),
    ]);
    const bundleDirs = [path.dirname(gatewayScript), path.dirname(controlScript), path.dirname(egressScript)];
    process.once("exit", () => bundleDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
    // Locally the debug headers are on, so curl -i shows the response flags, route and attempts;
    // and the gateway re-reads the pointer every second, so an apply shows within a second or two.
    mesh = await startLocalMesh({
      gatewayScript,
      controlScript,
      host: HOST,
      ingressPort: port,
      controlPort,
      persistDir,
      gatewayBindings: { MESH_DEBUG_HEADERS: "true", MESH_CONFIG_TTL_MS: ttlMs, ...proxyBindings },
      // The egress: the same snapshot, settings and trusted front as the ingress, plus its own
      // secrets: the CA's JWT-SVID key (to mint callers' outbound JWT-SVIDs) and the demo credential.
      egress: {
        script: egressScript,
        port: egressPort,
        bindings: { MESH_DEBUG_HEADERS: "true", MESH_CONFIG_TTL_MS: ttlMs, ...proxyBindings, MESH_JWT_SVID_KEY: ca.secrets.jwtKeyPem, PARTNER_API_KEY: partnerKey.value },
      },
      // The dashboard's live counts: the control worker reads both local gateways' /__mesh/metrics.
      controlBindings: {
        MESH_ADMIN_TOKEN: admin.token,
        MESH_READER_TOKEN: reader.token,
        MESH_GATEWAY_URLS: `http://${HOST}:${port},http://${HOST}:${egressPort}`,
        MESH_CA_KEY: ca.secrets.caKeyPem,
        MESH_CA_CERT: ca.secrets.caCertPem,
        MESH_JWT_SVID_KEY: ca.secrets.jwtKeyPem,
      },
      log: new Log(LogLevel.WARN),
    });
    const answer = await seedThroughApi(mesh.controlUrl, admin.token, seeded.text, configName);
    if (!answer) {
      await stop();
      return 1;
    }
    applied = answer;
    await writeEndpoints(home, {
      control: origin(mesh.controlUrl),
      gateways: [
        { name: GATEWAY_NAME, url: origin(mesh.ingressUrl) },
        { name: EGRESS_LOCAL_DEFAULTS.name, url: origin(mesh.egressUrl!) },
      ],
      pid: process.pid,
    });
    process.once("exit", () => removeEndpointsSync(home, process.pid));
  } catch (error) {
    console.error(`could not start: ${(error as Error).message}`);
    await stop();
    return 1;
  }

  const base = origin(mesh.ingressUrl);
  const control = origin(mesh.controlUrl);
  const egress = origin(mesh.egressUrl!);
  console.log(`mesh-ingress listening on ${base}`);
  console.log(`mesh-egress listening on ${egress}`);
  console.log(`mesh-control listening on ${control}`);
  const seedNote = applied.changed ? "applied through the control API" : "already the current config";
  console.log(`  config    ${configName} (version ${applied.version}: ${snapshot.resources.length} resources, ${snapshot.routes.length} routes; ${seedNote})`);
  console.log(`  store     ${displayPath(persistDir)} (KV binding ${WRANGLER_DEFAULTS.kvBinding} and the ConfigStore Durable Object; the gateway re-reads every ${ttlMs} ms)`);
  console.log(`  labels    ${formatLabels(labels)} (ingress), ${EGRESS_LOCAL_DEFAULTS.vars.MESH_GATEWAY_LABELS} (egress)`);
  console.log(`  token     ${admin.from === "env" ? "from MESH_ADMIN_TOKEN" : `${admin.token}  (${admin.generated ? "generated, " : ""}kept in ${displayPath(tokenFile(home, "admin"))}; meshctl reads it there)`}`);
  console.log(`  reader    ${reader.from === "env" ? "from MESH_READER_TOKEN" : `${reader.token}  (read-only; ${displayPath(tokenFile(home, "reader"))})`}`);
  const bundleNote = seeded.added ? "its bundle added inline to the MeshConfig applied" : hasMeshConfig ? "the MeshConfig's own bundle for this trust domain is kept" : "no MeshConfig in the config: gateways do not verify SVIDs";
  console.log(`  mesh CA   spiffe://${seeded.trustDomain} (${ca.generated ? "generated, " : ""}kept in ${displayPath(ca.dir)}; ${bundleNote}); bundle at ${control}/v1/bundle`);
  const keyNote = partnerKey.from === "env" ? "from PARTNER_API_KEY" : `${partnerKey.generated ? "generated, " : ""}kept in ${displayPath(partnerKey.file)}`;
  console.log(`  egress    secrets MESH_JWT_SVID_KEY (the mesh CA's JWT-SVID key) and PARTNER_API_KEY (${keyNote}; the demo credential for ${PARTNER_HOST})`);
  console.log(`  api docs  ${control}/docs`);
  console.log(`  metrics   ${base}/__mesh/metrics  (the ingress gateway: Istio's standard metrics, Prometheus text)`);
  console.log(`            ${egress}/__mesh/metrics  (the egress gateway, the same metrics)`);
  console.log(`            ${control}/v1/metrics  (the control plane; send a token: Authorization: Bearer <reader token>)`);
  console.log(`  dashboard ${control}/__mesh/dashboard${reader.from === "env" ? "  (paste the reader token)" : `#token=${reader.token}`}`);
  console.log(`  top       npx meshctl top  (rate, errors, p50/p99 per destination, refreshing; --by route per route)`);
  if (demo) {
    console.log("  services");
    for (const service of demo.services) console.log(`    ${service.name.padEnd(12)} ${service.version}  ${service.url}`);
  }
  console.log("\ntry:");
  for (const line of tryLines(snapshot, base, isDefaultConfig && demo !== undefined)) console.log(`  ${line}`);
  for (const line of egressTryLines(snapshot, egress, isDefaultConfig && demo !== undefined, seeded.trustDomain)) console.log(`  ${line}`);
  for (const line of meshctlLines(isDefaultConfig)) console.log(`  ${line}`);
  console.log("\nCtrl-C to stop.");

  // Miniflare installs its own SIGINT/SIGTERM handlers, which kill workerd and exit at once
  // (130/143); ours are prepended so they run first, and must not rely on finishing.
  return await new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      console.log(`\n${signal}: shutting down`);
      void stop().then(() => resolve(0));
    };
    process.prependListener("SIGINT", onSignal);
    process.prependListener("SIGTERM", onSignal);
  });
}

/**
 * Reads the config files and checks them as the control API's apply will (the same reader, merge
 * and compiler, as one whole config, sent as one multi-document body as meshctl sends several
 * files), before anything starts; prints every issue, located in its own file, if it is invalid.
 */
async function checkConfig(files: readonly string[], transform: (text: string) => string): Promise<{ text: string; snapshot: Snapshot } | undefined> {
  const sources: { name: string; text: string }[] = [];
  for (const file of files) {
    try {
      sources.push({ name: displayPath(file), text: transform(await readFile(file, "utf8")) });
    } catch (error) {
      console.error(`cannot read config ${displayPath(file)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return undefined;
    }
  }
  const bundle = bundleSources(sources);
  const read = readResourceText(bundle.text, bundle.single);
  let issues: ConfigIssue[];
  if (read.ok) {
    const plan = await planApply(new Map(), read.resources, { prune: true, locate: read.locate });
    if (plan.ok) {
      for (const warning of plan.warnings) console.warn(`warning: ${formatConfigIssue(bundle.locate(warning))}`);
      return { text: bundle.text, snapshot: plan.snapshot };
    }
    issues = plan.issues;
  } else issues = read.issues;
  printInvalid(sources.map((source) => source.name).join(", "), issues.map(bundle.locate));
  return undefined;
}

function printInvalid(name: string, issues: readonly ConfigIssue[]): void {
  console.error(`config ${name} is invalid (${issues.length} issue${issues.length === 1 ? "" : "s"}); nothing was started:`);
  for (const issue of issues) console.error(`  ${formatConfigIssue(issue)}`);
}

/** Seeds the store the way users change it: `POST /v1/apply?prune=true` as the whole config. */
async function seedThroughApi(controlUrl: URL, token: string, text: string, source: string): Promise<WriteResult | undefined> {
  const url = new URL("/v1/apply", controlUrl);
  url.searchParams.set("prune", "true");
  url.searchParams.set("source", source);
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/yaml", "x-mesh-author": "npm start" },
    body: text,
  });
  const body: unknown = await response.json().catch(() => undefined);
  if (response.ok) return body as WriteResult;
  if (isApiErrorBody(body) && body.error.issues?.length) printInvalid(source, body.error.issues);
  else console.error(`could not seed the config through the control API: ${response.status} ${isApiErrorBody(body) ? body.error.message : ""}`);
  return undefined;
}

function meshctlLines(bookinfo: boolean): string[] {
  const lines = ["npx meshctl status                                    # the version each gateway serves", "npx meshctl top                                       # live: rate, errors, p50/p99 per destination", "npx meshctl get vs"];
  if (bookinfo) {
    lines.push(
      "npx meshctl diff -f examples/canary-90-10.yaml         # what the canary changes",
      "npx meshctl apply -f examples/canary-90-10.yaml        # reviews: 90% v1, 10% v3, live within ~1 s",
      "npx meshctl rollback                                  # back to the previous version",
      "npx meshctl apply -f examples/broken-canary.yaml       # refused: every issue, nothing stored",
      "npx meshctl explain http://bookinfo.local/reviews/1 -H 'end-user: jason'",
      "npx meshctl token issue --spiffe-id spiffe://acme.test/ns/bookinfo/sa/productpage --audience bookinfo.local   # a JWT-SVID (see README: Identity)",
    );
  }
  lines.push("npx meshctl history");
  return lines;
}

function origin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** The egress's "try:" lines: with the demo config, the allowed, denied and blocked calls of the README's egress tour. */
function egressTryLines(snapshot: Snapshot, egress: string, bookinfo: boolean, trustDomain: string): string[] {
  const lines = [`curl -s ${egress}/__mesh/healthz                        # the egress gateway`];
  if (bookinfo) {
    const audience = `spiffe://${trustDomain}/ns/istio-system/sa/istio-egressgateway-service-account`;
    const host = `-H 'Host: ${PARTNER_HOST}'`;
    lines.push(
      `TOKEN=$(npx meshctl token issue --spiffe-id spiffe://${trustDomain}/ns/bookinfo/sa/productpage --audience ${audience})`,
      `curl -s ${host} -H "Authorization: Bearer $TOKEN" ${egress}/v1/quotes     # out through the egress, credential injected`,
      `curl -si -H 'Host: api.blocked.test' -H "Authorization: Bearer $TOKEN" ${egress}/   # 502 NR: not in the registry`,
      `OTHER=$(npx meshctl token issue --spiffe-id spiffe://${trustDomain}/ns/bookinfo/sa/reviews --audience ${audience})`,
      `curl -si ${host} -H "Authorization: Bearer $OTHER" ${egress}/v1/quotes   # 403 RBAC: only productpage may call it`,
    );
    return lines;
  }
  const external = (snapshot.egress?.services ?? []).map((service) => service.host.replace(/^\*\./, "example."));
  for (const host of [...new Set(external)].slice(0, 3)) lines.push(`curl -si -H 'Host: ${host}' ${egress}/`);
  return lines;
}

function tryLines(snapshot: Snapshot, base: string, bookinfo: boolean): string[] {
  const lines = [`curl -s ${base}/__mesh/healthz`];
  if (bookinfo) {
    const host = "-H 'Host: bookinfo.local'";
    lines.push(
      `curl -s ${host} ${base}/productpage`,
      `curl -s ${host} ${base}/reviews/1                        # 80% v1, 20% v2`,
      `curl -s ${host} -H 'end-user: jason' ${base}/reviews/1   # always v3`,
      `curl -si ${host} -H 'x-fault: abort' ${base}/ratings/1   # injected 503`,
      `curl -s ${host} -H 'x-fault: delay' ${base}/ratings/1    # injected 2s delay`,
      `curl -s ${host} ${base}/flaky                            # upstream fails 2 in 3; retried`,
    );
    return lines;
  }
  const hosts = new Set<string>();
  for (const gateway of snapshot.gateways) {
    for (const host of Object.keys(gateway.virtualHosts.exact)) hosts.add(host);
    for (const [suffix] of gateway.virtualHosts.wildcard) hosts.add(`example${suffix}`);
  }
  for (const host of [...hosts].slice(0, 6)) lines.push(`curl -si -H 'Host: ${host}' ${base}/`);
  return lines;
}

function selects(selector: Record<string, string>, labels: string): boolean {
  const own = new Map(labels.split(",").filter(Boolean).map((pair) => pair.split("=", 2) as [string, string]));
  return Object.entries(selector).every(([key, value]) => own.get(key) === value);
}

function parsePort(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined || value === "") return fallback;
  const port = Number(value);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
}

/** workerd's own message for a taken port is obscure; check first and say what to do. */
function checkPortFree(host: string, port: number, variable: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      resolve(`cannot listen on ${host}:${port}: ${error.code === "EADDRINUSE" ? `the port is in use (set ${variable} to use another)` : error.message}`),
    );
    probe.listen(port, host, () => probe.close(() => resolve(undefined)));
  });
}

function displayPath(file: string): string {
  const relative = path.relative(process.env.INIT_CWD ?? process.cwd(), file);
  return relative && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : file;
}

// Exit explicitly: a keep-alive socket or timer left behind must not keep a stopped server alive.
process.exit(await main());

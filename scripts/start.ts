import { rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { Log, LogLevel } from "miniflare";
import { parseConfigText } from "../policies/config/load.js";
import { formatConfigIssue, type ConfigIssue } from "../policies/errors.js";
import { compileSnapshot } from "../policies/snapshot/compile.js";
import type { Snapshot } from "../policies/snapshot/schema.js";
import { startDemoServices, type RunningDemo } from "./demo/services.js";
import { bundleWorker, REPO_ROOT } from "./lib/bundle-worker.js";
import { formatLabels, startLocalGateway, WRANGLER_DEFAULTS, type LocalGateway } from "./lib/local-gateway.js";

/**
 * `npm start [-- --config FILE] [--no-demo] [--persist-to DIR]`: validates and compiles the
 * config (and stops there, printing every issue, if it is invalid), starts the demo backends,
 * then runs the ingress worker in workerd on 127.0.0.1:${INGRESS_PORT:-8787} with its KV
 * persisted under .mesh/kv, seeded with the compiled snapshot. Prints
 * `mesh-ingress listening on <url>` once it serves. Ctrl-C or SIGTERM stops everything.
 */

const USAGE = `usage: npm start [-- --config FILE] [--no-demo] [--persist-to DIR]

  --config FILE       Istio resources (YAML or JSON) to serve; default examples/bookinfo.yaml
  --no-demo           do not start the demo backends (127.0.0.1:9080-9086)
  --persist-to DIR    where local KV lives; default .mesh/kv
  -h, --help          show this help

environment:
  INGRESS_PORT    port of the gateway on 127.0.0.1 (default 8787)`;

const DEFAULT_CONFIG = path.join(REPO_ROOT, "examples/bookinfo.yaml");
const DEFAULT_PERSIST_DIR = path.join(REPO_ROOT, ".mesh/kv");
const DEFAULT_PORT = 8787;
const HOST = "127.0.0.1";

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: "string" },
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
  const configFile = args.config !== undefined ? path.resolve(userCwd, args.config) : DEFAULT_CONFIG;
  const persistDir = args["persist-to"] !== undefined ? path.resolve(userCwd, args["persist-to"]) : DEFAULT_PERSIST_DIR;
  const port = parsePort(process.env.INGRESS_PORT);
  if (port === undefined) {
    console.error(`INGRESS_PORT must be a port number 1..65535 (got '${process.env.INGRESS_PORT}')`);
    return 2;
  }

  const snapshot = await loadSnapshot(configFile);
  if (!snapshot) return 1;
  const labels = WRANGLER_DEFAULTS.vars.MESH_GATEWAY_LABELS;
  if (!snapshot.gateways.some((gateway) => selects(gateway.selector, labels))) {
    console.warn(`warning: no Gateway in ${displayPath(configFile)} selects this gateway's labels (${labels}): every request will find no route`);
  }

  const portProblem = await checkPortFree(HOST, port);
  if (portProblem) {
    console.error(portProblem);
    return 1;
  }

  let demo: RunningDemo | undefined;
  let gateway: LocalGateway | undefined;
  let scriptPath: string | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await gateway?.dispose().catch((error: unknown) => console.error(`stopping the gateway: ${String(error)}`));
      await demo?.close();
    })());

  try {
    if (args.demo) demo = await startDemoServices();
    scriptPath = await bundleWorker();
    const bundleDir = path.dirname(scriptPath);
    process.once("exit", () => rmSync(bundleDir, { recursive: true, force: true }));
    // Locally the debug headers are on, so curl -i shows the response flags, route and attempts.
    gateway = await startLocalGateway({ scriptPath, host: HOST, port, persistDir, bindings: { MESH_DEBUG_HEADERS: "true" }, log: new Log(LogLevel.WARN) });
    await gateway.seed(snapshot);
  } catch (error) {
    console.error(`could not start: ${(error as Error).message}`);
    await stop();
    return 1;
  }

  const base = `http://${HOST}:${gateway.url.port}`;
  console.log(`mesh-ingress listening on ${base}`);
  console.log(`  config    ${displayPath(configFile)} (version ${snapshot.version}: ${snapshot.resources.length} resources, ${snapshot.routes.length} routes)`);
  console.log(`  kv        ${displayPath(persistDir)} (binding ${WRANGLER_DEFAULTS.kvBinding})`);
  console.log(`  labels    ${formatLabels(labels)}`);
  if (demo) {
    console.log("  services");
    for (const service of demo.services) console.log(`    ${service.name.padEnd(12)} ${service.version}  ${service.url}`);
  }
  console.log("\ntry:");
  for (const line of tryLines(snapshot, base, configFile === DEFAULT_CONFIG && demo !== undefined)) console.log(`  ${line}`);
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

/** Reads, parses and compiles a config file; prints every issue and returns undefined if it is invalid. */
async function loadSnapshot(file: string): Promise<Snapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    console.error(`cannot read config ${displayPath(file)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return undefined;
  }
  const loaded = parseConfigText(text, displayPath(file));
  let issues: ConfigIssue[] = loaded.issues;
  if (issues.length === 0) {
    const compiled = await compileSnapshot(loaded.resources);
    if (compiled.ok) return compiled.snapshot;
    issues = loaded.locate(compiled.issues);
  }
  console.error(`config ${displayPath(file)} is invalid (${issues.length} issue${issues.length === 1 ? "" : "s"}); nothing was started:`);
  for (const issue of issues) console.error(`  ${formatConfigIssue(issue)}`);
  return undefined;
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

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return DEFAULT_PORT;
  const port = Number(value);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
}

/** workerd's own message for a taken port is obscure; check first and say what to do. */
function checkPortFree(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      resolve(`cannot listen on ${host}:${port}: ${error.code === "EADDRINUSE" ? "the port is in use (set INGRESS_PORT to use another)" : error.message}`),
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

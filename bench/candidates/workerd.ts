import { execFile } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";
import { bundleWorker } from "../../scripts/lib/bundle-worker.js";
import { WRANGLER_DEFAULTS } from "../../scripts/lib/local-gateway.js";
import { fullRequest, FULL_SHAPE, meshConfig, minimalConfig, minimalRequest, ROUTE_MARK_HEADER, type RawResource } from "../full-config.js";
import { BENCH_DIR, freePort, REPO_ROOT, startProcess, waitForPort } from "../processes.js";
import { generateSigningKeyPair, issueJwtSvid, jwtSvidAuthority } from "../../policies/identity/issue.js";
import { compileBenchConfig, kvEntries } from "../snapshot.js";
import { workerdConfig, type WorkerBinding, type WorkerSpec } from "../workerd-config.js";
import { plainRequest, type CandidateContext, type CandidateSpec, type RunningCandidate } from "./candidate.js";

/**
 * The candidates that run in workerd, started directly with `workerd serve` (no Miniflare: its
 * development entry worker in front of the user's costs several times the worker itself):
 *
 * - `workerd-passthrough`: a worker that only forwards to the upstream, the runtime's limit;
 * - `gateway-minimal` / `gateway-full`: the ingress gateway from the bundle that
 *   `wrangler deploy --dry-run --outdir` writes (what would be uploaded), with wrangler.toml's
 *   vars, and `MESH_CONFIG` bound to an in-memory KV service seeded with the compiled snapshot
 *   and the `config/current` pointer.
 *
 * workerd's stdout (console.log: the gateway's access log) goes to /dev/null, so logging costs
 * what formatting and writing a line costs, without flooding the terminal; stderr is kept for
 * error messages.
 */

const run = promisify(execFile);
const require = createRequire(import.meta.url);

export function workerdBinary(): string {
  return path.join(path.dirname(require.resolve("workerd/package.json")), "bin", "workerd");
}

const dryRunBundles = new Map<string, Promise<string>>();

/**
 * `wrangler deploy --dry-run --outdir`: the exact module a deploy would upload. Once per run;
 * `--bundle FILE` replaces it with a prebuilt one.
 */
export function deployBundle(context: Pick<CandidateContext, "workDir" | "gatewayBundle">): Promise<string> {
  if (context.gatewayBundle !== undefined) return Promise.resolve(context.gatewayBundle);
  const { workDir } = context;
  let bundle = dryRunBundles.get(workDir);
  if (!bundle) {
    bundle = (async () => {
      const outdir = path.join(workDir, "wrangler-dry-run");
      await run(path.join(REPO_ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
        cwd: REPO_ROOT,
        timeout: 120_000,
        env: {
          ...process.env,
          WRANGLER_SEND_METRICS: "false",
          WRANGLER_SEND_ERROR_REPORTS: "false",
          WRANGLER_HIDE_BANNER: "true",
          WRANGLER_LOG_PATH: outdir,
          CI: "true",
          NO_COLOR: "1",
        },
      }).catch((error: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`wrangler deploy --dry-run failed: ${error.message}\n${error.stdout ?? ""}\n${error.stderr ?? ""}`);
      });
      return path.join(outdir, "index.js");
    })();
    dryRunBundles.set(workDir, bundle);
  }
  return bundle;
}

interface WorkerdCandidateOptions {
  name: string;
  how: string;
  /** The ES module to serve (copied next to the config). */
  bundle: string;
  bindings: WorkerBinding[];
  /** KV entries for `MESH_CONFIG` (binds the KV service when given). */
  kv?: Record<string, string>;
  /** Extra `workerd serve` arguments (e.g. `--inspector-addr`). */
  args?: string[];
}

async function startWorkerd(context: CandidateContext, options: WorkerdCandidateOptions): Promise<Omit<RunningCandidate, "request">> {
  const dir = path.join(context.workDir, options.args?.length ? `${options.name}-${Date.now()}` : options.name);
  await mkdir(dir, { recursive: true });
  await copyFile(options.bundle, path.join(dir, "worker.js"));
  const services: Record<string, WorkerSpec> = {};
  const bindings = [...options.bindings];
  if (options.kv) {
    await writeFile(path.join(dir, "kv-entries.json"), JSON.stringify(options.kv));
    await bundleWorker({ entry: path.join(BENCH_DIR, "workers", "kv-service.ts"), outFile: path.join(dir, "kv-service.js") });
    services.kv = {
      moduleFile: "kv-service.js",
      compatibilityDate: WRANGLER_DEFAULTS.compatibilityDate,
      bindings: [{ name: "KV_ENTRIES", textFile: "kv-entries.json" }],
    };
    bindings.push({ name: WRANGLER_DEFAULTS.kvBinding, kvNamespace: "kv" });
  }
  const port = await freePort();
  const config = workerdConfig({
    port,
    main: { moduleFile: "worker.js", compatibilityDate: WRANGLER_DEFAULTS.compatibilityDate, bindings },
    services,
  });
  await writeFile(path.join(dir, "config.capnp"), config);
  const devNull = openSync("/dev/null", "w");
  const service = startProcess(options.name, workerdBinary(), ["serve", "config.capnp", ...(options.args ?? [])], {
    cwd: dir,
    stdoutTo: devNull,
    cpus: context.cpus,
  });
  closeSync(devNull);
  await waitForPort(port, service);
  return {
    name: options.name,
    how: options.how,
    port,
    pids: () => [service.child.pid!],
    stop: () => service.stop(),
  };
}

export const workerdPassthrough: CandidateSpec = {
  name: "workerd-passthrough",
  summary: "a 5-line worker that only forwards to the upstream, in workerd: the runtime's limit",
  async start(context) {
    const bundle = await bundleWorker({
      entry: path.join(BENCH_DIR, "workers", "passthrough.ts"),
      outFile: path.join(context.workDir, "passthrough-bundle", "index.js"),
    });
    const running = await startWorkerd(context, {
      name: "workerd-passthrough",
      how: "workerd serve (one process, one isolate), bench/workers/passthrough.ts bundled by esbuild with wrangler's settings",
      bundle,
      bindings: [{ name: "UPSTREAM", text: `http://127.0.0.1:${context.upstreamPort}` }],
    });
    return { ...running, request: plainRequest() };
  },
};

function gatewayBindings(accessLog: "on" | "off"): WorkerBinding[] {
  return [
    ...Object.entries(WRANGLER_DEFAULTS.vars).map(([name, text]) => ({ name, text })),
    { name: "MESH_ACCESS_LOG", text: accessLog },
  ];
}

const BENCH_TRUST_DOMAIN = "bench.test";
const BENCH_CALLER = `spiffe://${BENCH_TRUST_DOMAIN}/ns/bench/sa/caller`;
const JWT_SVID_NOTE = `every request carries a JWT-SVID (ES256, ${BENCH_CALLER}) that the gateway verifies against the MeshConfig's bundle (and then finds in its verified-token cache)`;

/** A MeshConfig trusting a fresh JWT-SVID key, and a token from it valid for the whole run. */
async function benchJwtSvid(): Promise<{ meshConfig: RawResource; token: string }> {
  const keys = await generateSigningKeyPair("ES256");
  const jwk = await jwtSvidAuthority(keys.publicKey, "bench");
  const token = await issueJwtSvid({ privateKey: keys.privateKey, kid: "bench", spiffeId: BENCH_CALLER, audience: "bench.local", now: Date.now(), ttlMs: 3 * 3_600_000 });
  return {
    token,
    meshConfig: {
      apiVersion: "mesh.istio.io/v1alpha1",
      kind: "MeshConfig",
      metadata: { name: "mesh", namespace: "istio-system" },
      spec: {
        trustDomain: BENCH_TRUST_DOMAIN,
        trustBundles: [{ trustDomain: BENCH_TRUST_DOMAIN, spiffeBundle: { keys: [jwk] } }],
        jwtSvid: { audiences: ["bench.local"] },
      },
    },
  };
}

/** Runs a gateway candidate from another bundle under another name (`--baseline`: A/B in one run). */
export interface GatewayVariant {
  name: string;
  bundle: string;
}

/** gateway-minimal's worker; `args` adds `workerd serve` arguments (the profiler's inspector). */
export async function launchGatewayMinimal(context: CandidateContext, args: string[] = [], variant?: GatewayVariant): Promise<RunningCandidate> {
  const snapshot = await compileBenchConfig(minimalConfig(context.upstreamPort));
  const running = await startWorkerd(context, {
    name: variant?.name ?? "gateway-minimal",
    how: `workerd serve with the ${variant ? `baseline bundle ${variant.bundle}` : "`wrangler deploy --dry-run` bundle"}, wrangler.toml vars, MESH_ACCESS_LOG=off, KV from an in-memory KV service`,
    bundle: variant?.bundle ?? (await deployBundle(context)),
    bindings: gatewayBindings("off"),
    kv: kvEntries(snapshot),
    args,
  });
  return {
    ...running,
    request: minimalRequest(),
    checkUpstream: (headers) =>
      headers["x-mesh-authority"] === minimalRequest().host ? undefined : `upstream saw x-mesh-authority ${String(headers["x-mesh-authority"])}`,
  };
}

export const gatewayMinimal: CandidateSpec = {
  name: "gateway-minimal",
  summary: "the ingress gateway, one route to one destination, access log off",
  start: (context) => launchGatewayMinimal(context),
};

/** gateway-full's worker; `args` adds `workerd serve` arguments (the profiler's inspector). */
export async function launchGatewayFull(context: CandidateContext, args: string[] = [], variant?: GatewayVariant): Promise<RunningCandidate> {
  const identity = await benchJwtSvid();
  const snapshot = await compileBenchConfig([...meshConfig({ ...FULL_SHAPE, upstreamPort: context.upstreamPort }), identity.meshConfig]);
  const measured = fullRequest(context.upstreamPort);
  const request: typeof measured = { ...measured, headers: { ...measured.headers, authorization: `Bearer ${identity.token}` } };
  const running = await startWorkerd(context, {
    name: variant?.name ?? "gateway-full",
    how:
      `workerd serve with the ${variant ? `baseline bundle ${variant.bundle}` : "`wrangler deploy --dry-run` bundle"}, wrangler.toml vars, MESH_ACCESS_LOG=on ` +
      "(workerd stdout, i.e. the access log, to /dev/null), KV from an in-memory KV service",
    bundle: variant?.bundle ?? (await deployBundle(context)),
    bindings: gatewayBindings("on"),
    kv: kvEntries(snapshot),
    args,
  });
  return {
    ...running,
    request,
    notes: [
      `${snapshot.routes.length} routes over ${snapshot.virtualHosts.length} hosts; the request matches ${request.expectRoute} (route 10 of its host, after 9 candidates) by header and path`,
      "90/10 weighted split between subsets v1/v2, retries (2, per-try timeout 5s) and a 10s route timeout armed, a fault on x-chaos (not sent), request id, W3C trace propagation, access log on",
      JWT_SVID_NOTE,
    ],
    checkUpstream(headers) {
      if (headers[ROUTE_MARK_HEADER] !== request.expectRoute) {
        return `upstream saw ${ROUTE_MARK_HEADER}: ${String(headers[ROUTE_MARK_HEADER])}, expected ${request.expectRoute}`;
      }
      const traceparent = String(headers.traceparent ?? "");
      if (!traceparent.includes(request.headers.traceparent!.split("-")[1]!)) return `the trace was not continued (traceparent ${traceparent})`;
      if (typeof headers["x-request-id"] !== "string") return "no x-request-id upstream";
      if (headers["x-mesh-peer-principal"] !== BENCH_CALLER) return `the JWT-SVID was not verified (x-mesh-peer-principal ${String(headers["x-mesh-peer-principal"])})`;
      return undefined;
    },
  };
}

export const gatewayFull: CandidateSpec = {
  name: "gateway-full",
  summary: "the ingress gateway, 1,000 routes over 100 hosts, split/retries/timeouts/fault/tracing/access log",
  start: (context) => launchGatewayFull(context),
};

/** `--baseline FILE`: gateway-minimal and gateway-full again, from another bundle, named `<name>@baseline`. */
export function baselineCandidates(bundle: string): Record<string, CandidateSpec> {
  return {
    "gateway-minimal": {
      name: "gateway-minimal@baseline",
      summary: "gateway-minimal from the --baseline bundle",
      start: (context) => launchGatewayMinimal(context, [], { name: "gateway-minimal@baseline", bundle }),
    },
    "gateway-full": {
      name: "gateway-full@baseline",
      summary: "gateway-full from the --baseline bundle",
      start: (context) => launchGatewayFull(context, [], { name: "gateway-full@baseline", bundle }),
    },
  };
}

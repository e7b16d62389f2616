import path from "node:path";
import { createInterface } from "node:readline";
import { Miniflare, type Log, type WorkerOptions } from "miniflare";
import { CURRENT_POINTER_KEY, snapshotKey } from "../../policies/snapshot/kv-layout.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";
import { bundleWorker } from "./bundle-worker.js";

/**
 * Runs the ingress worker locally the way Workers would: the bundled module in workerd (via
 * Miniflare), a `MESH_CONFIG` KV namespace (in memory, or persisted on disk), and the `[vars]`
 * of wrangler.toml as plain-text bindings. Used by `npm start` and by the integration tests.
 */

/** Mirrors wrangler.toml (test/deploy/dry-run.test.ts checks that they agree). */
export const WRANGLER_DEFAULTS = {
  compatibilityDate: "2026-04-01",
  kvBinding: "MESH_CONFIG",
  vars: {
    MESH_GATEWAY_LABELS: "istio=ingressgateway",
    MESH_CONFIG_TTL_MS: "5000",
    MESH_DEBUG_HEADERS: "false",
  },
} as const;

export interface LocalGatewayOptions {
  /** An already bundled worker; default: bundle `entry` now. */
  scriptPath?: string;
  /** The worker entry to bundle when no `scriptPath` is given; default gateway/index.ts. */
  entry?: string;
  /** Default 0: any free port (the real one is in `url`). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Persist KV under this directory (e.g. `.mesh/kv`); default in memory. */
  persistDir?: string;
  /** The gateway workload's labels, as a record or as `k=v,k2=v2`; sets MESH_GATEWAY_LABELS. */
  labels?: Record<string, string> | string;
  /** Extra or overriding plain-text bindings (e.g. `{ MESH_CONFIG_TTL_MS: "50" }`); win over `labels`. */
  bindings?: Record<string, string>;
  compatibilityDate?: string;
  /**
   * The `request.cf` object every request carries. Default: Miniflare's built-in placeholder.
   * (Left unset, Miniflare would download one from workers.cloudflare.com outside of tests.)
   */
  cf?: Record<string, unknown>;
  /** Miniflare's own log (default: silent). The worker's console output goes to stdout/stderr either way. */
  log?: Log;
  /** Receives each line the worker writes to stdout (access log, config events) instead of the terminal. */
  onWorkerLine?: (line: string) => void;
  /** Where the worker's own `fetch` goes (e.g. a network with extra trusted CAs in `tlsOptions`, for TLS origination tests). */
  outboundService?: WorkerOptions["outboundService"];
  /** Service bindings of the worker (e.g. the stand-in for an `mtls_certificates` binding: an external server with a client keypair). */
  serviceBindings?: WorkerOptions["serviceBindings"];
  /** The gateway worker's name, for service bindings of `workers` to point at (default `gateway`). */
  name?: string;
  /**
   * More workers in the same workerd, e.g. a mesh service whose service binding (with `props`)
   * calls the gateway: `{ name: "api", modules: true, script, serviceBindings: { EGRESS: { name: "egress", props } } }`.
   * HTTP still goes to the gateway; reach the others with `mf.getWorker(name)`.
   */
  workers?: WorkerOptions[];
  /**
   * Also listen on this port (0: any free one) as an HTTP proxy: workerd's proxy-style socket,
   * whose requests carry an absolute URL (`GET http://api.example.test/x HTTP/1.1`, what
   * `curl -x` and HTTP_PROXY clients send), which the usual socket answers with a 500 before any
   * worker runs. Only absolute-form requests work there (origin-form ones reach the worker with
   * a relative URL), and CONNECT is refused (workerd: "Incoming CONNECT on a worker not supported").
   */
  proxyPort?: number;
}

export interface LocalGateway {
  mf: Miniflare;
  /** Where the gateway listens, e.g. `http://127.0.0.1:8787/`. */
  url: URL;
  scriptPath: string;
  /** The HTTP-proxy socket, when `proxyPort` was given. */
  proxyUrl?: URL;
  /** The plain-text bindings the worker was started with. */
  bindings: Record<string, string>;
  seed(snapshot: Snapshot): Promise<void>;
  dispose(): Promise<void>;
}

export async function startLocalGateway(options: LocalGatewayOptions = {}): Promise<LocalGateway> {
  const scriptPath = options.scriptPath ?? (await bundleWorker(options.entry !== undefined ? { entry: options.entry } : {}));
  const bindings: Record<string, string> = {
    ...WRANGLER_DEFAULTS.vars,
    ...(options.labels !== undefined ? { MESH_GATEWAY_LABELS: formatLabels(options.labels) } : {}),
    ...options.bindings,
  };
  const gateway: WorkerOptions = {
    ...(options.name !== undefined ? { name: options.name } : {}),
    modules: true,
    scriptPath,
    // Module names are relative to modulesRoot, and workerd rejects names with "..": without this
    // a bundle outside the current directory (e.g. in /tmp) fails to load.
    modulesRoot: path.dirname(scriptPath),
    compatibilityDate: options.compatibilityDate ?? WRANGLER_DEFAULTS.compatibilityDate,
    kvNamespaces: [WRANGLER_DEFAULTS.kvBinding],
    bindings,
    ...(options.outboundService !== undefined ? { outboundService: options.outboundService } : {}),
    ...(options.serviceBindings !== undefined ? { serviceBindings: options.serviceBindings } : {}),
    ...(options.proxyPort !== undefined ? { unsafeDirectSockets: [{ host: options.host ?? "127.0.0.1", port: options.proxyPort, proxy: true }] } : {}),
  };
  const mf = new Miniflare({
    // With other workers, the gateway is the first one, so HTTP goes to it.
    ...(options.workers?.length ? { workers: [{ name: "gateway", ...gateway }, ...options.workers] } : gateway),
    ...(options.persistDir !== undefined ? { kvPersist: path.resolve(options.persistDir) } : {}),
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    cf: options.cf ?? false,
    ...(options.log ? { log: options.log } : {}),
    ...(options.onWorkerLine
      ? {
          handleRuntimeStdio: (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => {
            createInterface({ input: stdout }).on("line", options.onWorkerLine!);
            stderr.pipe(process.stderr);
          },
        }
      : {}),
  });
  let url: URL;
  let proxyUrl: URL | undefined;
  try {
    url = await mf.ready;
    if (options.proxyPort !== undefined) proxyUrl = await mf.unsafeGetDirectURL(options.workers?.length ? (options.name ?? "gateway") : undefined);
  } catch (error) {
    await mf.dispose().catch(() => {});
    throw error;
  }
  let disposed: Promise<void> | undefined;
  return {
    mf,
    url,
    ...(proxyUrl ? { proxyUrl } : {}),
    scriptPath,
    bindings,
    seed: (snapshot) => seedSnapshot(mf, snapshot),
    dispose: () => (disposed ??= mf.dispose()),
  };
}

/** Writes a snapshot the way the control plane does: the immutable snapshot first, then the pointer. */
export async function seedSnapshot(mf: Miniflare, snapshot: Snapshot): Promise<void> {
  const kv = await mf.getKVNamespace(WRANGLER_DEFAULTS.kvBinding);
  await kv.put(snapshotKey(snapshot.version), JSON.stringify(snapshot));
  await kv.put(CURRENT_POINTER_KEY, JSON.stringify({ version: snapshot.version }));
}

/** Writes any value under any key of the config namespace (for tests of invalid or missing snapshots). */
export async function putConfigKv(mf: Miniflare, key: string, value: string): Promise<void> {
  const kv = await mf.getKVNamespace(WRANGLER_DEFAULTS.kvBinding);
  await kv.put(key, value);
}

export function formatLabels(labels: Record<string, string> | string): string {
  return typeof labels === "string" ? labels : Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(",");
}

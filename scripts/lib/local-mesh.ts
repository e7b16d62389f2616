import path from "node:path";
import { createInterface } from "node:readline";
import { Miniflare, type Log } from "miniflare";
import { bundleWorker, REPO_ROOT } from "./bundle-worker.js";
import { WRANGLER_DEFAULTS } from "./local-gateway.js";

/**
 * The local mesh: the ingress gateway, the control API and (optionally) the egress gateway in one
 * Miniflare (one workerd), as Workers would run them, sharing one `MESH_CONFIG` KV namespace so
 * that what the control API publishes is what both gateways read. The ingress listens on
 * `ingressPort` (Miniflare's entry socket, which keeps any Host header), the control API and the
 * egress on sockets of their own (`controlPort`, `egress.port`). KV and the ConfigStore Durable
 * Object live in memory, or on disk under `persistDir`.
 */

export const CONTROL_DEFAULTS = {
  name: "mesh-control",
  entry: path.join(REPO_ROOT, "control/index.ts"),
  durableObjectBinding: "CONFIG_STORE",
  durableObjectClass: "ConfigStore",
  vars: { MESH_MAX_BODY_BYTES: "1048576" },
} as const;

/** The egress worker as egress/wrangler.toml declares it (its `[vars]`, which egress/app.ts's EGRESS_DEFAULTS repeat). */
export const EGRESS_LOCAL_DEFAULTS = {
  name: "mesh-egress",
  entry: path.join(REPO_ROOT, "egress/index.ts"),
  vars: { MESH_GATEWAY_LABELS: "istio=egressgateway", MESH_WORKLOAD_NAME: "istio-egressgateway", MESH_PLATFORM_MTLS: "off", MESH_CONFIG_TTL_MS: "5000", MESH_DEBUG_HEADERS: "false" },
} as const;

export const GATEWAY_NAME = "mesh-ingress";
/** Both workers bind this namespace id, so they share one local KV namespace. */
const KV_NAMESPACE_ID = "MESH_CONFIG";

export interface LocalMeshOptions {
  /** Already bundled workers (default: bundle gateway/index.ts and control/index.ts now). */
  gatewayScript?: string;
  controlScript?: string;
  host?: string;
  /** Default 0: any free port (the real ones are in the result). */
  ingressPort?: number;
  controlPort?: number;
  /** Persist KV and the Durable Object under this directory; default in memory. */
  persistDir?: string;
  /** Plain-text bindings of the gateway, over wrangler.toml's vars (e.g. MESH_CONFIG_TTL_MS). */
  gatewayBindings?: Record<string, string>;
  /** The control API's secrets and vars: MESH_ADMIN_TOKEN, MESH_READER_TOKEN, MESH_MAX_BODY_BYTES. */
  controlBindings: Record<string, string>;
  /** Also run the egress gateway (egress/index.ts) on its own socket, over the same KV namespace. */
  egress?: {
    /** Already bundled (default: bundle egress/index.ts now). */
    script?: string;
    /** Default 0: any free port (the real one is `egressUrl`). */
    port?: number;
    /** Plain-text bindings and secrets, over egress/wrangler.toml's vars (e.g. MESH_JWT_SVID_KEY, a credential). */
    bindings?: Record<string, string>;
  };
  compatibilityDate?: string;
  log?: Log;
  /** Receives each line the workers write to stdout (access log, config events) instead of the terminal. */
  onWorkerLine?: (line: string) => void;
}

export interface LocalMesh {
  mf: Miniflare;
  ingressUrl: URL;
  controlUrl: URL;
  /** Where the egress listens, when it runs. */
  egressUrl?: URL;
  gatewayBindings: Record<string, string>;
  /** Reads a key of the shared config namespace (what gateways see). */
  readKv(key: string): Promise<string | null>;
  /** Every key of the shared config namespace with a prefix. */
  listKv(prefix?: string): Promise<string[]>;
  dispose(): Promise<void>;
}

export async function startLocalMesh(options: LocalMeshOptions): Promise<LocalMesh> {
  const [gatewayScript, controlScript, egressScript] = await Promise.all([
    options.gatewayScript ?? bundleWorker(),
    options.controlScript ?? bundleWorker({ entry: CONTROL_DEFAULTS.entry }),
    options.egress ? (options.egress.script ?? bundleWorker({ entry: EGRESS_LOCAL_DEFAULTS.entry })) : undefined,
  ]);
  const host = options.host ?? "127.0.0.1";
  const compatibilityDate = options.compatibilityDate ?? WRANGLER_DEFAULTS.compatibilityDate;
  const gatewayBindings: Record<string, string> = { ...WRANGLER_DEFAULTS.vars, ...options.gatewayBindings };
  const persist = options.persistDir !== undefined ? path.resolve(options.persistDir) : undefined;

  const mf = new Miniflare({
    host,
    port: options.ingressPort ?? 0,
    cf: false,
    ...(persist !== undefined ? { kvPersist: persist, durableObjectsPersist: persist } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.onWorkerLine
      ? {
          handleRuntimeStdio: (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => {
            createInterface({ input: stdout }).on("line", options.onWorkerLine!);
            stderr.pipe(process.stderr);
          },
        }
      : {}),
    workers: [
      {
        // The first worker gets Miniflare's entry socket: the gateway.
        name: GATEWAY_NAME,
        modules: true,
        scriptPath: gatewayScript,
        modulesRoot: path.dirname(gatewayScript),
        compatibilityDate,
        kvNamespaces: { [WRANGLER_DEFAULTS.kvBinding]: KV_NAMESPACE_ID },
        bindings: gatewayBindings,
      },
      {
        name: CONTROL_DEFAULTS.name,
        modules: true,
        scriptPath: controlScript,
        modulesRoot: path.dirname(controlScript),
        compatibilityDate,
        kvNamespaces: { [WRANGLER_DEFAULTS.kvBinding]: KV_NAMESPACE_ID },
        durableObjects: { [CONTROL_DEFAULTS.durableObjectBinding]: { className: CONTROL_DEFAULTS.durableObjectClass, useSQLite: true } },
        bindings: { ...CONTROL_DEFAULTS.vars, ...options.controlBindings },
        unsafeDirectSockets: [{ host, port: options.controlPort ?? 0 }],
      },
      ...(egressScript !== undefined
        ? [
            {
              name: EGRESS_LOCAL_DEFAULTS.name,
              modules: true,
              scriptPath: egressScript,
              modulesRoot: path.dirname(egressScript),
              compatibilityDate,
              kvNamespaces: { [WRANGLER_DEFAULTS.kvBinding]: KV_NAMESPACE_ID },
              bindings: { ...EGRESS_LOCAL_DEFAULTS.vars, ...options.egress?.bindings },
              unsafeDirectSockets: [{ host, port: options.egress?.port ?? 0 }],
            },
          ]
        : []),
    ],
  });
  let ingressUrl: URL;
  let controlUrl: URL;
  let egressUrl: URL | undefined;
  try {
    ingressUrl = await mf.ready;
    controlUrl = await mf.unsafeGetDirectURL(CONTROL_DEFAULTS.name);
    if (egressScript !== undefined) egressUrl = await mf.unsafeGetDirectURL(EGRESS_LOCAL_DEFAULTS.name);
  } catch (error) {
    await mf.dispose().catch(() => {});
    throw error;
  }
  let disposed: Promise<void> | undefined;
  const kv = () => mf.getKVNamespace(WRANGLER_DEFAULTS.kvBinding, CONTROL_DEFAULTS.name);
  return {
    mf,
    ingressUrl,
    controlUrl,
    ...(egressUrl !== undefined ? { egressUrl } : {}),
    gatewayBindings,
    readKv: async (key) => (await kv()).get(key, "text"),
    async listKv(prefix) {
      const namespace = await kv();
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await namespace.list({ ...(prefix !== undefined ? { prefix } : {}), ...(cursor !== undefined ? { cursor } : {}) });
        keys.push(...page.keys.map((key) => key.name));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor !== undefined);
      return keys;
    },
    dispose: () => (disposed ??= mf.dispose()),
  };
}

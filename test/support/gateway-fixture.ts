import { rm } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import type { Miniflare } from "miniflare";
import { afterAll } from "vitest";
import { parseConfigText } from "../../policies/config/load.js";
import { formatConfigIssue, type ConfigIssue } from "../../policies/errors.js";
import type { MeshResource } from "../../policies/resources/resource.js";
import { compileSnapshot } from "../../policies/snapshot/compile.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";
import { bundleWorker } from "../../scripts/lib/bundle-worker.js";
import { putConfigKv, startLocalGateway, type LocalGatewayOptions } from "../../scripts/lib/local-gateway.js";

/**
 * The ingress gateway under test: the real worker bundle in workerd (Miniflare) on a free
 * 127.0.0.1 port, its KV seeded with a snapshot compiled from the given resources.
 *
 *   const gateway = await startTestGateway(yaml, { bindings: { MESH_DEBUG_HEADERS: "true" } });
 *   const response = await gateway.fetch("/reviews/1", { host: "bookinfo.local", headers: { "end-user": "jason" } });
 *   await gateway.close();
 *
 * Requests go over real HTTP with node:http, because only that keeps the Host header:
 * `mf.dispatchFetch` replaces it with the loopback address (only `request.url` keeps the host
 * you dispatched to), and Node's global `fetch` (undici) drops a Host header silently. With
 * node:http the worker sees `Host: bookinfo.local` and `request.url` `http://bookinfo.local/...`,
 * as on Cloudflare. Redirects are never followed, so tests see the gateway's 3xx as sent.
 */

export type ConfigInput = string | readonly MeshResource[];

export interface TestGatewayOptions {
  /** Plain-text bindings overriding wrangler.toml's vars, e.g. `{ MESH_CONFIG_TTL_MS: "50", MESH_DEBUG_HEADERS: "true" }`. */
  bindings?: Record<string, string>;
  /** The gateway workload's labels (MESH_GATEWAY_LABELS); default `istio=ingressgateway`. */
  labels?: Record<string, string> | string;
  /** Persist KV under this directory (default: in memory). */
  persistDir?: string;
  /** Collect the worker's stdout lines (JSON access log and events) in `logs` instead of printing them. */
  captureLogs?: boolean;
  /** Start with an empty config store (nothing seeded); `resources` must then be `[]`. */
  seed?: boolean;
  /** The `request.cf` object every request carries (e.g. a `tlsClientAuth` as the edge reports a verified client certificate). */
  cf?: Record<string, unknown>;
}

export interface GatewayRequestInit extends RequestInit {
  /** The Host header (and so the worker's `request.url` host). Default: the host of a full URL given as `path`, else the gateway's address. */
  host?: string;
  /** Abort after this many milliseconds (default 20 s). */
  timeoutMs?: number;
}

export interface TestGateway {
  /** e.g. `http://127.0.0.1:40123/` */
  url: URL;
  mf: Miniflare;
  /** The snapshot currently seeded (undefined when started with `seed: false` and nothing applied). */
  snapshot: Snapshot | undefined;
  /** Sends a request to the gateway. `path` is `/x?y` or a full URL whose host becomes the Host header. */
  fetch(path: string, init?: GatewayRequestInit): Promise<Response>;
  /** Compiles and writes a new config (snapshot, then pointer), as the control plane would. */
  applySnapshot(resources: ConfigInput): Promise<Snapshot>;
  /** Writes any KV value (e.g. a corrupt snapshot or pointer) for tests of bad config. */
  putRawKv(key: string, value: string): Promise<void>;
  /** With `captureLogs`: every JSON line the worker printed, parsed, in order. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Parses (YAML/JSON text or resources) and compiles, or throws with every issue formatted. */
export async function compileConfig(input: ConfigInput, file = "test config"): Promise<Snapshot> {
  let resources: readonly MeshResource[];
  if (typeof input === "string") {
    const loaded = parseConfigText(input, file);
    if (loaded.issues.length > 0) throw configError(loaded.issues);
    resources = loaded.resources;
  } else resources = input;
  const compiled = await compileSnapshot([...resources]);
  if (!compiled.ok) throw configError(compiled.issues);
  return compiled.snapshot;
}

let bundled: Promise<string> | undefined;

/**
 * The gateway bundle, built at most once per test file (vitest isolates modules per file) and
 * deleted after the file's tests: a running workerd has already loaded it.
 */
export function gatewayBundle(): Promise<string> {
  bundled ??= bundleWorker().catch((error: unknown) => {
    bundled = undefined;
    throw error;
  });
  return bundled;
}

// Registered while the importing test file is collected, so it runs after that file's tests.
afterAll(async () => {
  const pending = bundled;
  bundled = undefined;
  const scriptPath = await pending?.catch(() => undefined);
  if (scriptPath) await rm(path.dirname(scriptPath), { recursive: true, force: true });
});

export async function startTestGateway(resources: ConfigInput, options: TestGatewayOptions = {}): Promise<TestGateway> {
  const seed = options.seed ?? true;
  const initial = seed ? await compileConfig(resources) : undefined;
  const localOptions: LocalGatewayOptions = { scriptPath: await gatewayBundle(), port: 0 };
  if (options.bindings) localOptions.bindings = options.bindings;
  if (options.labels !== undefined) localOptions.labels = options.labels;
  if (options.persistDir !== undefined) localOptions.persistDir = options.persistDir;
  if (options.cf !== undefined) localOptions.cf = options.cf;
  const logs: Record<string, unknown>[] = [];
  if (options.captureLogs) {
    localOptions.onWorkerLine = (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ text: line });
      }
    };
  }
  const local = await startLocalGateway(localOptions);
  const agent = new http.Agent({ keepAlive: true });

  const gateway: TestGateway = {
    url: local.url,
    mf: local.mf,
    snapshot: initial,
    fetch: (target, init) => requestOverHttp(local.url, target, init, agent),
    async applySnapshot(next) {
      const snapshot = await compileConfig(next);
      await local.seed(snapshot);
      gateway.snapshot = snapshot;
      return snapshot;
    },
    putRawKv: (key, value) => putConfigKv(local.mf, key, value),
    logs,
    async close() {
      agent.destroy();
      await local.dispose();
    },
  };
  try {
    if (initial) await local.seed(initial);
  } catch (error) {
    await gateway.close();
    throw error;
  }
  return gateway;
}

function configError(issues: readonly ConfigIssue[]): Error {
  return new Error(`test config is invalid:\n${issues.map((issue) => `  ${formatConfigIssue(issue)}`).join("\n")}`);
}

/** Statuses whose Response must have a null body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * Sends one request to `base` over node:http with the Host header of your choice and returns a
 * Web `Response` (body buffered). `target` is `/path?query` or a full URL whose host becomes the
 * Host header unless `init.host` is given.
 */
export async function requestOverHttp(base: URL, target: string, init: GatewayRequestInit = {}, agent?: http.Agent): Promise<Response> {
  const absolute = /^[a-z][a-z0-9+.-]*:\/\//i.test(target);
  const requested = new URL(target, base);
  const host = init.host ?? (absolute ? requested.host : base.host);
  const headers = new Headers(init.headers);
  let body: Buffer | undefined;
  if (init.body !== undefined && init.body !== null) {
    // Let the Fetch API serialise any BodyInit (string, bytes, form data, stream) and pick its content-type.
    const encoded = new Response(init.body);
    const contentType = encoded.headers.get("content-type");
    if (contentType && !headers.has("content-type")) headers.set("content-type", contentType);
    body = Buffer.from(await encoded.arrayBuffer());
  }
  const outgoing: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    if (name !== "set-cookie") outgoing[name] = value;
  });
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) outgoing["set-cookie"] = cookies;
  outgoing.host = host;
  if (body !== undefined) outgoing["content-length"] = String(body.length);

  const signals = [AbortSignal.timeout(init.timeoutMs ?? 20_000), ...(init.signal ? [init.signal] : [])];
  const signal = AbortSignal.any(signals);

  return new Promise<Response>((resolve, reject) => {
    const request = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: (init.method ?? "GET").toUpperCase(),
        path: `${requested.pathname}${requested.search}`,
        headers: outgoing,
        ...(agent ? { agent } : {}),
        signal,
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("error", reject);
        incoming.on("end", () => {
          const responseHeaders = new Headers();
          for (let index = 0; index < incoming.rawHeaders.length; index += 2) {
            responseHeaders.append(incoming.rawHeaders[index]!, incoming.rawHeaders[index + 1]!);
          }
          const status = incoming.statusCode ?? 0;
          const payload = NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks);
          resolve(new Response(payload, { status, statusText: incoming.statusMessage ?? "", headers: responseHeaders }));
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * Real HTTP upstream services on 127.0.0.1 for integration tests: the gateway under test
 * (in workerd) connects to them over loopback exactly as it would to a real backend.
 *
 * Every request is recorded (`requests`) before it is answered, so a test can count attempts
 * (retries), see which headers the gateway added or stripped, and which path it rewrote to.
 * By default an upstream answers `200` with JSON `{ service, version, path, method, headers }`;
 * `setBehaviour` and the helpers (`failTimes`, `delayMs`, `respondWith`, `resetTimes`) script
 * it. Each helper replaces the current behaviour; `setBehaviour(null)` restores the default.
 */

export interface RecordedRequest {
  method: string;
  /** Path and query string as received, e.g. `/reviews/1?x=y`. */
  path: string;
  /** Lowercase names; repeated headers joined with ", " (set-cookie: "; "). */
  headers: Record<string, string>;
  body: string;
}

/** The JSON the default handler answers with. */
export interface UpstreamEcho {
  service: string;
  version: string;
  path: string;
  method: string;
  headers: Record<string, string>;
}

/** Answers a request (node's `ServerResponse`); replaces the default echo when given to `startUpstream`. */
export type UpstreamHandler = (request: RecordedRequest, response: ServerResponse, upstream: UpstreamIdentity) => void | Promise<void>;

/** Scripts a request: answer it yourself, or call `next()` for the upstream's normal handler. */
export type UpstreamBehaviour = (request: RecordedRequest, response: ServerResponse, next: () => Promise<void>) => void | Promise<void>;

export interface UpstreamIdentity {
  name: string;
  version: string;
}

export interface StartUpstreamOptions {
  name: string;
  version?: string;
  /** Replaces the default JSON echo handler. */
  handler?: UpstreamHandler;
  /** Default 0 (any free port). */
  port?: number;
}

export interface Upstream extends UpstreamIdentity {
  /** `http://127.0.0.1:<port>` */
  url: string;
  host: "127.0.0.1";
  port: number;
  /** Every request received, in arrival order (including ones answered by a failure). */
  readonly requests: RecordedRequest[];
  /** TCP connections accepted so far (a connection that never sends a request shows only here). */
  connections(): number;
  /** Scripts the following requests; `null` restores the default handler. */
  setBehaviour(behaviour: UpstreamBehaviour | null): void;
  /** The next `times` requests get `status` (body `upstream <name> failing`), then normal answers. */
  failTimes(times: number, status?: number): void;
  /** Every request is answered normally after `ms` milliseconds (for timeouts). */
  delayMs(ms: number): void;
  /** Every request gets this answer. An object body is sent as JSON. */
  respondWith(status: number, body?: string | object, headers?: Record<string, string>): void;
  /** The next `times` requests have their connection destroyed without an answer (a reset). */
  resetTimes(times?: number): void;
  /** Clears the recorded requests and restores the default behaviour. */
  reset(): void;
  /** Stops listening and destroys every open connection (never waits for keep-alive clients). */
  close(): Promise<void>;
}

/** Destroys the connection a response belongs to: the client sees a reset / empty reply. */
export function destroyConnection(response: ServerResponse): void {
  // RST rather than FIN, so the client sees a reset, not a clean close.
  response.socket?.resetAndDestroy();
}

export const defaultUpstreamHandler: UpstreamHandler = (request, response, upstream) => {
  const echo: UpstreamEcho = {
    service: upstream.name,
    version: upstream.version,
    path: request.path,
    method: request.method,
    headers: request.headers,
  };
  sendJson(response, 200, echo);
};

export async function startUpstream(options: StartUpstreamOptions): Promise<Upstream> {
  const identity: UpstreamIdentity = { name: options.name, version: options.version ?? "v1" };
  const handler = options.handler ?? defaultUpstreamHandler;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const closing = new AbortController();
  let behaviour: UpstreamBehaviour | null = null;

  const server = http.createServer({ keepAlive: true }, (incoming, response) => {
    void handle(incoming, response).catch((error: unknown) => {
      if (!response.headersSent) sendText(response, 500, `upstream ${identity.name} handler failed: ${String(error)}`);
      else response.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  let connections = 0;
  server.on("connection", (socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function handle(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const request = await record(incoming);
    requests.push(request);
    const next = async () => {
      if (!response.writableEnded && !response.destroyed) await handler(request, response, identity);
    };
    if (behaviour) await behaviour(request, response, next);
    else await next();
  }

  const port = await listen(server, options.port ?? 0);
  const url = `http://127.0.0.1:${port}`;

  const upstream: Upstream = {
    ...identity,
    url,
    host: "127.0.0.1",
    port,
    requests,
    connections: () => connections,
    setBehaviour(next) {
      behaviour = next;
    },
    failTimes(times, status = 503) {
      let remaining = times;
      behaviour = async (_request, response, next) => {
        if (remaining > 0) {
          remaining--;
          sendText(response, status, `upstream ${identity.name} failing`);
        } else await next();
      };
    },
    delayMs(ms) {
      behaviour = async (_request, _response, next) => {
        await sleep(ms, closing.signal);
        await next();
      };
    },
    respondWith(status, body = "", headers = {}) {
      behaviour = (_request, response) => {
        if (typeof body === "string") sendText(response, status, body, headers);
        else sendJson(response, status, body, headers);
      };
    },
    resetTimes(times = 1) {
      let remaining = times;
      behaviour = async (_request, response, next) => {
        if (remaining > 0) {
          remaining--;
          destroyConnection(response);
        } else await next();
      };
    },
    reset() {
      requests.length = 0;
      behaviour = null;
    },
    async close() {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  return upstream;
}

/** A port on 127.0.0.1 with nothing listening (bound once, then released): connections are refused. */
export async function startClosedPort(): Promise<{ port: number; url: string }> {
  const server = http.createServer();
  const port = await listen(server, 0);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { port, url: `http://127.0.0.1:${port}` };
}

/** A free TCP port on 127.0.0.1 (for processes that need a fixed port number up front). */
export async function freePort(): Promise<number> {
  return (await startClosedPort()).port;
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function record(incoming: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const headers: Record<string, string> = {};
  for (let index = 0; index < incoming.rawHeaders.length; index += 2) {
    const name = incoming.rawHeaders[index]!.toLowerCase();
    const value = incoming.rawHeaders[index + 1]!;
    headers[name] = name in headers ? `${headers[name]}${name === "set-cookie" ? "; " : ", "}${value}` : value;
  }
  return { method: incoming.method ?? "GET", path: incoming.url ?? "/", headers, body: Buffer.concat(chunks).toString("utf8") };
}

function sendJson(response: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (response.destroyed) return;
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(value));
}

function sendText(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (response.destroyed) return;
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  response.end(body);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

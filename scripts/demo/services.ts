import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * Bookinfo-like backends for `npm start`, on 127.0.0.1 ports 9080-9086 that examples/bookinfo.yaml
 * names as ServiceEntry endpoints (DEMO_PORT_BASE moves them together: `npm start` then rewrites
 * the demo config's endpoint ports to follow, see `rebaseDemoPorts`). Each answers JSON saying
 * which service and version answered, so routing, weights and subsets are visible from curl.
 * `flaky` fails 2 requests in 3 with a 503, so the gateway's retries are visible too (hit it
 * directly to see the failures).
 *
 * `partner-api` (127.0.0.1:9087, i.e. base + 7, `partnerStandIn`) stands in for an external API,
 * `api.partner.test`, that mesh services reach only through the egress gateway: it says whether
 * the request carried the credential it expects (`authorized`), never the credential itself,
 * and who the egress says called (the subject of the `x-jwt-svid` token the egress mints, if any).
 */

export interface DemoServiceSpec {
  name: string;
  version: string;
  port: number;
  /** What the service adds to its answer. */
  body?: (path: string, headers: IncomingHttpHeaders) => Record<string, unknown>;
  /** Answers every request whose 1-based number this returns true for with a 503. */
  failWhen?: (requestNumber: number) => boolean;
}

export interface DemoService {
  name: string;
  version: string;
  url: string;
}

export interface RunningDemo {
  services: DemoService[];
  close(): Promise<void>;
}

const STARS = { v1: undefined, v2: { color: "black", stars: 4 }, v3: { color: "red", stars: 4 } } as const;

/** The demo's first port; the services take base..base+6 and the partner stand-in base+7. */
export const DEFAULT_DEMO_PORT_BASE = 9080;
/** How many ports the demo takes from its base (the seven services and the partner stand-in). */
export const DEMO_PORT_COUNT = 8;

/** The demo services on base..base+6 (default 9080-9086). */
export function demoServices(base = DEFAULT_DEMO_PORT_BASE): DemoServiceSpec[] {
  return [
    { name: "productpage", version: "v1", port: base, body: () => ({ title: "The Comedy of Errors", by: "William Shakespeare" }) },
    ...(["v1", "v2", "v3"] as const).map((version, index) => ({
      name: "reviews",
      version,
      port: base + 1 + index,
      body: () => ({ reviews: [{ reviewer: "Reviewer1", text: "An extremely entertaining play by Shakespeare.", rating: STARS[version] ?? null }] }),
    })),
    { name: "ratings", version: "v1", port: base + 4, body: () => ({ ratings: { Reviewer1: 5, Reviewer2: 4 } }) },
    { name: "details", version: "v1", port: base + 5, body: () => ({ type: "paperback", pages: 200, publisher: "PublisherA", language: "English" }) },
    { name: "flaky", version: "v1", port: base + 6, failWhen: (requestNumber) => requestNumber % 3 !== 0 },
  ];
}

export const DEMO_SERVICES: readonly DemoServiceSpec[] = demoServices();

export const PARTNER_STAND_IN_PORT = DEFAULT_DEMO_PORT_BASE + 7;

/**
 * DEMO_PORT_BASE from the environment: undefined or empty gives the default (9080); anything
 * else must leave room for the demo's eight ports below 65536, or this returns an error message.
 */
export function parseDemoPortBase(value: string | undefined): { base: number } | { error: string } {
  if (value === undefined || value.trim() === "") return { base: DEFAULT_DEMO_PORT_BASE };
  const base = Number(value);
  const highest = 65535 - (DEMO_PORT_COUNT - 1);
  if (!Number.isInteger(base) || base < 1 || base > highest) return { error: `DEMO_PORT_BASE must be a port number 1..${highest} (the demo takes it and the next ${DEMO_PORT_COUNT - 1}; got '${value}')` };
  return { base };
}

/**
 * The demo config's text with its endpoint ports moved from the default base to `base`: every
 * endpoint port map `ports: { http: N }` with N in 9080..9087 becomes `base + (N - 9080)`.
 * Service ports (`- { number: 9080, ... }`) are what callers address and stay as they are.
 * Only for the shipped demo config (examples/bookinfo.yaml, examples/egress.yaml), whose
 * endpoints are these demo services.
 */
export function rebaseDemoPorts(configText: string, base: number): string {
  if (base === DEFAULT_DEMO_PORT_BASE) return configText;
  return configText.replace(/(\bports:\s*\{\s*http:\s*)(\d+)(\s*\})/g, (whole, before: string, port: string, after: string) => {
    const offset = Number(port) - DEFAULT_DEMO_PORT_BASE;
    return offset >= 0 && offset < DEMO_PORT_COUNT ? `${before}${base + offset}${after}` : whole;
  });
}

/** The external host the partner stand-in plays (examples/bookinfo.yaml's MESH_EXTERNAL ServiceEntry). */
export const PARTNER_HOST = "api.partner.test";
/** The header in which the egress sends the caller's minted JWT-SVID (EgressCredential workloadIdentity's default). */
export const CALLER_JWT_SVID_HEADER = "x-jwt-svid";

/**
 * The stand-in for api.partner.test: answers `authorized: true` only when `Authorization` is
 * exactly `expectedAuthorization` (e.g. `Bearer <PARTNER_API_KEY>`). It never echoes the header's
 * value: only whether one came and whether it was the right one.
 */
export function partnerStandIn(expectedAuthorization: string, port = PARTNER_STAND_IN_PORT): DemoServiceSpec {
  return {
    name: "partner-api",
    version: "stand-in",
    port,
    body: (_path, headers) => ({
      external: PARTNER_HOST,
      authorization: headers.authorization === undefined ? "absent" : "present",
      authorized: headers.authorization === expectedAuthorization,
      caller: jwtSubject(headers[CALLER_JWT_SVID_HEADER]),
    }),
  };
}

/** The unverified `sub` of a JWT (what an external API would verify against the mesh's bundle), or null. */
function jwtSubject(value: string | string[] | undefined): string | null {
  if (typeof value !== "string") return null;
  try {
    const payload = JSON.parse(Buffer.from(value.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: unknown };
    return typeof payload.sub === "string" ? payload.sub : null;
  } catch {
    return null;
  }
}

/** Starts the demo services; if one cannot listen (port taken), closes the others and throws. */
export async function startDemoServices(specs: readonly DemoServiceSpec[] = DEMO_SERVICES, host = "127.0.0.1"): Promise<RunningDemo> {
  const running: { service: DemoService; close: () => Promise<void> }[] = [];
  const closeAll = async () => {
    await Promise.all(running.splice(0).map((entry) => entry.close()));
  };
  try {
    for (const spec of specs) running.push(await startDemoService(spec, host));
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { services: running.map((entry) => entry.service), close: closeAll };
}

async function startDemoService(spec: DemoServiceSpec, host: string): Promise<{ service: DemoService; close: () => Promise<void> }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      requests++;
      const path = request.url ?? "/";
      const identity = { service: spec.name, version: spec.version };
      if (spec.failWhen?.(requests)) {
        response.writeHead(503, { "content-type": "application/json" });
        response.end(JSON.stringify({ ...identity, error: `${spec.name} failed request #${requests} on purpose`, path }));
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          ...identity,
          path,
          method: request.method,
          host: request.headers.host,
          ...(spec.failWhen ? { request: requests } : {}),
          ...spec.body?.(path, request.headers),
        }),
      );
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(`demo service ${spec.name} ${spec.version}: port ${host}:${spec.port} is already in use (is another \`npm start\` running? set DEMO_PORT_BASE to move the demo services, or use --no-demo to skip them)`)
          : error,
      ),
    );
    server.listen(spec.port, host, () => resolve((server.address() as AddressInfo).port));
  });
  return {
    service: { name: spec.name, version: spec.version, url: `http://${host}:${port}` },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

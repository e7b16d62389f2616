/**
 * The Istio configs the bench routes with, generated as the plain objects a user would write in
 * YAML (so they go through the same validation and compiler as any config).
 *
 * `gateway-full` uses `meshConfig({ hosts: 100, routesPerHost: 10 })`: one Gateway for
 * `*.bench.local`, and per host a ServiceEntry, a DestinationRule with subsets v1/v2 and a
 * VirtualService of 10 routes, 1,000 routes in all. Every route of a host matches the same path
 * prefix and tells itself apart by a header, so the path index cannot narrow them down and the
 * matcher really walks the list; each splits 90/10 between the subsets with retries, per-try and
 * route timeouts armed, and sets a request header naming itself (the bench checks it arrived).
 * One route per host (the second to last) injects a fault for `x-chaos: on`, which the measured
 * request does not send. The measured request matches the last route of a host three quarters of
 * the way down, by header and path.
 *
 * The micro-benchmarks reuse the generator with other sizes and shapes.
 */

export const BENCH_NAMESPACE = "bench";
export const GATEWAY_DOMAIN = "bench.local";
export const SERVICE_DOMAIN = "bench.internal";
/** The request header every generated route sets upstream to its own name. */
export const ROUTE_MARK_HEADER = "x-bench-route";

export interface MeshShape {
  /** VirtualServices, one host each. */
  hosts: number;
  routesPerHost: number;
  /**
   * How the routes of one host differ: `header` (same `/api/` prefix, `x-tenant` header: the
   * path index cannot help, the matcher scans) or `path` (a distinct prefix each: the index finds
   * the route directly).
   */
  distinguishBy?: "header" | "path";
  /** Where every endpoint points (the bench's upstream). */
  upstreamPort: number;
  upstreamAddress?: string;
}

/** A request the bench sends, as host + path + headers (the gateway sees Host as its authority). */
export interface BenchRequest {
  host: string;
  path: string;
  headers: Record<string, string>;
  /** The route it must match (the generated name), or undefined when it must match none. */
  expectRoute: string | undefined;
}

export type RawResource = Record<string, unknown>;

const pad = (value: number, width: number) => String(value).padStart(width, "0");

export function hostName(index: number, shape: MeshShape): string {
  return `svc-${pad(index, String(Math.max(shape.hosts - 1, 1)).length)}`;
}

export function routeName(host: number, route: number, shape: MeshShape): string {
  return `${hostName(host, shape)}-r${pad(route, String(Math.max(shape.routesPerHost - 1, 1)).length)}`;
}

/** Position of the fault route in each host (none when a host has a single route). */
function faultPosition(shape: MeshShape): number {
  return shape.routesPerHost >= 2 ? shape.routesPerHost - 2 : -1;
}

export function meshConfig(shape: MeshShape): RawResource[] {
  const address = shape.upstreamAddress ?? "127.0.0.1";
  const resources: RawResource[] = [
    {
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "ingress", namespace: BENCH_NAMESPACE },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [`*.${GATEWAY_DOMAIN}`] }],
      },
    },
  ];
  for (let host = 0; host < shape.hosts; host++) {
    const name = hostName(host, shape);
    const service = `${name}.${SERVICE_DOMAIN}`;
    resources.push(
      {
        apiVersion: "networking.istio.io/v1",
        kind: "ServiceEntry",
        metadata: { name, namespace: BENCH_NAMESPACE },
        spec: {
          hosts: [service],
          location: "MESH_INTERNAL",
          resolution: "STATIC",
          ports: [{ number: 80, name: "http", protocol: "HTTP" }],
          endpoints: [
            { address, ports: { http: shape.upstreamPort }, labels: { version: "v1" } },
            { address, ports: { http: shape.upstreamPort }, labels: { version: "v2" } },
          ],
        },
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "DestinationRule",
        metadata: { name, namespace: BENCH_NAMESPACE },
        spec: {
          host: service,
          trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } },
          subsets: [
            { name: "v1", labels: { version: "v1" } },
            { name: "v2", labels: { version: "v2" } },
          ],
        },
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name, namespace: BENCH_NAMESPACE },
        spec: {
          hosts: [`${name}.${GATEWAY_DOMAIN}`],
          gateways: ["ingress"],
          http: Array.from({ length: shape.routesPerHost }, (_, route) => httpRoute(host, route, shape, service)),
        },
      },
    );
  }
  return resources;
}

function httpRoute(host: number, route: number, shape: MeshShape, service: string): RawResource {
  const name = routeName(host, route, shape);
  const headers = { request: { set: { [ROUTE_MARK_HEADER]: name } } };
  if (route === faultPosition(shape)) {
    return {
      name,
      match: [{ headers: { "x-chaos": { exact: "on" } } }],
      fault: { abort: { httpStatus: 503, percentage: { value: 100 } } },
      route: [{ destination: { host: service, subset: "v1" } }],
      headers,
    };
  }
  const match =
    (shape.distinguishBy ?? "header") === "header"
      ? { uri: { prefix: "/api/" }, headers: { "x-tenant": { exact: `tenant-${route}` } } }
      : { uri: { prefix: `/r${route}/` } };
  return {
    name,
    match: [match],
    route: [
      { destination: { host: service, subset: "v1" }, weight: 90 },
      { destination: { host: service, subset: "v2" }, weight: 10 },
    ],
    timeout: "10s",
    retries: { attempts: 2, perTryTimeout: "5s", retryOn: "5xx,reset,connect-failure" },
    headers,
  };
}

/** The request that matches route `route` of host `host` (the last route when omitted). */
export function requestFor(shape: MeshShape, host: number, route = lastMatchableRoute(shape)): BenchRequest {
  const header = (shape.distinguishBy ?? "header") === "header";
  return {
    host: `${hostName(host, shape)}.${GATEWAY_DOMAIN}`,
    path: header ? "/api/items/42" : `/r${route}/items/42`,
    headers: header ? { "x-tenant": `tenant-${route}` } : {},
    expectRoute: routeName(host, route, shape),
  };
}

/** A request for a served host that no route matches (after every candidate route was tried). */
export function unmatchedRequest(shape: MeshShape, host: number): BenchRequest {
  const header = (shape.distinguishBy ?? "header") === "header";
  return {
    host: `${hostName(host, shape)}.${GATEWAY_DOMAIN}`,
    path: header ? "/api/items/42" : "/r-none/items/42",
    headers: header ? { "x-tenant": "tenant-none" } : {},
    expectRoute: undefined,
  };
}

export function lastMatchableRoute(shape: MeshShape): number {
  const last = shape.routesPerHost - 1;
  return last === faultPosition(shape) ? last - 1 : last;
}

/** gateway-full: 1,000 routes over 100 hosts. */
export const FULL_SHAPE = { hosts: 100, routesPerHost: 10, distinguishBy: "header" } as const;

/** The measured request of gateway-full: the last route of host 75 of 100, with a trace to continue. */
export function fullRequest(upstreamPort: number): BenchRequest {
  const request = requestFor({ ...FULL_SHAPE, upstreamPort }, Math.floor((FULL_SHAPE.hosts * 3) / 4));
  return { ...request, headers: { ...request.headers, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } };
}

/** gateway-minimal: one host, one route, one destination. */
export function minimalConfig(upstreamPort: number): RawResource[] {
  return [
    {
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "ingress", namespace: BENCH_NAMESPACE },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [`*.${GATEWAY_DOMAIN}`] }],
      },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "ServiceEntry",
      metadata: { name: "echo", namespace: BENCH_NAMESPACE },
      spec: {
        hosts: [`echo.${SERVICE_DOMAIN}`],
        location: "MESH_INTERNAL",
        resolution: "STATIC",
        ports: [{ number: 80, name: "http", protocol: "HTTP" }],
        endpoints: [{ address: "127.0.0.1", ports: { http: upstreamPort } }],
      },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "echo", namespace: BENCH_NAMESPACE },
      spec: {
        hosts: [`echo.${GATEWAY_DOMAIN}`],
        gateways: ["ingress"],
        http: [{ name: "echo", route: [{ destination: { host: `echo.${SERVICE_DOMAIN}` } }] }],
      },
    },
  ];
}

export function minimalRequest(): BenchRequest {
  return { host: `echo.${GATEWAY_DOMAIN}`, path: "/api/items/42", headers: {}, expectRoute: "echo" };
}

import type { Context } from "hono";
import { endpointKey } from "../../policies/resilience/endpoint-key.js";
import type { Cluster } from "../../policies/snapshot/schema.js";
import type { DestinationFacts, RequestFacts } from "../../policies/telemetry/istio-metrics.js";
import type { GatewayEnv } from "../context.js";

/**
 * What the gateway knows about a finished request, in the terms Istio's metrics use, read from
 * the stream record and the request's context once the response is known.
 */
export function requestFacts(c: Context<GatewayEnv>): RequestFacts {
  const stream = c.get("stream");
  const grpc = (c.req.header("content-type") ?? "").startsWith("application/grpc");
  const grpcStatus = c.res.headers.get("grpc-status");
  const destination = destinationFacts(c);
  return {
    responseCode: c.res.status,
    responseFlags: stream.flags,
    requestProtocol: grpc ? "grpc" : "http",
    ...(grpc && grpcStatus !== null ? { grpcStatus } : {}),
    ...(destination ? { destination } : {}),
  };
}

/**
 * The service the request was for. When a stage refused it before a destination was drawn (a
 * fault, a denial), the route still names its service if all its destinations are one host,
 * as Envoy's stats know the route's cluster before any filter runs.
 */
export function destinationFacts(c: Context<GatewayEnv>): DestinationFacts | undefined {
  const picked = c.get("destination")?.cluster.cluster;
  if (picked) return clusterFacts(picked, c.get("stream").upstreamHost);
  const action = c.get("route")?.route.action;
  if (action?.type !== "forward") return undefined;
  const clusters = action.destinations.map((destination) => c.get("config")?.clusters.get(destination.cluster)?.cluster);
  const first = clusters[0];
  if (!first || clusters.some((cluster) => cluster?.host !== first.host)) return undefined;
  const sameSubset = clusters.every((cluster) => cluster?.subset === first.subset);
  return { host: first.host, namespace: namespaceOf(first), ...(sameSubset && first.subset !== undefined ? { subset: first.subset } : {}) };
}

export function clusterFacts(cluster: Cluster, upstreamHost: string | undefined): DestinationFacts {
  const endpoint = upstreamHost !== undefined ? cluster.endpoints.find((candidate) => endpointKey(candidate) === upstreamHost) : undefined;
  return {
    // A wildcard's per-host cluster is labelled by the wildcard: the host is the caller's choice.
    host: cluster.labelHost ?? cluster.host,
    namespace: namespaceOf(cluster),
    ...(cluster.subset !== undefined ? { subset: cluster.subset } : {}),
    ...(endpoint ? { workload: { labels: endpoint.labels, ...(endpoint.labels["service.istio.io/workload-name"] ? { workload: endpoint.labels["service.istio.io/workload-name"] } : {}) } } : {}),
  };
}

/** The namespace of the ServiceEntry (`namespace/name`) that declares the cluster's host. */
function namespaceOf(cluster: Cluster): string {
  const slash = cluster.serviceEntry.indexOf("/");
  return slash > 0 ? cluster.serviceEntry.slice(0, slash) : "unknown";
}

/** The request body's size: the buffered bytes when the gateway buffered it (a chunked body too), else its Content-Length (0 without one). */
export function requestBodyBytes(c: Context<GatewayEnv>): number {
  const body = c.get("body");
  if (body?.kind === "buffered") return body.bytes.byteLength;
  const declared = Number(c.req.header("content-length") ?? 0);
  return Number.isFinite(declared) && declared > 0 ? declared : 0;
}

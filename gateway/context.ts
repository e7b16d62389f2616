import type { RouteMatch, RoutingTable } from "../policies/routing/match-route.js";
import type { RequestView } from "../policies/routing/request-view.js";
import type { WeightedDestination } from "../policies/snapshot/schema.js";
import type { ClusterState, ClusterStates } from "./upstream/cluster-state.js";
import type { GatewayBindings, GatewaySettings } from "./env.js";
import type { ResponseFlag } from "./errors.js";
import type { GatewayTelemetry } from "./telemetry/gateway-telemetry.js";
import type { RequestIdentity } from "./security/identity.js";

/** Everything the stages share about one request; the access log reads it once at the end. */
export interface StreamInfo {
  startMs: number;
  requestId: string;
  traceId: string;
  spanId: string;
  flags: ResponseFlag[];
  detail?: string;
  routeName?: string;
  cluster?: string;
  upstreamHost?: string;
  attempts: number;
  upstreamServiceTimeMs?: number;
  configVersion?: string;
  /** The verified peer identity (SPIFFE ID), when the caller proved one. */
  peerPrincipal?: string;
  /** The verified end-user principal (`iss/sub` of a request JWT). */
  requestPrincipal?: string;
  /** How the peer was authenticated: `mtls` (platform), `xfcc` (trusted front proxy), `jwt-svid`, `service-binding` (ctx.props), or none. */
  peerAuthentication?: "mtls" | "xfcc" | "jwt-svid" | "service-binding";
  /** The EgressCredential (`namespace/name`) whose credentials the egress added to the call. */
  egressCredential?: string;
  /** The authorization decision and the policy that made it (`namespace/name`), for logs and metrics only. */
  authzDecision?: "allow" | "deny" | "audit";
  authzPolicy?: string;
  /** AUDIT policies that matched (`namespace/name`, comma-separated). */
  authzAudit?: string;
  /** What dry-run (`istio.io/dry-run`) policies would have decided, and which one. */
  authzDryRunDecision?: "allow" | "deny";
  authzDryRunPolicy?: string;
  /** The caller's span (parent of the gateway's), its trace state and header format, and the sampling decision. */
  parentSpanId?: string;
  traceState?: string;
  traceFormat?: "w3c" | "b3" | "b3-single";
  traceSampled?: boolean;
  /** Each try at the upstream, in order, for per-attempt spans and the destination-side metrics. */
  attemptLog?: UpstreamAttempt[];
}

export interface UpstreamAttempt {
  /** The attempt's client span; the upstream sees it as its parent. */
  spanId: string;
  upstreamHost: string;
  startMs: number;
  endMs?: number;
  outcome?: "response" | "connect-failure" | "per-try-timeout" | "route-timeout";
  status?: number;
  /** The answer's declared length, when it had one. */
  responseBytes?: number;
}

export interface LoadedConfig {
  table: RoutingTable;
  clusters: ClusterStates;
}

export type GatewayEnv = {
  Bindings: GatewayBindings;
  Variables: {
    settings: GatewaySettings;
    stream: StreamInfo;
    config: LoadedConfig;
    request: RequestView;
    route: RouteMatch;
    /** The request body, buffered when small enough to replay for retries and mirrors. */
    body: RequestBody;
    random: () => number;
    /** The destination picked by weight (routes that forward only). */
    destination: { weighted: WeightedDestination; cluster: ClusterState };
    /** The request as it will be sent upstream; stages rewrite it on the way in. */
    outbound: OutboundRequest;
    /** The isolate's metrics and span exporter, set by the telemetry stages (absent when they are not installed). */
    telemetry: GatewayTelemetry | undefined;
    /** Who the caller is, as the security stages establish it (identity-sanitize creates it). */
    identity: RequestIdentity;
  };
};

export interface OutboundRequest {
  method: string;
  /** Path and query string. */
  pathAndQuery: string;
  authority: string;
  headers: Headers;
}

export type RequestBody =
  | { kind: "none" }
  | { kind: "buffered"; bytes: ArrayBuffer }
  | { kind: "stream"; stream: ReadableStream<Uint8Array> };

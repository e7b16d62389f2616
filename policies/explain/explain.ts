import { createLoadBalancer, hashKeyFor } from "../resilience/load-balancer.js";
import { endpointWeight } from "../resilience/endpoint-weight.js";
import { createRoutingTable, matchInVirtualHost, resolveVirtualHost, type RoutingTable } from "../routing/match-route.js";
import type { RequestView } from "../routing/request-view.js";
import { hostMatchesPattern, lookupHost } from "../snapshot/hosts.js";
import type { Cluster, CompiledRoute, Snapshot, VirtualHost } from "../snapshot/schema.js";
import { firstFailedCondition } from "./conditions.js";
import { buildRequestView } from "./request.js";
import {
  ExplainRequestInput,
  type ExplainedDestination,
  type Explanation,
  type GatewayVerdict,
  type Outcome,
  type RouteAnswer,
  type RouteVerdict,
} from "./schema.js";

/**
 * `explain`: the answer to "why did I get a 404/503". For one described request and one
 * snapshot, which Gateway accepted the host, which VirtualService and route matched (and, for
 * every route tried before it, the first condition that failed), which destinations and
 * endpoints can be chosen with what probability, and which faults, retries, timeouts and mirrors
 * apply. Pure: the same snapshot and request always give the same explanation; the route chosen
 * is the one `matchInVirtualHost` chooses, the very function the gateway runs.
 */

export interface ExplainOptions {
  /** The gateway workload's labels (its MESH_GATEWAY_LABELS); default `istio=ingressgateway`. */
  labels?: Readonly<Record<string, string>>;
}

export class ExplainInputError extends Error {
  readonly code = "ERR_EXPLAIN_INPUT";
  constructor(message: string) {
    super(message);
    this.name = "ExplainInputError";
  }
}

export const DEFAULT_GATEWAY_LABELS: Readonly<Record<string, string>> = { istio: "ingressgateway" };
const MESH_PREFIX = "/__mesh/";

export function explainRequest(snapshot: Snapshot, input: ExplainRequestInput, options: ExplainOptions = {}): Explanation {
  const parsed = ExplainRequestInput.safeParse(input);
  if (!parsed.success) throw new ExplainInputError(parsed.error.issues.map((issue) => `${issue.path.join(".") || "request"}: ${issue.message}`).join("; "));
  const built = buildRequestView(parsed.data);
  if (!built.ok) throw new ExplainInputError(built.message);
  const request = built.view;
  const labels = options.labels ?? DEFAULT_GATEWAY_LABELS;
  const table = createRoutingTable(snapshot, labels);

  const explanation: Explanation = {
    version: snapshot.version,
    request: { method: request.method, host: request.host, authority: request.authority, path: request.path, scheme: request.scheme, port: request.port },
    gatewayLabels: { ...labels },
    gateways: snapshot.gateways.map((gateway) => gatewayVerdict(table, gateway.name, request.host)),
    gateway: null,
    virtualService: null,
    routes: [],
    route: null,
    action: null,
    timeoutMs: null,
    retries: null,
    fault: null,
    mirror: null,
    rewrite: null,
    headers: null,
    cors: false,
    outcomes: [],
    peer: parsed.data.peer
      ? {
          principal: parsed.data.peer.principal,
          note: "explain covers routing only: the peer identity does not change routing, and authentication and authorization (401/403) are not evaluated here",
        }
      : null,
    notes: [],
  };

  if (request.path.startsWith(MESH_PREFIX)) {
    explanation.outcomes.push({ status: null, flag: null, probability: 1, description: `${MESH_PREFIX} is the gateway's own prefix (health and diagnostics): answered by the gateway, never routed` });
    return explanation;
  }
  if (table.gateways.length === 0) {
    explanation.notes.push(`no Gateway's selector matches the gateway labels ${formatLabels(labels)}`);
  }

  const resolved = resolveVirtualHost(table, request.host);
  if (resolved.kind === "no-gateway") {
    return noRoute(explanation, "no_gateway_for_host", `no Gateway server accepts host '${request.host}'`);
  }
  explanation.gateway = resolved.gateway.name;
  if (resolved.kind === "no-virtual-host") {
    return noRoute(explanation, "no_virtual_host", `no VirtualService on Gateway ${resolved.gateway.name} serves host '${request.host}'`);
  }
  const virtualHost = resolved.virtualHost;
  explanation.virtualService = virtualHost.virtualService;

  const matched = matchInVirtualHost(table, resolved.gateway, virtualHost, request);
  explanation.routes = routeVerdicts(table, resolved.gateway.name, virtualHost, request, matched?.route);
  if (!matched) {
    return noRoute(explanation, "route_not_found", `no route of VirtualService ${virtualHost.virtualService} matches ${request.method} ${request.path}`);
  }

  const route = matched.route;
  explanation.route = route.name;
  explanation.timeoutMs = route.timeoutMs ?? null;
  explanation.retries = route.retries;
  explanation.fault = route.fault ?? null;
  explanation.mirror = route.mirror ? { cluster: route.mirror.cluster, probability: clampPercent(route.mirror.percent) } : null;
  explanation.rewrite = route.rewrite ?? null;
  explanation.headers = route.headers ?? null;
  explanation.cors = route.cors !== undefined;
  explanation.action = routeAnswer(snapshot, route, request, built.headers, built.search);
  if (route.retries === null) explanation.notes.push(route.fault ? "no retries: a route with a fault injects it instead (as in Istio)" : "no retries: retries.attempts is 0");
  if (route.timeoutMs === undefined) explanation.notes.push(route.fault ? "no timeout: a route with a fault has none (as in Istio)" : "no route timeout (Istio's default)");
  const isPreflight = request.method === "OPTIONS" && request.header("origin") !== null && request.header("access-control-request-method") !== null;
  if (route.cors && isPreflight) explanation.notes.push("a CORS preflight from an allowed origin is answered by the gateway itself (corsPolicy)");
  explanation.outcomes = outcomesOf(route, explanation.action);
  return explanation;
}

function gatewayVerdict(table: RoutingTable, name: string, host: string): GatewayVerdict {
  const gateway = table.snapshot.gateways.find((candidate) => candidate.name === name)!;
  const selected = table.gateways.includes(gateway);
  const acceptsHost = gateway.serverHosts.some((pattern) => hostMatchesPattern(host, pattern));
  const id = acceptsHost ? lookupHost(gateway.virtualHosts, host) : undefined;
  return {
    name,
    selected,
    selector: gateway.selector,
    serverHosts: gateway.serverHosts,
    acceptsHost,
    virtualService: id !== undefined ? table.snapshot.virtualHosts[id]!.virtualService : null,
  };
}

function routeVerdicts(table: RoutingTable, gatewayName: string, virtualHost: VirtualHost, request: RequestView, matched: CompiledRoute | undefined): RouteVerdict[] {
  const verdicts: RouteVerdict[] = [];
  let reached = true;
  virtualHost.routes.forEach((routeId, position) => {
    const route = table.snapshot.routes[routeId]!;
    if (!reached) {
      verdicts.push({ position, name: route.name, verdict: "not_reached", failed: [] });
      return;
    }
    if (route === matched) {
      const matchedBy = route.matches.findIndex((match, index) => firstFailedCondition(match, index, request, gatewayName, table.regexes) === undefined);
      verdicts.push({ position, name: route.name, verdict: "matched", matchedBy: route.matches.length === 0 ? null : matchedBy, failed: [] });
      reached = false;
      return;
    }
    const failed = route.matches.flatMap((match, index) => firstFailedCondition(match, index, request, gatewayName, table.regexes) ?? []);
    verdicts.push({ position, name: route.name, verdict: "no_match", failed });
  });
  return verdicts;
}

function routeAnswer(snapshot: Snapshot, route: CompiledRoute, request: RequestView, headers: Map<string, string>, search: string): RouteAnswer {
  const action = route.action;
  if (action.type === "redirect") {
    const scheme = action.scheme ?? request.scheme;
    let host = action.authority ?? request.authority.replace(/:\d+$/, "");
    const requestPort = /:(\d+)$/.exec(request.authority)?.[1];
    if (action.port !== undefined) host = `${host.replace(/:\d+$/, "")}:${action.port}`;
    else if (action.derivePort === "FROM_REQUEST_PORT" && requestPort !== undefined) host = `${host}:${requestPort}`;
    else if (action.authority === undefined && action.derivePort === undefined && requestPort !== undefined && action.scheme === undefined) host = `${host}:${requestPort}`;
    // Envoy's path_redirect: a query string in the new path replaces the request's; otherwise it is kept.
    const path = action.uri ?? request.path;
    return { type: "redirect", code: action.code, location: `${scheme}://${host}${path.includes("?") ? path : path + search}` };
  }
  if (action.type === "direct") {
    return { type: "direct", status: action.status, bodyBytes: action.bodyBase64 !== undefined ? base64Length(action.bodyBase64) : 0 };
  }
  const destinations: ExplainedDestination[] = action.destinations.map((destination) => {
    const probability = action.destinations.length === 1 ? 1 : destination.weight > 0 && action.totalWeight > 0 ? destination.weight / action.totalWeight : 0;
    const cluster = snapshot.clusters[destination.cluster];
    const base = { cluster: destination.cluster, weight: destination.weight, probability, ...(destination.headers ? { headers: destination.headers } : {}) };
    if (!cluster) {
      return { ...base, host: null, subset: null, port: null, loadBalancer: null, balancing: "cluster missing from the snapshot", endpoints: [], outlierDetection: null };
    }
    return { ...base, host: cluster.host, subset: cluster.subset ?? null, port: cluster.port, loadBalancer: cluster.loadBalancer, outlierDetection: cluster.outlierDetection, ...endpointsOf(cluster, request, headers) };
  });
  return { type: "forward", totalWeight: action.totalWeight, destinations };
}

function endpointsOf(cluster: Cluster, request: RequestView, headers: Map<string, string>): Pick<ExplainedDestination, "balancing" | "endpoints"> {
  const total = cluster.endpoints.reduce((sum, endpoint) => sum + endpointWeight(endpoint), 0);
  const share = cluster.endpoints.map((endpoint) => ({ ...endpoint, probability: total > 0 ? endpointWeight(endpoint) / total : 0 }));
  const policy = cluster.loadBalancer;
  if (cluster.endpoints.length === 0) return { balancing: "no endpoints", endpoints: [] };
  if (policy.type === "consistent_hash") {
    const on = policy.header !== undefined ? `header '${policy.header}'` : policy.cookie ? `cookie '${policy.cookie.name}'` : policy.queryParameter !== undefined ? `query parameter '${policy.queryParameter}'` : "source IP";
    const key = hashKeyFor(policy, {
      header: (name) => request.header(name),
      query: (name) => request.query(name),
      cookie: (name) => cookieValue(headers.get("cookie"), name),
      sourceIp: headers.get("cf-connecting-ip") ?? null,
    });
    if (key === undefined) {
      return { balancing: `consistent hash on ${on}, which the request lacks: weighted random`, endpoints: share };
    }
    const chosen = createLoadBalancer(policy).pick(cluster.endpoints, { random: () => 0, hashKey: key });
    return {
      balancing: `consistent hash on ${on} = ${JSON.stringify(key)}`,
      endpoints: cluster.endpoints.map((endpoint) => ({ ...endpoint, probability: endpoint === chosen ? 1 : 0, chosen: endpoint === chosen })),
    };
  }
  const words = { round_robin: "weighted round robin", random: "weighted random", least_request: "least request (power of two choices); shares are the idle-state weights" }[policy.type];
  return { balancing: words, endpoints: share };
}

function outcomesOf(route: CompiledRoute, action: RouteAnswer | null): Outcome[] {
  const outcomes: Outcome[] = [];
  const abort = route.fault?.abort;
  const delay = route.fault?.delay;
  const pAbort = abort ? clampPercent(abort.percent) : 0;
  const pDelay = delay ? clampPercent(delay.percent) : 0;
  const delayed = delay ? ` (delayed ${delay.delayMs} ms with probability ${round(pDelay)})` : "";
  if (abort && pAbort > 0) {
    outcomes.push({ status: abort.status, flag: "FI", probability: pAbort, description: `fault injection aborts with ${abort.status}${delayed}` });
  }
  const rest = 1 - pAbort;
  if (rest <= 0 || !action) return outcomes;
  if (action.type === "redirect") {
    outcomes.push({ status: action.code, flag: null, probability: rest, description: `redirect to ${action.location}${delayed}` });
  } else if (action.type === "direct") {
    outcomes.push({ status: action.status, flag: null, probability: rest, description: `direct response ${action.status}${delayed}` });
  } else {
    for (const destination of action.destinations) {
      if (destination.probability <= 0) continue;
      const probability = rest * destination.probability;
      if (destination.endpoints.length === 0) {
        outcomes.push({ status: 503, flag: "UH", probability, description: `no endpoint in cluster ${destination.cluster}: no healthy upstream${delayed}` });
      } else {
        outcomes.push({ status: null, flag: null, probability, description: `forwarded to ${destination.cluster} (${destination.endpoints.length} endpoint${destination.endpoints.length === 1 ? "" : "s"}); the upstream's answer${delayed}` });
      }
    }
  }
  return outcomes;
}

function noRoute(explanation: Explanation, detail: string, message: string): Explanation {
  explanation.outcomes = [{ status: 404, flag: "NR", probability: 1, description: `${detail}: ${message}` }];
  return explanation;
}

function clampPercent(percent: number): number {
  return Math.min(1, Math.max(0, percent / 100));
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

function base64Length(base64: string): number {
  const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0;
  return (base64.length / 4) * 3 - padding;
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(",") || "(none)";
}

import { isCleartextOffMachine } from "../snapshot/hosts.js";
import { ownedHeadersOf } from "../identity/identity-headers.js";
import { EgressCredentialTable } from "../egress/credentials.js";
import { OutboundHosts, PASSTHROUGH_GATEWAY } from "../egress/outbound.js";
import { IdentityError } from "../identity/errors.js";
import { parseSpiffeId } from "../identity/spiffe-id.js";
import { normalizePath, type PathNormalizationOptions } from "../paths/normalize.js";
import { createLoadBalancer, hashKeyFor } from "../resilience/load-balancer.js";
import { endpointWeight } from "../resilience/endpoint-weight.js";
import { createRoutingTable, matchInVirtualHost, resolveVirtualHost, type RoutingTable } from "../routing/match-route.js";
import type { RequestView } from "../routing/request-view.js";
import { hostMatchesPattern, lookupHost, normaliseRequestHost } from "../snapshot/hosts.js";
import type { Cluster, CompiledMatch, CompiledRoute, Snapshot, VirtualHost } from "../snapshot/schema.js";
import { firstFailedCondition } from "./conditions.js";
import { buildRequestView } from "./request.js";
import {
  ExplainRequestInput,
  type Denial,
  type ExplainedDestination,
  type Explanation,
  type GatewayVerdict,
  type Outcome,
  type RouteAnswer,
  type RouteVerdict,
  type SecurityVerdict,
} from "./schema.js";
import { explainSecurity } from "./security.js";

/**
 * `explain`: the answer to "why did I get a 401/403/404/502/503". For one described request and
 * one snapshot, which Gateway accepted the host, which VirtualService and route matched (and, for
 * every route tried before it, the first condition that failed), which destinations and
 * endpoints can be chosen with what probability, which faults, retries, timeouts and mirrors
 * apply, and what peer authentication, request authentication and authorization decide. Pure:
 * the same snapshot and request always give the same explanation; each decision is taken by the
 * function the gateway runs (`matchInVirtualHost`, `evaluateAuthorization`, the egress's
 * `OutboundHosts`), never a copy of it.
 */

export interface ExplainOptions {
  /** The gateway workload's labels (its MESH_GATEWAY_LABELS); default `istio=ingressgateway`. */
  labels?: Readonly<Record<string, string>>;
  /** Explain for the egress gateway (its outbound lookup, block and credentials); default: when the labels are `istio=egressgateway`. */
  egress?: boolean;
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
/** The gateway's path normalisation without a MeshConfig (gateway/security/state.ts). */
const DEFAULT_PATHS: PathNormalizationOptions = { normalization: "BASE", escapedSlashes: "REJECT" };

export function explainRequest(snapshot: Snapshot, input: ExplainRequestInput, options: ExplainOptions = {}): Explanation {
  const parsed = ExplainRequestInput.safeParse(input);
  if (!parsed.success) throw new ExplainInputError(parsed.error.issues.map((issue) => `${issue.path.join(".") || "request"}: ${issue.message}`).join("; "));
  const data = parsed.data;
  if (data.peer) {
    try {
      parseSpiffeId(data.peer.principal);
    } catch (error) {
      if (error instanceof IdentityError) throw new ExplainInputError(`peer.principal: ${error.message}`);
      throw error;
    }
  }
  const built = buildRequestView(data);
  if (!built.ok) throw new ExplainInputError(built.message);
  const labels = options.labels ?? DEFAULT_GATEWAY_LABELS;
  const egress = options.egress ?? labels.istio === "egressgateway";
  const asSent = egress ? targetOfRequestUrl(built.view, data.url) : built.view;
  // The headers the gateway owns are removed before routing and authorization see the request (identity-sanitize).
  const owned = ownedHeadersOf(snapshot.security);
  let request: RequestView = { ...asSent, header: (name) => (owned.has(name.toLowerCase()) ? null : asSent.header(name)) };
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
    peer: data.peer
      ? {
          principal: data.peer.principal,
          note:
            data.peer.via === "jwt-svid"
              ? "assumed verified: a valid JWT-SVID in Authorization: Bearer (read by request authentication; it does not satisfy STRICT)"
              : "assumed verified: a valid X.509-SVID (platform mTLS or a trusted proxy's XFCC) or a service binding's props.spiffeId; see security for what the gateway makes of it",
        }
      : null,
    egress: null,
    security: [],
    notes: [],
  };

  if (request.path.startsWith(MESH_PREFIX)) {
    // Answered by the gateway itself (gateway/stages/mesh-endpoints.ts), never routed.
    const own: Record<string, string> = { "/__mesh/healthz": "the served config version", "/__mesh/metrics": "Prometheus text (401 without MESH_METRICS_TOKEN when one is set)" };
    const path = request.path.split("?")[0]!;
    explanation.outcomes.push(
      own[path] !== undefined
        ? { status: 200, flag: null, probability: 1, description: `mesh_endpoint: ${path} is the gateway's own endpoint: ${own[path]}; never routed` }
        : { status: 404, flag: null, probability: 1, description: `mesh_endpoint: no gateway endpoint at ${path}; the ${MESH_PREFIX} prefix is never routed` },
    );
    return explanation;
  }
  // Path normalisation, before routing and authorization, as the gateway's pathNormalization stage.
  const normalized = normalizePath(request.path, snapshot.security?.pathNormalization ?? DEFAULT_PATHS);
  if (!normalized.ok) return refused(explanation, { stage: "path_normalization", status: 400, flag: null, detail: "path_normalization_failed", message: `the request path cannot be normalised safely: ${normalized.reason}` });
  if (normalized.path.toLowerCase().startsWith(MESH_PREFIX)) {
    return refused(explanation, { stage: "path_normalization", status: 400, flag: null, detail: "reserved_path", message: `${MESH_PREFIX} is reserved for the gateway's own endpoints and never routed` });
  }
  if (normalized.path !== request.path) {
    request = { ...request, path: normalized.path };
    explanation.request.path = normalized.path;
  }
  if (table.gateways.length === 0 && !egress) {
    explanation.notes.push(`no Gateway's selector matches the gateway labels ${formatLabels(labels)}`);
  }

  const resolved = resolveVirtualHost(table, request.host);
  let clusters: Readonly<Record<string, Cluster>> = egress ? { ...snapshot.clusters, ...snapshot.egress?.clusters } : snapshot.clusters;
  let route: CompiledRoute;
  let gatewayName: string;
  let match: CompiledMatch | undefined;
  let blocked = false;
  if (egress && resolved.kind !== "found") {
    // The egress's passthrough (egress/stages/outbound-route.ts): no VirtualService serves the host.
    const hosts = new OutboundHosts(snapshot);
    const all = clusters;
    const plan = hosts.plan(request.host, request.port, (key) => all[key], request.scheme === "https" ? "https" : "http");
    gatewayName = PASSTHROUGH_GATEWAY.name;
    if (plan.kind === "insecure") {
      // Refused at the route, before authentication (egress/stages/outbound-route.ts).
      explanation.egress = { kind: "insecure", outboundTrafficPolicy: hosts.policy, serviceEntry: plan.service.serviceEntry, serviceHost: plan.service.host, port: null, cluster: null };
      explanation.outcomes = [{ status: 502, flag: "NR", probability: 1, description: `outbound_tls_unavailable: ${plan.message}` }];
      return explanation;
    }
    explanation.egress = {
      kind: plan.kind,
      outboundTrafficPolicy: hosts.policy,
      serviceEntry: plan.kind === "registered" ? plan.service.serviceEntry : null,
      serviceHost: plan.kind === "registered" ? plan.service.host : null,
      port: plan.kind === "registered" ? plan.port.number : plan.kind === "passthrough" ? request.port : null,
      cluster: plan.kind === "blocked" ? null : plan.cluster.key,
    };
    if (plan.kind === "blocked") {
      route = hosts.blackholeRoute();
      blocked = true;
      explanation.notes.push(`no VirtualService on the egress's Gateway serves '${request.host}' and no MESH_EXTERNAL ServiceEntry declares it: REGISTRY_ONLY sends it to ${route.virtualService.split("/")[1]}`);
    } else {
      clusters = { ...all, [plan.cluster.key]: plan.cluster };
      route = hosts.passthroughRoute(plan, plan.cluster.key);
      explanation.notes.push(
        plan.kind === "registered"
          ? `no VirtualService on the egress's Gateway serves '${request.host}': ServiceEntry ${plan.service.serviceEntry} declares it (${plan.service.host}), so the egress sends it there`
          : `no ServiceEntry declares '${request.host}': ALLOW_ANY passes it through to the host itself (PassthroughCluster)`,
      );
      if (route.retries === null) explanation.notes.push("no retries: a passthrough call is tried once (MeshConfig defaultHttpRetryPolicy sets its retries)");
    }
  } else {
    if (resolved.kind === "no-gateway") {
      return noRoute(explanation, "no_gateway_for_host", `no Gateway server accepts host '${request.host}'`);
    }
    explanation.gateway = resolved.gateway.name;
    if (resolved.kind === "no-virtual-host") {
      return noRoute(explanation, "no_virtual_host", `no VirtualService on Gateway ${resolved.gateway.name} serves host '${request.host}'`);
    }
    const virtualHost = resolved.virtualHost;
    explanation.virtualService = virtualHost.virtualService;
    if (egress) explanation.egress = { kind: "virtual_service", outboundTrafficPolicy: snapshot.mesh?.outboundTrafficPolicy ?? "REGISTRY_ONLY", serviceEntry: null, serviceHost: null, port: null, cluster: null };

    const matched = matchInVirtualHost(table, resolved.gateway, virtualHost, request);
    explanation.routes = routeVerdicts(table, resolved.gateway.name, virtualHost, request, matched?.route);
    if (!matched) {
      return noRoute(explanation, "route_not_found", `no route of VirtualService ${virtualHost.virtualService} matches ${request.method} ${request.path}`);
    }
    route = matched.route;
    match = matched.match;
    gatewayName = resolved.gateway.name;
  }

  explanation.route = route.name;
  explanation.timeoutMs = route.timeoutMs ?? null;
  explanation.retries = route.retries;
  explanation.fault = route.fault ?? null;
  explanation.mirror = route.mirror ? { cluster: route.mirror.cluster, probability: clampPercent(route.mirror.percent) } : null;
  explanation.rewrite = route.rewrite ?? null;
  explanation.headers = route.headers ?? null;
  explanation.cors = !egress && route.cors !== undefined;
  explanation.action = blocked ? null : routeAnswer(clusters, route, request, built.headers, built.search);
  if (!blocked && route.virtualService !== "-") {
    if (route.retries === null) explanation.notes.push(route.fault ? "no retries: a route with a fault injects it instead (as in Istio)" : "no retries: retries.attempts is 0");
    if (route.timeoutMs === undefined) explanation.notes.push(route.fault ? "no timeout: a route with a fault has none (as in Istio)" : "no route timeout (Istio's default)");
  }
  const isPreflight = request.method === "OPTIONS" && request.header("origin") !== null && request.header("access-control-request-method") !== null;
  if (explanation.cors && isPreflight) explanation.notes.push("a CORS preflight from an allowed origin is answered by the gateway itself (corsPolicy)");

  // Security, per destination namespace, as the gateway scopes it (peer-authentication.ts).
  const action = explanation.action;
  const forwarded = action?.type === "forward" ? action.destinations : [];
  const namespaceOf = (cluster: string | undefined) => ((cluster !== undefined ? clusters[cluster]?.serviceEntry : undefined) ?? route.virtualService).split("/")[0]!;
  const namespaces = new Map<string, string[]>();
  if (forwarded.length === 0) namespaces.set(namespaceOf(undefined), []);
  for (const destination of forwarded) {
    const namespace = namespaceOf(destination.cluster);
    namespaces.set(namespace, [...(namespaces.get(namespace) ?? []), destination.cluster]);
  }
  const source = headersSource(request, built.headers);
  for (const [namespace, members] of namespaces) {
    explanation.security.push(
      explainSecurity({
        snapshot,
        namespace,
        clusters: members,
        gatewayName,
        labels,
        request,
        pathIgnoreCase: match?.uri?.ignoreCase === true,
        tokens: source,
        sourceIp: built.headers.get("cf-connecting-ip"),
        peer: data.peer,
        requestPrincipal: data.requestPrincipal,
        egressBlocked: blocked,
      }),
    );
  }
  const verdictOf = (cluster: string | undefined) => explanation.security.find((verdict) => verdict.namespace === namespaceOf(cluster))!;

  // The egress adds EgressCredentials last, keyed on the destination's host.
  let credentialDenial: (destination: ExplainedDestination) => Denial | undefined = () => undefined;
  if (egress && !blocked && snapshot.egress?.credentials) {
    const credentials = new EgressCredentialTable(snapshot.egress.credentials);
    const trustDomain = snapshot.security?.trustDomain;
    for (const destination of forwarded) {
      const credential = destination.host !== null ? credentials.forHost(destination.host) : undefined;
      destination.egressCredential = credential
        ? {
            name: credential.name,
            inject: credential.inject ? { header: credential.inject.header, secretName: credential.inject.secretName } : null,
            workloadIdentity: credential.workloadIdentity ? { header: credential.workloadIdentity.header, audience: credential.workloadIdentity.audience ?? destination.host! } : null,
          }
        : null;
      if (credential?.inject) explanation.notes.push(`EgressCredential ${credential.name} adds secret ${credential.inject.secretName} as ${credential.inject.header}: the egress must have it (wrangler secret put ${credential.inject.secretName}), else 503 credential_unavailable`);
      if (credential?.workloadIdentity) explanation.notes.push(`EgressCredential ${credential.name} mints the caller's JWT-SVID into ${credential.workloadIdentity.header}: the egress needs MESH_JWT_SVID_KEY, else 503 outbound_identity_key_missing`);
    }
    credentialDenial = (destination) => {
      const credential = destination.egressCredential;
      if (!credential) return undefined;
      // The egress's run-time refusal of cleartext comes first (egress/stages/outbound-credentials.ts).
      const cluster = clusters[destination.cluster];
      if (cluster && isCleartextOffMachine(cluster)) {
        return { stage: "egress_credential", status: 503, flag: null, detail: "credential_insecure", message: `EgressCredential ${credential.name}: ${cluster.key} is plain HTTP to a non-loopback address; its credentials are only sent over TLS` };
      }
      if (!credential.workloadIdentity) return undefined;
      const caller = verdictOf(destination.cluster).peerAuthentication.peer;
      if (caller === null) {
        return { stage: "egress_credential", status: 401, flag: null, detail: "outbound_identity_unavailable", message: `EgressCredential ${credential.name} sends the caller's identity to '${destination.host}': call as a workload (X.509-SVID, JWT-SVID or a service binding)` };
      }
      if (trustDomain !== undefined && parseSpiffeId(caller).trustDomain !== trustDomain) {
        return { stage: "egress_credential", status: 403, flag: null, detail: "outbound_identity_foreign", message: `EgressCredential ${credential.name}: the mesh CA signs for trust domain '${trustDomain}' only, not for caller '${caller}'` };
      }
      return undefined;
    };
  }

  explanation.outcomes = outcomesOf(route, action, verdictOf, credentialDenial);
  return explanation;
}

/**
 * The egress's destination is the request URL's authority when it is not the Host header's (an
 * absolute-form request through its HTTP-proxy socket; egress/stages/outbound-route.ts).
 */
function targetOfRequestUrl(view: RequestView, url: string): RequestView {
  if (url.startsWith("/")) return view;
  const parsed = new URL(url);
  const host = normaliseRequestHost(parsed.host);
  const port = parsed.port !== "" ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80;
  if (host === view.host && port === view.port) return view;
  return { ...view, host, authority: parsed.host.toLowerCase(), port };
}

function headersSource(request: RequestView, headers: Map<string, string>) {
  return { header: request.header, query: request.query, cookie: (name: string) => cookieValue(headers.get("cookie"), name) };
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

function routeAnswer(clusters: Readonly<Record<string, Cluster>>, route: CompiledRoute, request: RequestView, headers: Map<string, string>, search: string): RouteAnswer {
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
    const cluster = clusters[destination.cluster];
    const base = { cluster: destination.cluster, weight: destination.weight, probability, ...(destination.headers ? { headers: destination.headers } : {}) };
    if (!cluster) {
      return { ...base, host: null, subset: null, port: null, loadBalancer: null, balancing: "cluster missing from the snapshot", endpoints: [], outlierDetection: null };
    }
    return {
      ...base,
      host: cluster.host,
      subset: cluster.subset ?? null,
      port: cluster.port,
      loadBalancer: cluster.loadBalancer,
      outlierDetection: cluster.outlierDetection,
      ...(cluster.tls ? { tls: cluster.tls } : {}),
      ...endpointsOf(cluster, request, headers),
    };
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

/**
 * Every answer with its probability, in the gateway's order: a security refusal (per destination
 * namespace) before the fault, the fault's abort before the upstream, the egress's credential
 * refusal before connecting.
 */
function outcomesOf(
  route: CompiledRoute,
  action: RouteAnswer | null,
  verdictOf: (cluster: string | undefined) => SecurityVerdict | undefined,
  credentialDenial: (destination: ExplainedDestination) => Denial | undefined,
): Outcome[] {
  const outcomes: Outcome[] = [];
  const add = (outcome: Outcome) => {
    const same = outcomes.find((existing) => existing.status === outcome.status && existing.flag === outcome.flag && existing.description === outcome.description);
    if (same) same.probability += outcome.probability;
    else outcomes.push(outcome);
  };
  const abort = route.fault?.abort;
  const delay = route.fault?.delay;
  const pAbort = abort ? clampPercent(abort.percent) : 0;
  const pDelay = delay ? clampPercent(delay.percent) : 0;
  const delayed = delay ? ` (delayed ${delay.delayMs} ms with probability ${round(pDelay)})` : "";

  if (action?.type !== "forward") {
    const denial = verdictOf(undefined)?.denial;
    if (denial) return [denialOutcome(denial, 1)];
    if (abort && pAbort > 0) add({ status: abort.status, flag: "FI", probability: pAbort, description: `fault injection aborts with ${abort.status}${delayed}` });
    const rest = 1 - pAbort;
    if (rest <= 0 || !action) return outcomes;
    if (action.type === "redirect") add({ status: action.code, flag: null, probability: rest, description: `redirect to ${action.location}${delayed}` });
    else add({ status: action.status, flag: null, probability: rest, description: `direct response ${action.status}${delayed}` });
    return outcomes;
  }

  const admitted = action.destinations.filter((destination) => destination.probability > 0 && !verdictOf(destination.cluster)?.denial);
  const admittedShare = admitted.reduce((sum, destination) => sum + destination.probability, 0);
  if (abort && pAbort > 0 && admittedShare > 0) {
    add({ status: abort.status, flag: "FI", probability: pAbort * admittedShare, description: `fault injection aborts with ${abort.status}${delayed}` });
  }
  for (const destination of action.destinations) {
    if (destination.probability <= 0) continue;
    const denial = verdictOf(destination.cluster)?.denial;
    if (denial) {
      add(denialOutcome(denial, destination.probability));
      continue;
    }
    const probability = (1 - pAbort) * destination.probability;
    if (probability <= 0) continue;
    const refused = credentialDenial(destination);
    if (refused) add(denialOutcome(refused, probability));
    else if (destination.endpoints.length === 0) add({ status: 503, flag: "UH", probability, description: `no endpoint in cluster ${destination.cluster}: no healthy upstream${delayed}` });
    else {
      const credential = destination.egressCredential ? `, with EgressCredential ${destination.egressCredential.name}` : "";
      const tls = destination.tls ? ` over TLS (${destination.tls.mode}${destination.tls.sni ? `, SNI ${destination.tls.sni}` : ""})` : "";
      add({ status: null, flag: null, probability, description: `forwarded to ${destination.cluster} (${destination.endpoints.length} endpoint${destination.endpoints.length === 1 ? "" : "s"})${tls}${credential}; the upstream's answer${delayed}` });
    }
  }
  return outcomes;
}

function denialOutcome(denial: Denial, probability: number): Outcome {
  return { status: denial.status, flag: denial.flag, probability, description: `${denial.detail}: ${denial.message}` };
}

function refused(explanation: Explanation, denial: Denial): Explanation {
  explanation.outcomes = [denialOutcome(denial, 1)];
  return explanation;
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

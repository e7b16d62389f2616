import type { ConfigIssue } from "../errors.js";
import type { HeaderOperations, StringMatch } from "../resources/common.js";
import type { VirtualServiceResource } from "../resources/resource.js";
import { resourceRefOf } from "../resources/resource.js";
import type { CorsPolicy, HTTPMatchRequest, HTTPRoute } from "../resources/virtual-service.js";
import type { ClusterRegistry } from "./compile-clusters.js";
import type {
  CompiledCors,
  CompiledMatch,
  CompiledRoute,
  CompiledStringMatch,
  HeaderMutation,
  HeaderOps,
  NamedMatch,
  RetryPolicy,
  RouteAction,
  WeightedDestination,
} from "./schema.js";

/** Istio's default retry policy for a route that sets none. */
export const ISTIO_DEFAULT_RETRIES: RetryPolicy = {
  attempts: 2,
  conditions: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
  statusCodes: [503],
};

export interface RouteContext {
  virtualService: VirtualServiceResource;
  index: number;
  clusters: ClusterRegistry;
  issues: ConfigIssue[];
  /** Resolves a gateway name as written in the VirtualService to `namespace/name`, or undefined if unknown. */
  qualifyGateway: (name: string) => string | undefined;
  /** MeshConfig.defaultHttpRetryPolicy, when set (null: no retries); otherwise Istio's default. */
  defaultRetries?: RetryPolicy | null;
}

export function compileRoute(route: HTTPRoute, context: RouteContext): CompiledRoute | undefined {
  const vs = context.virtualService;
  const vsName = `${vs.metadata.namespace}/${vs.metadata.name}`;
  const base = `spec.http[${context.index}]`;
  const issue = (path: string, message: string, code: ConfigIssue["code"] = "ERR_CONFIG_REFERENCE") =>
    context.issues.push({ code, resource: resourceRefOf(vs), path: `${base}${path}`, message: route.name ? `route '${route.name}': ${message}` : message });
  const before = context.issues.length;

  const matches = (route.match ?? []).map((match, matchIndex) => compileMatch(match, matchIndex, context, issue));

  let action: RouteAction;
  if (route.route) {
    const destinations: WeightedDestination[] = [];
    route.route.forEach((destination, destinationIndex) => {
      const resolved = context.clusters.resolve(destination.destination);
      if (!resolved.ok) {
        issue(`.route[${destinationIndex}].destination`, resolved.message);
        return;
      }
      // As in Istio: a sole destination receives all traffic whatever its weight.
      const weight = route.route!.length === 1 ? 100 : (destination.weight ?? 0);
      const headers = compileHeaderOps(destination.headers);
      destinations.push({ cluster: resolved.cluster.key, weight, ...(headers ? { headers } : {}) });
    });
    const totalWeight = destinations.reduce((sum, destination) => sum + destination.weight, 0);
    if (destinations.length === route.route.length && totalWeight === 0) {
      issue(".route", "destination weights sum to zero: at least one destination needs a positive weight", "ERR_CONFIG_WEIGHTS");
    }
    action = { type: "forward", destinations, totalWeight };
  } else if (route.redirect) {
    const redirect = route.redirect;
    action = {
      type: "redirect",
      code: redirect.redirectCode ?? 301,
      ...(redirect.uri !== undefined ? { uri: redirect.uri } : {}),
      ...(redirect.authority !== undefined ? { authority: redirect.authority } : {}),
      ...(redirect.port !== undefined ? { port: redirect.port } : {}),
      ...(redirect.derivePort !== undefined ? { derivePort: redirect.derivePort } : {}),
      ...(redirect.scheme !== undefined ? { scheme: redirect.scheme } : {}),
    };
  } else {
    const direct = route.directResponse!;
    const body = direct.body;
    action = {
      type: "direct",
      status: direct.status,
      ...(body ? { bodyBase64: body.bytes ?? utf8ToBase64(body.string ?? "") } : {}),
    };
  }

  let mirror: CompiledRoute["mirror"];
  if (route.mirror) {
    const resolved = context.clusters.resolve(route.mirror);
    if (!resolved.ok) issue(".mirror", resolved.message);
    else mirror = { cluster: resolved.cluster.key, percent: route.mirrorPercentage?.value ?? 100 };
  } else if (route.mirrorPercentage) {
    issue(".mirrorPercentage", "mirrorPercentage needs mirror", "ERR_CONFIG_SCHEMA");
  }

  if (context.issues.length > before) return undefined;

  const fault = route.fault
    ? {
        ...(route.fault.delay
          ? { delay: { delayMs: route.fault.delay.fixedDelay, percent: route.fault.delay.percentage?.value ?? route.fault.delay.percent ?? 100 } }
          : {}),
        ...(route.fault.abort ? { abort: { status: route.fault.abort.httpStatus, percent: route.fault.abort.percentage?.value ?? 100 } } : {}),
      }
    : undefined;

  // As in Istio: a route with a fault gets no retries and no timeout.
  const retries: RetryPolicy | null = fault
    ? null
    : route.retries === undefined
      ? context.defaultRetries !== undefined
        ? context.defaultRetries
        : ISTIO_DEFAULT_RETRIES
      : route.retries.attempts === 0
        ? null
        : {
            attempts: route.retries.attempts,
            ...(route.retries.perTryTimeout ? { perTryTimeoutMs: route.retries.perTryTimeout } : {}),
            conditions: route.retries.retryOn?.conditions ?? ISTIO_DEFAULT_RETRIES.conditions,
            statusCodes: route.retries.retryOn ? route.retries.retryOn.statusCodes : ISTIO_DEFAULT_RETRIES.statusCodes,
          };
  const timeoutMs = fault || !route.timeout ? undefined : route.timeout;

  const headers = compileHeaderOps(route.headers);
  const rewrite = route.rewrite
    ? {
        ...(route.rewrite.uri !== undefined ? { uri: route.rewrite.uri } : {}),
        ...(route.rewrite.authority !== undefined ? { authority: route.rewrite.authority } : {}),
        ...(route.rewrite.uriRegexRewrite ? { uriRegex: { ...route.rewrite.uriRegexRewrite } } : {}),
      }
    : undefined;

  return {
    name: route.name ?? `${vsName}#${context.index}`,
    virtualService: vsName,
    matches,
    action,
    ...(rewrite ? { rewrite } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    retries,
    ...(fault ? { fault } : {}),
    ...(mirror ? { mirror } : {}),
    ...(headers ? { headers } : {}),
    ...(route.corsPolicy ? { cors: compileCors(route.corsPolicy) } : {}),
  };
}

function compileMatch(
  match: HTTPMatchRequest,
  matchIndex: number,
  context: RouteContext,
  issue: (path: string, message: string) => void,
): CompiledMatch {
  const gateways = match.gateways?.map((name, gatewayIndex) => {
    const qualified = context.qualifyGateway(name);
    if (!qualified) issue(`.match[${matchIndex}].gateways[${gatewayIndex}]`, `unknown gateway '${name}'`);
    return qualified ?? name;
  });
  const uri = match.uri ? compileStringMatch(match.uri, match.ignoreUriCase === true) : undefined;
  return {
    ...(match.name !== undefined ? { name: match.name } : {}),
    ...(uri ? { uri } : {}),
    ...(match.scheme ? { scheme: compileStringMatch(match.scheme, true) } : {}),
    ...(match.method ? { method: compileStringMatch(match.method, false) } : {}),
    ...(match.authority ? { authority: compileStringMatch(match.authority, true) } : {}),
    headers: namedMatches(match.headers, true),
    withoutHeaders: namedMatches(match.withoutHeaders, true),
    queryParams: namedMatches(match.queryParams, false),
    ...(match.port !== undefined ? { port: match.port } : {}),
    ...(gateways ? { gateways } : {}),
  };
}

function namedMatches(record: Record<string, StringMatch> | undefined, lowercaseNames: boolean): NamedMatch[] {
  return Object.entries(record ?? {}).map(([name, match]) => ({
    name: lowercaseNames ? name.toLowerCase() : name,
    match: compileStringMatch(match, false),
  }));
}

export function compileStringMatch(match: StringMatch, ignoreCase: boolean): CompiledStringMatch {
  const flag = ignoreCase ? { ignoreCase: true } : {};
  if (match.exact !== undefined) return { type: "exact", value: match.exact, ...flag };
  if (match.prefix !== undefined) return { type: "prefix", value: match.prefix, ...flag };
  if (match.regex !== undefined) return { type: "regex", value: match.regex, ...flag };
  return { type: "present", value: "" };
}

export function compileHeaderOps(operations: HeaderOperations | undefined): HeaderOps | undefined {
  if (!operations) return undefined;
  const request = compileMutation(operations.request);
  const response = compileMutation(operations.response);
  if (!request && !response) return undefined;
  return { ...(request ? { request } : {}), ...(response ? { response } : {}) };
}

function compileMutation(headers: HeaderOperations["request"]): HeaderMutation | undefined {
  if (!headers) return undefined;
  return {
    set: Object.entries(headers.set ?? {}).map(([name, value]) => [name.toLowerCase(), value] as [string, string]),
    add: Object.entries(headers.add ?? {}).map(([name, value]) => [name.toLowerCase(), value] as [string, string]),
    remove: (headers.remove ?? []).map((name) => name.toLowerCase()),
  };
}

function compileCors(policy: CorsPolicy): CompiledCors {
  return {
    allowOrigins: (policy.allowOrigins ?? []).map((origin) => compileStringMatch(origin, false)),
    allowMethods: policy.allowMethods ?? [],
    allowHeaders: policy.allowHeaders ?? [],
    exposeHeaders: policy.exposeHeaders ?? [],
    ...(policy.maxAge !== undefined ? { maxAgeSeconds: Math.floor(policy.maxAge / 1000) } : {}),
    allowCredentials: policy.allowCredentials ?? false,
    unmatchedPreflights: policy.unmatchedPreflights ?? "FORWARD",
  };
}

function utf8ToBase64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

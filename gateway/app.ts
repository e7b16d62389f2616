import { Hono, type MiddlewareHandler } from "hono";
import { SnapshotSource } from "./config/snapshot-source.js";
import type { GatewayEnv } from "./context.js";
import { parseGatewaySettings, type GatewaySettings } from "./env.js";
import { renderGatewayError } from "./errors-handler.js";
import { SecurityState } from "./security/state.js";
import { accessLog } from "./stages/access-log.js";
import { authorization } from "./stages/authorization.js";
import { cors } from "./stages/cors.js";
import { destination } from "./stages/destination.js";
import { directActions } from "./stages/direct-actions.js";
import { fault } from "./stages/fault.js";
import { headerMutation } from "./stages/header-mutation.js";
import { identityHeaders } from "./stages/identity-headers.js";
import { identitySanitize } from "./stages/identity-sanitize.js";
import { loadConfig } from "./stages/load-config.js";
import { meshEndpoints } from "./stages/mesh-endpoints.js";
import { metrics } from "./stages/metrics.js";
import { mirror } from "./stages/mirror.js";
import { pathNormalization } from "./stages/path-normalization.js";
import { peerAuthentication } from "./stages/peer-authentication.js";
import { requestAuthentication } from "./stages/request-authentication.js";
import { requestBody } from "./stages/request-body.js";
import { requestId } from "./stages/request-id.js";
import { requestView } from "./stages/request-view.js";
import { rewrite } from "./stages/rewrite.js";
import { route } from "./stages/route.js";
import { streamStart } from "./stages/stream-start.js";
import { traceContext } from "./stages/trace-context.js";
import { tracing } from "./stages/tracing.js";
import { upstream } from "./stages/upstream.js";
import { createGatewayTelemetry } from "./telemetry/gateway-telemetry.js";

/**
 * The ingress gateway: Envoy's HTTP filter chain as Hono middleware, in order. Each stage owns
 * one decision; a refusal is a thrown GatewayError rendered in one place; the access log, the
 * outermost stage, reads every decision at the end.
 */
export interface GatewayDependencies {
  settings: GatewaySettings;
  fetcher?: typeof fetch;
  random?: () => number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: Record<string, unknown>) => void;
}

/**
 * What differs between the gateways that share this chain: how a request finds its route (the
 * ingress's VirtualService lookup, the egress's outbound lookup), stages only one of them has,
 * and the gateway's own service account.
 */
export interface ChainProfile {
  route: MiddlewareHandler<GatewayEnv>;
  /** Outside the access log: sees every request, refused or not (the egress audit line). */
  outermost?: (log: (line: Record<string, unknown>) => void, now: () => number) => MiddlewareHandler<GatewayEnv>;
  /** After authentication, before authorization (the egress's refusal of unregistered hosts). */
  beforeAuthorization?: MiddlewareHandler<GatewayEnv>[];
  /** Last before the router, after the mirror (the egress's credentials: never on a mirrored copy). */
  beforeUpstream?: MiddlewareHandler<GatewayEnv>[];
  /** CORS is for browsers: the ingress answers preflights, the egress's callers are workloads. */
  cors: boolean;
  serviceAccount?: string;
}

export function createGatewayApp(dependencies: GatewayDependencies) {
  return createChainApp(dependencies, { route: route(), cors: true });
}

export function createChainApp(dependencies: GatewayDependencies, profile: ChainProfile) {
  const settings = dependencies.settings;
  const fetcher = dependencies.fetcher ?? ((input, init) => fetch(input, init));
  const random = dependencies.random ?? Math.random;
  const now = dependencies.now ?? Date.now;
  const sleep = dependencies.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const log = dependencies.log ?? ((line: Record<string, unknown>) => console.log(JSON.stringify(line)));
  const telemetry = createGatewayTelemetry({ settings, fetcher, now, log });
  const source = new SnapshotSource({ ttlMs: settings.MESH_CONFIG_TTL_MS, labels: settings.MESH_GATEWAY_LABELS, log });
  const security = new SecurityState({ settings, fetcher, log, ...(profile.serviceAccount !== undefined ? { serviceAccount: profile.serviceAccount } : {}) });

  const app = new Hono<GatewayEnv>();
  app.onError(renderGatewayError(log));
  app.use(streamStart({ settings, random, now }));
  // Outside the access log, so spans and metrics see the final status of every request.
  app.use(tracing(telemetry, now));
  app.use(metrics(telemetry, now));
  if (profile.outermost) app.use(profile.outermost(log, now));
  app.use(accessLog(log, now));
  app.use(requestId());
  app.use(traceContext());
  app.use(meshEndpoints(source));
  app.use(loadConfig(source, now));
  // One view of the request (normalised path, identity claims stripped), then its route and destination.
  app.use(requestView());
  app.use(pathNormalization(security));
  app.use(identitySanitize(security));
  app.use(profile.route);
  app.use(destination());
  // Security, scoped by the destination's namespace (docs/security.md).
  app.use(peerAuthentication(security, now));
  app.use(requestAuthentication(security, now));
  for (const stage of profile.beforeAuthorization ?? []) app.use(stage);
  app.use(authorization());
  app.use(directActions());
  if (profile.cors) app.use(cors());
  app.use(fault(sleep));
  app.use(requestBody());
  app.use(rewrite());
  app.use(headerMutation());
  app.use(identityHeaders());
  app.use(mirror(fetcher, log));
  for (const stage of profile.beforeUpstream ?? []) app.use(stage);
  app.all("*", upstream({ fetcher, sleep, now }));
  return app;
}

/** A Workers module whose app is built on the first request, once `env` is known, and reused by the isolate. */
export function createGatewayWorker() {
  let app: ReturnType<typeof createGatewayApp> | undefined;
  return {
    fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Response | Promise<Response> {
      app ??= createGatewayApp({ settings: parseGatewaySettings(env) });
      return app.fetch(request, env, ctx);
    },
  };
}

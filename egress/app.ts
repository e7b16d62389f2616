import { Hono } from "hono";
import type { GatewayDependencies } from "../gateway/app.js";
import { SnapshotSource } from "../gateway/config/snapshot-source.js";
import type { GatewayEnv } from "../gateway/context.js";
import { parseGatewaySettings } from "../gateway/env.js";
import { renderGatewayError } from "../gateway/errors-handler.js";
import { SecurityState } from "../gateway/security/state.js";
import { accessLog } from "../gateway/stages/access-log.js";
import { authorization } from "../gateway/stages/authorization.js";
import { destination } from "../gateway/stages/destination.js";
import { directActions } from "../gateway/stages/direct-actions.js";
import { fault } from "../gateway/stages/fault.js";
import { headerMutation } from "../gateway/stages/header-mutation.js";
import { identityHeaders } from "../gateway/stages/identity-headers.js";
import { identitySanitize } from "../gateway/stages/identity-sanitize.js";
import { loadConfig } from "../gateway/stages/load-config.js";
import { meshEndpoints } from "../gateway/stages/mesh-endpoints.js";
import { metrics } from "../gateway/stages/metrics.js";
import { mirror } from "../gateway/stages/mirror.js";
import { pathNormalization } from "../gateway/stages/path-normalization.js";
import { peerAuthentication } from "../gateway/stages/peer-authentication.js";
import { requestAuthentication } from "../gateway/stages/request-authentication.js";
import { requestBody } from "../gateway/stages/request-body.js";
import { requestId } from "../gateway/stages/request-id.js";
import { requestView } from "../gateway/stages/request-view.js";
import { rewrite } from "../gateway/stages/rewrite.js";
import { streamStart } from "../gateway/stages/stream-start.js";
import { traceContext } from "../gateway/stages/trace-context.js";
import { tracing } from "../gateway/stages/tracing.js";
import { upstream } from "../gateway/stages/upstream.js";
import { createGatewayTelemetry } from "../gateway/telemetry/gateway-telemetry.js";
import { auditLog } from "./stages/audit-log.js";
import { blockUnregistered, outboundRoute } from "./stages/outbound-route.js";

/**
 * The egress gateway: the ingress filter chain (gateway/app.ts) over the same snapshot, with two
 * egress stages: `outboundRoute` in place of the ingress route lookup (external hosts from
 * ServiceEntries, REGISTRY_ONLY), and `auditLog`, one line per outbound call. Peer and request
 * authentication and AuthorizationPolicy are the ingress stages unchanged; policies select this
 * gateway by its labels (MESH_GATEWAY_LABELS, `istio=egressgateway`). CORS is left out: callers
 * are workloads, not browsers.
 */

/** What the egress worker's settings default to when `env` does not say (wrangler.toml says the same). */
export const EGRESS_DEFAULTS = {
  MESH_GATEWAY_LABELS: "istio=egressgateway",
  MESH_WORKLOAD_NAME: "istio-egressgateway",
} as const;

/** The egress gateway's default SPIFFE ID is `spiffe://<trustDomain>/ns/<rootNamespace>/sa/` this (Istio's name). */
export const EGRESS_SERVICE_ACCOUNT = "istio-egressgateway-service-account";

export function createEgressApp(dependencies: GatewayDependencies) {
  const settings = dependencies.settings;
  const fetcher = dependencies.fetcher ?? ((input, init) => fetch(input, init));
  const random = dependencies.random ?? Math.random;
  const now = dependencies.now ?? Date.now;
  const sleep = dependencies.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const log = dependencies.log ?? ((line: Record<string, unknown>) => console.log(JSON.stringify(line)));
  const telemetry = createGatewayTelemetry({ settings, fetcher, now, log });
  const source = new SnapshotSource({ ttlMs: settings.MESH_CONFIG_TTL_MS, labels: settings.MESH_GATEWAY_LABELS, log });
  const security = new SecurityState({ settings, fetcher, log, serviceAccount: EGRESS_SERVICE_ACCOUNT });

  const app = new Hono<GatewayEnv>();
  app.onError(renderGatewayError(log));
  app.use(streamStart({ settings, random, now }));
  app.use(tracing(telemetry, now));
  app.use(metrics(telemetry, now));
  // The audit line is written for every call, refused or not, so it sits outside everything that can refuse.
  app.use(auditLog(log, now));
  app.use(accessLog(log, now));
  app.use(requestId());
  app.use(traceContext());
  app.use(meshEndpoints(source));
  app.use(loadConfig(source, now));
  app.use(requestView());
  app.use(pathNormalization(security));
  app.use(identitySanitize(security));
  // Egress: a VirtualService route, else the ServiceEntry's host, else blocked (REGISTRY_ONLY).
  app.use(outboundRoute());
  app.use(destination());
  app.use(peerAuthentication(security, now));
  app.use(requestAuthentication(security, now));
  // A blocked host is refused here: after the caller is known (for the audit), before anything connects.
  app.use(blockUnregistered());
  app.use(authorization());
  app.use(directActions());
  app.use(fault(sleep));
  app.use(requestBody());
  app.use(rewrite());
  app.use(headerMutation());
  app.use(identityHeaders());
  app.use(mirror(fetcher, log));
  app.all("*", upstream({ fetcher, sleep, now }));
  return app;
}

/** The egress Workers module: the app is built on the first request, once `env` is known. */
export function createEgressWorker() {
  let app: ReturnType<typeof createEgressApp> | undefined;
  return {
    fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Response | Promise<Response> {
      app ??= createEgressApp({ settings: parseGatewaySettings({ ...EGRESS_DEFAULTS, ...env }) });
      return app.fetch(request, env, ctx);
    },
  };
}

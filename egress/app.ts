import { createChainApp, type GatewayDependencies } from "../gateway/app.js";
import { parseGatewaySettings } from "../gateway/env.js";
import { OutboundJwtSvidMinter } from "./outbound-identity.js";
import { auditLog } from "./stages/audit-log.js";
import { outboundCredentials } from "./stages/outbound-credentials.js";
import { blockUnregistered, outboundRoute, requireTlsForHttps } from "./stages/outbound-route.js";

/**
 * The egress gateway: the ingress filter chain (gateway/app.ts) over the same snapshot, with two
 * egress stages: `outboundRoute` in place of the ingress route lookup (external hosts from
 * ServiceEntries, REGISTRY_ONLY), and `auditLog`, one line per outbound call. Peer and request
 * authentication and AuthorizationPolicy are the ingress stages unchanged; policies select this
 * gateway by its labels (MESH_GATEWAY_LABELS, `istio=egressgateway`). `outboundCredentials` adds
 * EgressCredentials' secrets and JWT-SVIDs last. CORS is left out: callers are workloads, not browsers.
 */

/** What the egress worker's settings default to when `env` does not say (wrangler.toml says the same). */
export const EGRESS_DEFAULTS = {
  MESH_GATEWAY_LABELS: "istio=egressgateway",
  MESH_WORKLOAD_NAME: "istio-egressgateway",
  // Callers reach the egress through service bindings, which can set request.cf themselves.
  MESH_PLATFORM_MTLS: "off",
} as const;

/** The egress gateway's default SPIFFE ID is `spiffe://<trustDomain>/ns/<rootNamespace>/sa/` this (Istio's name). */
export const EGRESS_SERVICE_ACCOUNT = "istio-egressgateway-service-account";

export function createEgressApp(dependencies: GatewayDependencies) {
  return createChainApp(dependencies, {
    // Egress: a VirtualService route, else the ServiceEntry's host, else blocked (REGISTRY_ONLY).
    route: outboundRoute(),
    // The audit line is written for every call, refused or not, so it sits outside everything that can refuse.
    outermost: auditLog,
    // A blocked host is refused after the caller is known (for the audit), before anything connects.
    beforeAuthorization: [blockUnregistered(), requireTlsForHttps()],
    // Secrets and minted JWT-SVIDs (EgressCredential), added last so nothing before sees them.
    beforeUpstream: [outboundCredentials(new OutboundJwtSvidMinter(dependencies.settings.MESH_JWT_SVID_KEY), dependencies.now ?? Date.now)],
    cors: false,
    serviceAccount: EGRESS_SERVICE_ACCOUNT,
  });
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

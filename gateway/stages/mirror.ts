import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";
import { endpointKey } from "../../policies/resilience/endpoint-key.js";
import { clusterFetcher } from "../upstream/cluster-fetcher.js";
import { endpointUrl, shadowAuthority } from "../upstream/endpoint-url.js";

/**
 * Istio's `mirror`: a copy of the request goes to another destination, fire and forget. Its
 * answer is dropped and it never delays the response (it runs in `waitUntil`). As in Envoy, the
 * copy's authority gets a `-shadow` suffix (sent as x-mesh-authority: Workers set Host from the URL). Bodies too large to buffer are not mirrored.
 */
export function mirror(fetcher: typeof fetch, log: (line: Record<string, unknown>) => void): MiddlewareHandler<GatewayEnv> {
  return function mirror(c, next) {
    const policy = c.get("route").route.mirror;
    const body = c.get("body");
    if (policy && body.kind !== "stream" && c.get("random")() * 100 < policy.percent) {
      const state = c.get("config").clusters.get(policy.cluster);
      const endpoint = state?.balancer.pick(state.healthyEndpoints(Date.now()), { random: c.get("random"), activeRequests: state.activeRequests });
      // A mirror target whose client certificate is missing is skipped like an unhealthy one (never fails the request).
      if (state && endpoint && (state.cluster.tls?.mode !== "MUTUAL" || c.env?.[state.cluster.tls.credentialName!] !== undefined)) {
        const outbound = c.get("outbound");
        const headers = new Headers(outbound.headers);
        headers.set("x-mesh-authority", shadowAuthority(outbound.authority));
        const url = endpointUrl(state.cluster, endpoint, outbound.pathAndQuery);
        const sent = clusterFetcher(state.cluster, c.env, fetcher)(url, { method: outbound.method, headers, body: body.kind === "buffered" ? body.bytes.slice(0) : null, redirect: "manual" })
          .then((response) => response.body?.cancel())
          .catch((error: Error) => log({ event: "mirror_failed", cluster: policy.cluster, upstream_host: endpointKey(endpoint), reason: error.message }));
        c.executionCtx.waitUntil(sent);
      }
    }
    return next();
  };
}

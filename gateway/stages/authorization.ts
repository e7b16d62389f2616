import type { MiddlewareHandler } from "hono";
import { evaluateAuthorization } from "../../policies/authz/evaluate.js";
import type { AuthzRequest } from "../../policies/authz/request.js";
import { namespaceOf, principalOf, serviceAccountOf } from "../../policies/identity/spiffe-id.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";

/**
 * Envoy's RBAC filter driven by the AuthorizationPolicies that apply (mesh-wide, this gateway's,
 * the destination namespace's), in Istio's order: DENY, then ALLOW; AUDIT and dry-run policies
 * are recorded only. A denial is `403` with flag `RBAC` — or `401` with a `WWW-Authenticate`
 * challenge when the request lacks a credential (token or workload identity) that the deciding
 * rules look at, rather than Istio's bare `403`. The policy's name goes to the stream record
 * (access log, metrics), never into the response.
 */
export function authorization(): MiddlewareHandler<GatewayEnv> {
  return function authorization(c, next) {
    const identity = c.get("identity");
    if (!identity.security.config) return next();
    const policies = (identity.policies ?? identity.security.policies(identity.namespace))!.authz;
    if (policies.length === 0) return next();
    const view = c.get("request");
    const peer = identity.peer?.spiffeId;
    const request: AuthzRequest = {
      host: view.host,
      authority: view.authority,
      port: view.port,
      method: view.method,
      path: view.path,
      pathIgnoreCase: c.get("route").match?.uri?.ignoreCase === true,
      header: view.header,
      sourceIp: identity.sourceIp,
      remoteIp: identity.remoteIp,
      peer: peer ? { principal: principalOf(peer), trustDomain: peer.trustDomain, namespace: namespaceOf(peer), serviceAccount: serviceAccountOf(peer) } : undefined,
      requestAuth: identity.requestAuth,
    };
    const { decision, dryRun } = evaluateAuthorization(policies, request, { trustDomainAliases: identity.security.trustDomains });
    const stream = c.get("stream");
    stream.authzDecision = decision.allowed ? "allow" : "deny";
    if (decision.policy !== undefined) stream.authzPolicy = decision.policy;
    if (decision.audit.length > 0) stream.authzAudit = decision.audit.join(",");
    if (dryRun) {
      stream.authzDryRunDecision = dryRun.allowed ? "allow" : "deny";
      if (dryRun.policy !== undefined) stream.authzDryRunPolicy = dryRun.policy;
    }
    if (!decision.allowed) {
      if (decision.missing) {
        throw new GatewayError(401, "RBAC", "rbac_access_denied_missing_credential", "RBAC: access denied: this request needs credentials", {
          "www-authenticate": `Bearer realm="${view.host.replace(/["\\]/g, "")}"`,
        });
      }
      throw new GatewayError(403, "RBAC", "rbac_access_denied", "RBAC: access denied");
    }
    return next();
  };
}

import { hostMatchesPattern } from "../snapshot/hosts.js";
import type {
  CompiledAuthorizationPolicy,
  CompiledPeerAuthentication,
  CompiledRequestAuthentication,
  GatewayServerTls,
  PolicyRefs,
  SecurityConfig,
} from "../snapshot/schema.js";

/**
 * Which policies apply to a request, with no workloads to select: the mesh-wide ones (root
 * namespace, no selector), the ones selecting this gateway (root namespace, `matchLabels` all
 * present in the gateway's labels), and the ones of the destination's namespace.
 */

export interface ApplicablePolicies {
  peer: { mesh: CompiledPeerAuthentication[]; gateway: CompiledPeerAuthentication[]; namespace: CompiledPeerAuthentication[] };
  request: CompiledRequestAuthentication[];
  authz: CompiledAuthorizationPolicy[];
}

export function selectPolicies(security: SecurityConfig, namespace: string | undefined, gatewayLabels: Readonly<Record<string, string>>): ApplicablePolicies {
  const selects = (selector: Record<string, string> | undefined) => Object.entries(selector ?? {}).every(([key, value]) => gatewayLabels[key] === value);
  const pick = <T extends { selector?: Record<string, string> | undefined }>(list: readonly T[], refs: readonly number[], gateway = false) =>
    refs.map((position) => list[position]!).filter((policy) => !gateway || selects(policy.selector));
  const index = security.index;
  const ns: PolicyRefs | undefined = namespace !== undefined && Object.hasOwn(index.namespaces, namespace) ? index.namespaces[namespace] : undefined;
  return {
    peer: {
      mesh: pick(security.peerAuthentications, index.mesh.peer),
      gateway: pick(security.peerAuthentications, index.gateway.peer, true),
      namespace: pick(security.peerAuthentications, ns?.peer ?? []),
    },
    request: [
      ...pick(security.requestAuthentications, index.mesh.request),
      ...pick(security.requestAuthentications, index.gateway.request, true),
      ...pick(security.requestAuthentications, ns?.request ?? []),
    ],
    authz: [
      ...pick(security.authorizationPolicies, index.mesh.authz),
      ...pick(security.authorizationPolicies, index.gateway.authz, true),
      ...pick(security.authorizationPolicies, ns?.authz ?? []),
    ],
  };
}

export type EffectivePeerMode = "DISABLE" | "PERMISSIVE" | "STRICT";
const STRICTNESS: Record<EffectivePeerMode, number> = { DISABLE: 0, PERMISSIVE: 1, STRICT: 2 };

/**
 * The mTLS mode for a request: the destination namespace's policy, else the mesh-wide one, else
 * PERMISSIVE (Istio's default), UNSET meaning "inherit". A policy selecting this gateway applies
 * to every request through it; when it and the destination's mode differ, the stricter wins
 * (the gateway enforces on behalf of both).
 */
export function effectivePeerMode(peer: ApplicablePolicies["peer"]): EffectivePeerMode {
  const set = (list: readonly CompiledPeerAuthentication[]) => list.map((policy) => policy.mode).filter((mode): mode is EffectivePeerMode => mode !== "UNSET");
  const destination = set(peer.namespace)[0] ?? set(peer.mesh)[0] ?? "PERMISSIVE";
  const gateway = set(peer.gateway);
  return [destination, ...gateway].reduce((a, b) => (STRICTNESS[b] > STRICTNESS[a] ? b : a));
}

/**
 * The client-certificate requirement of the Gateway server that accepts this host: the server
 * whose host pattern matches most specifically (exact, then longest wildcard, then `*`); when
 * several equally specific servers match, the strictest mode applies.
 */
export function serverTlsFor(security: SecurityConfig | undefined, gatewayName: string, host: string): GatewayServerTls | undefined {
  const servers = security?.gatewayTls[gatewayName];
  if (!servers) return undefined;
  let best: { score: number; server: GatewayServerTls } | undefined;
  const order = { SIMPLE: 0, OPTIONAL_MUTUAL: 1, MUTUAL: 2 } as const;
  for (const server of servers) {
    for (const pattern of server.hosts) {
      if (!hostMatchesPattern(host, pattern)) continue;
      const score = pattern === "*" ? 0 : pattern.startsWith("*.") ? pattern.length : 10_000;
      if (!best || score > best.score || (score === best.score && order[server.mode] > order[best.server.mode])) best = { score, server };
    }
  }
  return best?.server;
}

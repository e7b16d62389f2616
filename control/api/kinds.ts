import { RESOURCE_KINDS, type MeshResourceKind } from "../../policies/resources/resource.js";

/** Resource kind names as users type them (kubectl style): `VirtualService`, `virtualservices`, `vs`. */

/** Istio's CRD short names. */
const SHORT_NAMES: Record<string, MeshResourceKind> = {
  gw: "Gateway",
  vs: "VirtualService",
  dr: "DestinationRule",
  se: "ServiceEntry",
  ap: "AuthorizationPolicy",
  ra: "RequestAuthentication",
  pa: "PeerAuthentication",
};

/** kubectl's plural of a kind name: `policy` → `policies`, `gateway` → `gateways`. */
function plural(kind: string): string {
  return /[^aeiou]y$/.test(kind) ? `${kind.slice(0, -1)}ies` : `${kind}s`;
}

export function resolveKind(name: string): MeshResourceKind | undefined {
  const lower = name.toLowerCase();
  if (SHORT_NAMES[lower]) return SHORT_NAMES[lower];
  return RESOURCE_KINDS.find((kind) => {
    const k = kind.toLowerCase();
    return lower === k || lower === plural(k);
  });
}

/** Every kind as `get` accepts it: the kubectl plural, with its short name when it has one (`virtualservices|vs`). */
export function kindUsage(): string {
  return RESOURCE_KINDS.map((kind) => {
    const short = Object.entries(SHORT_NAMES).find(([, value]) => value === kind)?.[0];
    return `${plural(kind.toLowerCase())}${short ? `|${short}` : ""}`;
  }).join(", ");
}

export function kindHelp(): string {
  return RESOURCE_KINDS.map((kind) => `${kind} (${Object.entries(SHORT_NAMES).find(([, value]) => value === kind)?.[0] ?? ""})`).join(", ");
}

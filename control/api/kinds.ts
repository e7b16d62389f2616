import { RESOURCE_KINDS, type MeshResourceKind } from "../../policies/resources/resource.js";

/** Resource kind names as users type them (kubectl style): `VirtualService`, `virtualservices`, `vs`. */

const SHORT_NAMES: Record<string, MeshResourceKind> = { gw: "Gateway", vs: "VirtualService", dr: "DestinationRule", se: "ServiceEntry" };

export function resolveKind(name: string): MeshResourceKind | undefined {
  const lower = name.toLowerCase();
  if (SHORT_NAMES[lower]) return SHORT_NAMES[lower];
  return RESOURCE_KINDS.find((kind) => {
    const k = kind.toLowerCase();
    return lower === k || lower === `${k}s` || lower === `${k}es`;
  });
}

export function kindHelp(): string {
  return RESOURCE_KINDS.map((kind) => `${kind} (${Object.entries(SHORT_NAMES).find(([, value]) => value === kind)?.[0] ?? ""})`).join(", ");
}

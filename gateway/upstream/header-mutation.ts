import type { HeaderMutation } from "../../policies/snapshot/schema.js";

/** Istio's Headers operations, in Envoy's order: remove, then set (overwrite), then add (append). */
export function applyHeaderMutation(headers: Headers, mutation: HeaderMutation | undefined): void {
  if (!mutation) return;
  for (const name of mutation.remove) headers.delete(name);
  for (const [name, value] of mutation.set) headers.set(name, value);
  for (const [name, value] of mutation.add) headers.append(name, value);
}

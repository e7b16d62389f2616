import type { Context } from "hono";
import { bindingPropsCaller, executionProps, type ServiceBindingCaller } from "../../policies/identity/binding-props.js";

/**
 * The identity a Cloudflare service binding vouches for at a gateway: `ctx.props.spiffeId`,
 * taken as the peer's identity (policies/identity/binding-props.ts says why it can be trusted).
 */

export type { ServiceBindingCaller } from "../../policies/identity/binding-props.js";

/** How the peer was authenticated when its identity came from `ctx.props.spiffeId`. */
export const SERVICE_BINDING = "service-binding";

/** The caller a service binding's `ctx.props` names, if the request came through one. */
export function serviceBindingCaller(c: Context): ServiceBindingCaller {
  return bindingPropsCaller(executionProps(c));
}

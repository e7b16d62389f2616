import { z } from "zod";
import { IdentityError } from "./errors.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe-id.js";

/**
 * The identity a Cloudflare service binding vouches for. A mesh worker that calls a mesh worker
 * (a gateway, the control plane's CA) through a binding such as
 *
 *   services = [{ binding = "EGRESS", service = "mesh-egress", props = { spiffeId = "spiffe://acme.test/ns/payments/sa/api" } }]
 *
 * arrives with `ctx.props` set by the platform from the *caller's* deployed config: the caller's
 * code cannot change it, and a request over HTTP has no props at all. So `ctx.props.spiffeId` is
 * as trustworthy as a platform-verified client certificate. Other keys of `props` are left alone
 * (a binding may carry props for other purposes).
 */

const BindingProps = z.object({ spiffeId: z.string({ error: "must be a string" }).optional() });

export type ServiceBindingCaller =
  | { kind: "none" }
  | { kind: "caller"; spiffeId: SpiffeId }
  /** The binding's props are misconfigured: refuse, never fall back to a weaker identity. */
  | { kind: "invalid"; code: string; message: string };

/** The caller that a service binding's `ctx.props` names (`undefined`: no props, an HTTP request). */
export function bindingPropsCaller(props: unknown): ServiceBindingCaller {
  if (typeof props !== "object" || props === null || !("spiffeId" in props)) return { kind: "none" };
  const parsed = BindingProps.safeParse(props);
  if (!parsed.success) {
    return { kind: "invalid", code: "ERR_PROPS_SCHEMA", message: `ctx.props.spiffeId ${parsed.error.issues.map((issue) => issue.message).join("; ")}` };
  }
  const text = parsed.data.spiffeId;
  if (text === undefined) return { kind: "none" };
  try {
    return { kind: "caller", spiffeId: parseSpiffeId(text) };
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    return { kind: "invalid", code: error.code, message: `ctx.props.spiffeId '${text.slice(0, 200)}' is not a SPIFFE ID: ${error.message}` };
  }
}

/**
 * Whether the request came through a service binding that carries props (any): then its
 * `request.cf` was set by the calling worker, not by Cloudflare's edge. (A binding without props
 * cannot be told from an HTTP request: give every binding to a gateway props.)
 */
export function hasBindingProps(props: unknown): boolean {
  return typeof props === "object" && props !== null && Object.keys(props).length > 0;
}

/** `ctx.props` of a Hono-like context, or undefined where there is no execution context (Hono throws on `c.executionCtx` then). */
export function executionProps(c: { readonly executionCtx: unknown }): unknown {
  let ctx: unknown;
  try {
    ctx = c.executionCtx;
  } catch {
    return undefined;
  }
  return typeof ctx === "object" && ctx !== null ? (ctx as { props?: unknown }).props : undefined;
}

import type { Context } from "hono";
import { z } from "zod";
import { IdentityError } from "../../policies/identity/errors.js";
import { parseSpiffeId, type SpiffeId } from "../../policies/identity/spiffe-id.js";

/**
 * The identity a Cloudflare service binding vouches for. A mesh worker that calls the gateway
 * through a binding such as
 *
 *   services = [{ binding = "EGRESS", service = "mesh-egress", props = { spiffeId = "spiffe://acme.test/ns/payments/sa/api" } }]
 *
 * reaches it with `ctx.props` set by the platform from the *caller's* deployed config: the caller's
 * code cannot change it, and a request over HTTP has no props at all. So `ctx.props.spiffeId` is
 * as trustworthy as a platform-verified client certificate, and is taken as the peer's identity.
 * Other keys of `props` are left alone (a binding may carry props for other purposes).
 */

/** How the peer was authenticated when its identity came from `ctx.props.spiffeId`. */
export const SERVICE_BINDING = "service-binding";

const BindingProps = z.object({ spiffeId: z.string({ error: "must be a string" }).optional() });

export type ServiceBindingCaller =
  | { kind: "none" }
  | { kind: "caller"; spiffeId: SpiffeId }
  /** The binding's props are misconfigured: refuse, never fall back to a weaker identity. */
  | { kind: "invalid"; code: string; message: string };

/** The caller a service binding's `ctx.props` names, if the request came through one. */
export function serviceBindingCaller(c: Context): ServiceBindingCaller {
  const props = propsOf(c);
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

/** `ctx.props`, or undefined where there is no execution context (Hono throws on `c.executionCtx` then, e.g. in `app.request` tests). */
function propsOf(c: Context): unknown {
  let ctx: unknown;
  try {
    ctx = c.executionCtx;
  } catch {
    return undefined;
  }
  return typeof ctx === "object" && ctx !== null ? (ctx as { props?: unknown }).props : undefined;
}

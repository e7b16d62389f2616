import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";

/**
 * W3C Trace Context: continue the caller's trace with a new span for the gateway, or start a
 * trace when none (or a malformed one) arrives. The upstream receives the gateway's span as parent.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function traceContext(): MiddlewareHandler<GatewayEnv> {
  return async function traceContext(c, next) {
    const stream = c.var.stream;
    const parsed = TRACEPARENT.exec(c.req.header("traceparent")?.trim() ?? "");
    const valid = parsed !== null && parsed[1] !== "ff" && !/^0+$/.test(parsed[2]!) && !/^0+$/.test(parsed[3]!);
    stream.traceId = valid ? parsed[2]! : randomHex(16);
    stream.spanId = randomHex(8);
    await next();
  };
}

/** The traceparent to send upstream: same trace, the gateway's span, the caller's sampling flag. */
export function outgoingTraceparent(incoming: string | undefined, traceId: string, spanId: string): string {
  const flags = TRACEPARENT.exec(incoming?.trim() ?? "")?.[4] ?? "01";
  return `00-${traceId}-${spanId}-${flags}`;
}

function randomHex(bytes: number): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  let hex = "";
  for (const byte of buffer) hex += byte.toString(16).padStart(2, "0");
  return /^0+$/.test(hex) ? randomHex(bytes) : hex;
}

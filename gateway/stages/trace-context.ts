import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "../context.js";
import { decideTraceSampling } from "../../policies/telemetry/sampling.js";
import { extractTraceContext, sampledOnly } from "../../policies/telemetry/trace-context.js";

/**
 * Trace context (W3C `traceparent`/`tracestate`, else B3): continue the caller's trace with a
 * new span for the gateway, or start a trace when none (or a malformed one) arrives, and decide
 * sampling: the caller's decision when it made one, else MESH_TRACE_SAMPLING percent. The
 * upstream receives each attempt's span as parent (gateway/telemetry/attempts.ts).
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function traceContext(): MiddlewareHandler<GatewayEnv> {
  return function traceContext(c, next) {
    const stream = c.get("stream");
    const header = (name: string) => c.req.header(name);
    const incoming = extractTraceContext(header);
    stream.traceId = incoming?.traceId ?? randomHex(16);
    stream.spanId = randomHex(8);
    if (incoming?.parentSpanId !== undefined) stream.parentSpanId = incoming.parentSpanId;
    if (incoming?.traceState !== undefined) stream.traceState = incoming.traceState;
    if (incoming) stream.traceFormat = incoming.format;
    stream.traceSampled = decideTraceSampling(incoming ? incoming.sampled : sampledOnly(header), c.get("settings").MESH_TRACE_SAMPLING, c.get("random"));
    return next();
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

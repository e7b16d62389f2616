import { formatB3Headers, formatB3Single, formatTraceparent, newId } from "../../policies/telemetry/trace-context.js";
import type { StreamInfo, UpstreamAttempt } from "../context.js";
import type { AttemptResult } from "../upstream/send-attempt.js";

/**
 * The router's hook for per-attempt telemetry: each try at the upstream gets its own client
 * span, recorded on the stream, and the trace headers sent with that try name it as the
 * parent, so the upstream's span hangs under the attempt that reached it (as Envoy does with
 * upstream spans). Both W3C and B3 headers go out, whichever the caller used.
 */
export function beginAttempt(stream: StreamInfo, headers: Headers, upstreamHost: string, now: number): UpstreamAttempt {
  const attempt: UpstreamAttempt = { spanId: newId(8, randomBytes), upstreamHost, startMs: now };
  (stream.attemptLog ??= []).push(attempt);
  setTraceHeaders(headers, stream, attempt.spanId);
  return attempt;
}

export function endAttempt(attempt: UpstreamAttempt, result: AttemptResult, now: number): void {
  attempt.endMs = now;
  attempt.outcome = result.kind;
  if (result.kind === "response") {
    attempt.status = result.response.status;
    const length = result.response.headers.get("content-length");
    if (length !== null && /^\d+$/.test(length)) attempt.responseBytes = Number(length);
  }
}

export function setTraceHeaders(headers: Headers, stream: StreamInfo, spanId: string): void {
  const sampled = stream.traceSampled ?? false;
  headers.set("traceparent", formatTraceparent(stream.traceId, spanId, sampled));
  if (stream.traceState !== undefined) headers.set("tracestate", stream.traceState);
  else headers.delete("tracestate");
  for (const [name, value] of Object.entries(formatB3Headers(stream.traceId, spanId, stream.spanId, sampled))) headers.set(name, value);
  headers.delete("x-b3-flags");
  if (stream.traceFormat === "b3-single") headers.set("b3", formatB3Single(stream.traceId, spanId, stream.spanId, sampled));
  else headers.delete("b3");
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

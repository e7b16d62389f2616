/**
 * Trace context on the wire: W3C Trace Context (`traceparent`, `tracestate`) and Zipkin's B3, in
 * its multi-header (`x-b3-*`) and single-header (`b3`) forms. Parsing never throws: a malformed
 * header is as good as none, and the caller starts a new trace.
 *
 * Ids are lowercase hex: trace ids 32 digits (a 64-bit B3 trace id is left-padded with zeros, as
 * B3 allows), span ids 16 digits; all-zero ids are invalid in both formats.
 */

export interface IncomingTraceContext {
  traceId: string;
  /** The caller's span: the parent of the gateway's span. Absent when B3 carried only a trace id. */
  parentSpanId?: string;
  /** The caller's sampling decision; undefined when it deferred the decision to us. */
  sampled?: boolean;
  /** W3C `tracestate`, passed on unchanged when valid. */
  traceState?: string;
  format: "w3c" | "b3" | "b3-single";
}

export type HeaderReader = (name: string) => string | null | undefined;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The incoming context, preferring W3C over B3 (a proxy that understands both keeps the W3C one),
 * or undefined when neither is present and valid. A B3 sampling-only header (`b3: 0`) returns no
 * context but its decision is reported by `sampledOnly`.
 */
export function extractTraceContext(header: HeaderReader): IncomingTraceContext | undefined {
  const w3c = parseTraceparent(header("traceparent"));
  if (w3c) {
    const traceState = parseTracestate(header("tracestate"));
    return { ...w3c, ...(traceState !== undefined ? { traceState } : {}), format: "w3c" };
  }
  const single = parseB3Single(header("b3"));
  if (single && "traceId" in single) return { ...single, format: "b3-single" };
  const multi = parseB3Multi(header);
  if (multi) return { ...multi, format: "b3" };
  return undefined;
}

/** A sampling decision sent without ids (`b3: 0`, `b3: 1`, `b3: d`, or `x-b3-sampled` alone). */
export function sampledOnly(header: HeaderReader): boolean | undefined {
  const single = parseB3Single(header("b3"));
  if (single && !("traceId" in single)) return single.sampled;
  if (header("x-b3-traceid") == null) return b3SampledFlag(header("x-b3-sampled"), header("x-b3-flags"));
  return undefined;
}

/** `version-traceid-parentid-flags`; version `ff` and all-zero ids are invalid; a future version may append fields. */
export function parseTraceparent(value: string | null | undefined): { traceId: string; parentSpanId: string; sampled: boolean } | undefined {
  const match = TRACEPARENT.exec(value?.trim() ?? "");
  if (!match) return undefined;
  const [, version, traceId, parentSpanId, flags, rest] = match;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (isZero(traceId!) || isZero(parentSpanId!)) return undefined;
  return { traceId: traceId!, parentSpanId: parentSpanId!, sampled: (parseInt(flags!, 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

const TRACESTATE_KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|(?:[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}))$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** The `tracestate` to pass on: at most 32 well-formed `key=value` members, else none at all. */
export function parseTracestate(value: string | null | undefined): string | undefined {
  if (value == null) return undefined;
  const members = value
    .split(",")
    .map((member) => member.trim())
    .filter((member) => member !== "");
  if (members.length === 0 || members.length > 32) return undefined;
  const keys = new Set<string>();
  for (const member of members) {
    const eq = member.indexOf("=");
    const key = member.slice(0, eq);
    if (eq <= 0 || !TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(eq + 1)) || keys.has(key)) return undefined;
    keys.add(key);
  }
  return members.join(",");
}

/** `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or a lone decision `0` / `1` / `d`. */
export function parseB3Single(value: string | null | undefined): { traceId: string; parentSpanId: string; sampled?: boolean } | { sampled: boolean } | undefined {
  const text = value?.trim().toLowerCase() ?? "";
  if (text === "") return undefined;
  if (text === "0") return { sampled: false };
  if (text === "1" || text === "d") return { sampled: true };
  const [traceId, spanId, decision, parent, ...extra] = text.split("-");
  const normalised = normaliseTraceId(traceId);
  if (!normalised || !spanId || !SPAN_ID.test(spanId) || isZero(spanId) || extra.length > 0) return undefined;
  if (parent !== undefined && (!SPAN_ID.test(parent) || isZero(parent))) return undefined;
  if (decision !== undefined && !["0", "1", "d"].includes(decision)) return undefined;
  return { traceId: normalised, parentSpanId: spanId, ...(decision !== undefined ? { sampled: decision !== "0" } : {}) };
}

/** `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled` (`1`/`0`/`true`/`false`) and `x-b3-flags: 1` (debug). */
export function parseB3Multi(header: HeaderReader): { traceId: string; parentSpanId: string; sampled?: boolean } | undefined {
  const traceId = normaliseTraceId(header("x-b3-traceid")?.trim().toLowerCase());
  const spanId = header("x-b3-spanid")?.trim().toLowerCase();
  if (!traceId || !spanId || !SPAN_ID.test(spanId) || isZero(spanId)) return undefined;
  const sampled = b3SampledFlag(header("x-b3-sampled"), header("x-b3-flags"));
  return { traceId, parentSpanId: spanId, ...(sampled !== undefined ? { sampled } : {}) };
}

/** The B3 headers for the next hop: the gateway's span is the callee's parent. */
export function formatB3Headers(traceId: string, spanId: string, parentSpanId: string | undefined, sampled: boolean): Record<string, string> {
  return {
    "x-b3-traceid": traceId,
    "x-b3-spanid": spanId,
    ...(parentSpanId !== undefined ? { "x-b3-parentspanid": parentSpanId } : {}),
    "x-b3-sampled": sampled ? "1" : "0",
  };
}

export function formatB3Single(traceId: string, spanId: string, parentSpanId: string | undefined, sampled: boolean): string {
  return `${traceId}-${spanId}-${sampled ? "1" : "0"}${parentSpanId !== undefined ? `-${parentSpanId}` : ""}`;
}

/** A new id from `bytes` random bytes (16 for a trace, 8 for a span), never all zeros. */
export function newId(bytes: 8 | 16, randomBytes: (length: number) => Uint8Array): string {
  for (;;) {
    let hex = "";
    for (const byte of randomBytes(bytes)) hex += byte.toString(16).padStart(2, "0");
    if (!isZero(hex)) return hex;
  }
}

function b3SampledFlag(sampled: string | null | undefined, flags: string | null | undefined): boolean | undefined {
  if (flags?.trim() === "1") return true;
  const value = sampled?.trim().toLowerCase();
  if (value === "1" || value === "true") return true;
  if (value === "0" || value === "false") return false;
  return undefined;
}

function normaliseTraceId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const padded = value.length === 16 ? value.padStart(32, "0") : value;
  return TRACE_ID.test(padded) && !isZero(padded) ? padded : undefined;
}

function isZero(hex: string): boolean {
  return /^0+$/.test(hex);
}

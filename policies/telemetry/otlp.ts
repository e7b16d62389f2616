/**
 * Spans as OTLP/HTTP JSON (`POST /v1/traces`, `content-type: application/json`): the protobuf
 * `ExportTraceServiceRequest` in its JSON mapping. Ids are lowercase hex (OTLP/JSON's exception
 * to base64), 64-bit integers are decimal strings, enums are numbers.
 */

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue | undefined | null>>;

export type SpanKind = "internal" | "server" | "client";

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: SpanKind;
  /** Milliseconds since the Unix epoch. */
  startMs: number;
  endMs: number;
  attributes: Attributes;
  /** `error` with a message when the span failed; `unset` otherwise, as OpenTelemetry recommends for servers. */
  status: { code: "unset" | "ok" | "error"; message?: string };
  events?: readonly { name: string; timeMs: number; attributes?: Attributes }[];
}

export interface InstrumentationScope {
  name: string;
  version?: string;
}

const KIND = { internal: 1, server: 2, client: 3 } as const;
const STATUS = { unset: 0, ok: 1, error: 2 } as const;

export function encodeOtlpTraces(resource: Attributes, scope: InstrumentationScope, spans: readonly SpanRecord[]): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: encodeAttributes(resource) },
        scopeSpans: [{ scope: { name: scope.name, ...(scope.version !== undefined ? { version: scope.version } : {}) }, spans: spans.map(encodeSpan) }],
      },
    ],
  };
}

function encodeSpan(span: SpanRecord): Record<string, unknown> {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.parentSpanId !== undefined ? { parentSpanId: span.parentSpanId } : {}),
    ...(span.traceState !== undefined ? { traceState: span.traceState } : {}),
    name: span.name,
    kind: KIND[span.kind],
    startTimeUnixNano: unixNano(span.startMs),
    endTimeUnixNano: unixNano(Math.max(span.startMs, span.endMs)),
    attributes: encodeAttributes(span.attributes),
    ...(span.events?.length
      ? { events: span.events.map((event) => ({ name: event.name, timeUnixNano: unixNano(event.timeMs), attributes: encodeAttributes(event.attributes ?? {}) })) }
      : {}),
    status: { code: STATUS[span.status.code], ...(span.status.message !== undefined ? { message: span.status.message } : {}) },
  };
}

/** Attributes with no value are left out, as OpenTelemetry SDKs do. */
export function encodeAttributes(attributes: Attributes): { key: string; value: Record<string, unknown> }[] {
  const encoded: { key: string; value: Record<string, unknown> }[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    encoded.push({ key, value: encodeValue(value) });
  }
  return encoded;
}

function encodeValue(value: AttributeValue): Record<string, unknown> {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
}

/** Milliseconds (possibly fractional) to integer nanoseconds, as a decimal string. */
export function unixNano(ms: number): string {
  const micros = BigInt(Math.round(ms * 1000));
  return String(micros * 1000n);
}

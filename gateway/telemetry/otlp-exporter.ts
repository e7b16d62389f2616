import { encodeOtlpTraces, type Attributes, type SpanRecord } from "../../policies/telemetry/otlp.js";

/**
 * Exports spans over OTLP/HTTP JSON, batched per isolate and always off the response path: a
 * request queues its spans and hands `flushSoon()` to `waitUntil`. The flush waits a moment so
 * that spans of requests finishing meanwhile travel in the same POST; each POST is made by the
 * request that flushes (Workers forbid waiting on another request's I/O). A full queue drops the
 * oldest spans, and a failing collector costs one log line a minute, never an error to a client.
 */
export interface OtlpExporterOptions {
  endpoint: string;
  headers?: Record<string, string>;
  resource: Attributes;
  scope: { name: string; version?: string };
  fetcher: typeof fetch;
  log: (line: Record<string, unknown>) => void;
  now: () => number;
  /** How long a flush waits for more spans (default 50 ms). */
  batchDelayMs?: number;
  /** Spans per POST (default 512) and spans held at most (default 4096). */
  maxBatch?: number;
  maxQueue?: number;
  timeoutMs?: number;
  onExported?: (count: number) => void;
  onDropped?: (count: number, reason: "queue_full" | "export_failed") => void;
}

export class OtlpExporter {
  private queue: SpanRecord[] = [];
  private lastFailureLogMs = Number.NEGATIVE_INFINITY;
  private readonly batchDelayMs: number;
  private readonly maxBatch: number;
  private readonly maxQueue: number;

  constructor(private readonly options: OtlpExporterOptions) {
    this.batchDelayMs = options.batchDelayMs ?? 50;
    this.maxBatch = options.maxBatch ?? 512;
    this.maxQueue = options.maxQueue ?? 4096;
  }

  get queued(): number {
    return this.queue.length;
  }

  enqueue(spans: readonly SpanRecord[]): void {
    this.queue.push(...spans);
    const excess = this.queue.length - this.maxQueue;
    if (excess > 0) {
      this.queue.splice(0, excess);
      this.options.onDropped?.(excess, "queue_full");
    }
  }

  /** Waits for the batch to fill a little, then sends everything queued; resolves, never rejects. */
  async flushSoon(): Promise<void> {
    if (this.queue.length < this.maxBatch) await new Promise((resolve) => setTimeout(resolve, this.batchDelayMs));
    await this.flush();
  }

  async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      await this.send(batch);
    }
  }

  private async send(batch: SpanRecord[]): Promise<void> {
    const body = JSON.stringify(encodeOtlpTraces(this.options.resource, this.options.scope, batch));
    try {
      const response = await this.options.fetcher(this.options.endpoint, {
        method: "POST",
        headers: { ...this.options.headers, "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`collector answered ${response.status}`);
      this.options.onExported?.(batch.length);
    } catch (error) {
      this.options.onDropped?.(batch.length, "export_failed");
      const now = this.options.now();
      if (now - this.lastFailureLogMs >= 60_000) {
        this.lastFailureLogMs = now;
        // The endpoint's URL only: its headers may hold the collector's credentials.
        this.options.log({ event: "otlp_export_failed", endpoint: this.options.endpoint, spans: batch.length, reason: (error as Error).message });
      }
    }
  }
}

/** `name=value,name2=value2` (OTEL_EXPORTER_OTLP_HEADERS style; values may be percent-encoded). */
export function parseHeaderList(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      if (pair.trim() !== "") throw new TypeError("MESH_OTLP_HEADERS: each entry must be name=value");
      continue;
    }
    headers[pair.slice(0, eq).trim().toLowerCase()] = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  return headers;
}

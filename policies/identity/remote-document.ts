/**
 * A JSON document fetched from a URL and cached: a JWKS (`jwksUri`) or a SPIFFE bundle
 * (`spiffeBundleUrl`). Like jose's remote key set, it caches, cools down between fetches and
 * refreshes when a caller meets an unknown key; unlike it, a failed fetch never drops the last
 * good document (traffic keeps flowing on the keys it has), and a stale document can be
 * refreshed in the background while the cached one keeps serving.
 *
 * Nothing here reads a clock or the network by itself: `now` is passed in, `fetch` is injected.
 */

export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

export interface RemoteDocumentOptions<T> {
  url: string;
  fetch: Fetcher;
  /** Turns the fetched JSON into a document; throws if it is unusable (the last good one is kept). */
  parse: (json: unknown) => T;
  /** How long a document is fresh; default 5 min (the SPIFFE bundle spec's suggested default). */
  maxAgeMs?: number;
  /** A per-document freshness (e.g. a bundle's `spiffe_refresh_hint`), clamped to [cooldownMs, 24 h]. */
  freshnessOf?: (document: T) => number | undefined;
  /** The least time between two fetches; default 30 s. */
  cooldownMs?: number;
  /** Default 5 s. */
  timeoutMs?: number;
  /** Default 256 KiB. */
  maxBytes?: number;
  /** Builds the abort signal of one fetch; default `AbortSignal.timeout(timeoutMs)`. */
  signal?: (timeoutMs: number) => AbortSignal;
  /** Told about every failed fetch (the last good document stays in use). */
  onError?: (message: string) => void;
}

export interface GetOptions {
  /**
   * The caller met a key it does not know: refetch now, unless such a refresh already happened
   * within the cooldown (so a flood of made-up `kid`s costs one fetch per cooldown). Only these
   * refreshes count: a routine load just before a key rotation never delays its pickup.
   */
  refresh?: boolean;
  /** Given (e.g. `ctx.waitUntil`), a stale document is refreshed in the background and the cached one returned at once. */
  background?: (work: Promise<unknown>) => void;
}

const DAY_MS = 86_400_000;
const MAX_CONCURRENT_REFRESHES = 4;

export class RemoteDocument<T> {
  private document: T | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private refreshesInFlight = 0;
  /** Why the last fetch failed (cleared by a success). */
  lastError: string | undefined;
  /** Incremented on every successful fetch: part of cache keys derived from this document. */
  generation = 0;
  private readonly maxAgeMs: number;
  private readonly cooldownMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly options: RemoteDocumentOptions<T>) {
    this.maxAgeMs = options.maxAgeMs ?? 300_000;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxBytes = options.maxBytes ?? 256 * 1024;
    for (const [name, value] of Object.entries({ maxAgeMs: this.maxAgeMs, cooldownMs: this.cooldownMs, timeoutMs: this.timeoutMs, maxBytes: this.maxBytes })) {
      if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a non-negative number`);
    }
  }

  get url(): string {
    return this.options.url;
  }

  /** The cached document, without any fetch. */
  peek(): T | undefined {
    return this.document;
  }

  /** The document to use now: loaded if there is none, refreshed if stale or asked to, else cached. */
  async get(now: number, options: GetOptions = {}): Promise<T | undefined> {
    const cooled = now - this.attemptedAt >= this.cooldownMs;
    if (this.document === undefined) {
      // Nothing to serve with: every caller may fetch (a cold isolate must not fail the requests
      // that arrive together), but after a failure only once per cooldown.
      if (this.lastError !== undefined && !cooled) return undefined;
      await this.load(now);
      return this.document;
    }
    if (options.refresh) {
      // Concurrent requests carrying the new key each wait for a fetch of their own (a request
      // must not wait on I/O another request started), but only a few at once.
      if (now - this.refreshedAt >= this.cooldownMs && this.refreshesInFlight < MAX_CONCURRENT_REFRESHES) {
        this.refreshesInFlight++;
        try {
          await this.load(now);
        } finally {
          this.refreshesInFlight--;
        }
        this.refreshedAt = now;
      }
      return this.document;
    }
    if (now - this.fetchedAt >= this.freshness(this.document) && cooled) {
      if (options.background) {
        options.background(this.load(now));
        return this.document;
      }
      await this.load(now);
    }
    return this.document;
  }

  private freshness(document: T): number {
    const hinted = this.options.freshnessOf?.(document);
    if (hinted === undefined) return this.maxAgeMs;
    return Math.min(Math.max(hinted, this.cooldownMs), DAY_MS);
  }

  private async load(now: number): Promise<void> {
    this.attemptedAt = now;
    try {
      const signal = (this.options.signal ?? ((ms: number) => AbortSignal.timeout(ms)))(this.timeoutMs);
      // Redirects are not followed (a key source that moves is a configuration change); Workers
      // only know "follow" and "manual", and a 3xx is not ok below.
      const response = await this.options.fetch(this.options.url, { method: "GET", headers: { accept: "application/json" }, redirect: "manual", signal });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      const declared = Number(response.headers.get("content-length") ?? "0");
      if (declared > this.maxBytes) {
        await response.body?.cancel();
        throw new Error(`document of ${declared} bytes exceeds ${this.maxBytes}`);
      }
      const text = await readBounded(response, this.maxBytes);
      const parsed = this.options.parse(JSON.parse(text) as unknown);
      this.document = parsed;
      this.fetchedAt = now;
      this.generation++;
      this.lastError = undefined;
    } catch (error) {
      this.lastError = `${this.options.url}: ${(error as Error).message}`;
      this.options.onError?.(this.lastError);
    }
  }
}

async function readBounded(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new Error(`document exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

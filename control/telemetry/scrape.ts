/**
 * One scrape of a gateway's `/__mesh/metrics`, as Prometheus makes it: a GET with the metrics
 * token as a bearer token when one is set (MESH_METRICS_TOKEN on the gateway), a deadline, and
 * every failure turned into a reason a person can act on. Used by `meshctl top` (over the network)
 * and by the dashboard's data endpoint (over the network or a service binding).
 */

export const METRICS_PATH = "/__mesh/metrics";

export type ScrapeResult =
  | { ok: true; text: string; atMs: number }
  | { ok: false; reason: "unauthorized" | "http_error" | "unreachable"; status?: number; message: string };

export interface ScrapeOptions {
  /** The gateway's base URL (its origin); the metrics path is appended. */
  url: string;
  token?: string | undefined;
  fetch?: (input: Request) => Promise<Response>;
  timeoutMs?: number;
  now?: () => number;
}

export async function scrapeMetrics(options: ScrapeOptions): Promise<ScrapeResult> {
  const url = new URL(METRICS_PATH, options.url);
  const headers: Record<string, string> = { accept: "text/plain;version=0.0.4" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    const request = new Request(url, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
    response = await (options.fetch ?? ((input: Request) => fetch(input)))(request);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const name = (error as Error).name;
    const reason = name === "TimeoutError" ? `no answer within ${options.timeoutMs ?? 5000} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
    return { ok: false, reason: "unreachable", message: `cannot reach ${url.href} (${reason})` };
  }
  const text = await response.text().catch(() => "");
  if (response.status === 401) {
    return { ok: false, reason: "unauthorized", status: 401, message: `${url.href} needs the gateway's metrics token (MESH_METRICS_TOKEN)${options.token ? ", and refused the one given" : ""}` };
  }
  if (!response.ok) return { ok: false, reason: "http_error", status: response.status, message: `${url.href} answered ${response.status}: ${text.slice(0, 200)}` };
  return { ok: true, text, atMs: (options.now ?? Date.now)() };
}

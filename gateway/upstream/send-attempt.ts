/**
 * One try at an upstream: a fetch with its own deadline. The outcome says what happened in
 * the terms retry policies and outlier detection use, never as an exception.
 */
export type AttemptResult =
  | { kind: "response"; response: Response }
  | { kind: "connect-failure"; message: string }
  | { kind: "per-try-timeout" }
  | { kind: "route-timeout" };

export interface AttemptRequest {
  url: string;
  method: string;
  headers: Headers;
  body: ArrayBuffer | ReadableStream<Uint8Array> | null;
  /** Milliseconds this try may take, and which limit that is (the per-try or the route timeout). */
  timeoutMs: number | undefined;
  timeoutKind: "per-try-timeout" | "route-timeout";
}

export async function sendAttempt(request: AttemptRequest, fetcher: typeof fetch): Promise<AttemptResult> {
  const controller = new AbortController();
  let timedOut = false;
  const timer =
    request.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, Math.max(0, request.timeoutMs))
      : undefined;
  try {
    const response = await fetcher(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
    if (timer === undefined) return { kind: "response", response };
    // The timeout covers the whole response, as Envoy's does: read the body before the deadline.
    const body = await response.arrayBuffer();
    return { kind: "response", response: new Response(body, response) };
  } catch (error) {
    if (timedOut) return { kind: request.timeoutKind };
    return { kind: "connect-failure", message: (error as Error).message };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

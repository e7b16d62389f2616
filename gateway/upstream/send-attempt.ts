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
  let response: Response;
  try {
    response = await fetcher(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch (error) {
    if (timer !== undefined) clearTimeout(timer);
    if (timedOut) return { kind: request.timeoutKind };
    return { kind: "connect-failure", message: (error as Error).message };
  }
  // The timeout covers the whole response, as Envoy's does, without holding it back: the body
  // streams straight through (the runtime pumps it, no byte passes through JavaScript), and the
  // timer stays armed, so a body still flowing at the deadline is cut by the same abort signal
  // (it errors the fetch's body: the client's read fails, the upstream's is cancelled). Once the
  // body is complete the abort changes nothing (a body-less answer disarms the timer at once;
  // Workers scope a timer to its request). Clearing the timer when the body ends would need a
  // stream watching the body (an identity stream and pipeTo): measured, that cost more CPU per
  // request than the buffering it replaced (docs/performance.md).
  if (timer !== undefined && response.body === null) clearTimeout(timer);
  return { kind: "response", response };
}

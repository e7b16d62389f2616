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
  if (timer === undefined) return { kind: "response", response };
  if (response.body === null) {
    clearTimeout(timer);
    return { kind: "response", response };
  }
  return { kind: "response", response: new Response(deadlineBody(response.body, controller.signal, () => clearTimeout(timer)), response) };
}

/**
 * The timeout covers the whole response, as Envoy's does, without holding it back: the body
 * streams through as it arrives, and a body still flowing at the deadline is cut (the abort
 * errors what the client reads and cancels the upstream's body). The timer is cleared when the
 * body ends, is cut, or is cancelled by the client. `pipeTo` into an identity stream keeps the
 * bytes out of JavaScript in workerd.
 */
function deadlineBody(body: ReadableStream<Uint8Array>, signal: AbortSignal, done: () => void): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  body.pipeTo(writable, { signal }).then(done, done);
  return readable;
}

import type { Context } from "hono";
import type { GatewayEnv } from "../context.js";

/**
 * Calls `done` with the response body's size once it is known: at once when the response
 * declares its length (or has no body), else when a streamed body has passed through (counted
 * on the way, in `waitUntil`), or after 30 s if the client went away mid-body. The body is
 * wrapped once per request however many stages ask (access log, metrics).
 */
const streamedSizes = new WeakMap<Request, Promise<{ bytes: number; endMs: number }>>();

export function whenResponseSent(c: Context<GatewayEnv>, now: () => number, done: (bytes: number, endMs: number) => void): void {
  const declared = c.res.headers.get("content-length");
  const body = c.res.body;
  let measured = streamedSizes.get(c.req.raw);
  if (!measured && (declared !== null || body === null)) {
    done(Number(declared ?? 0), now());
    return;
  }
  if (!measured) {
    let bytes = 0;
    let finished!: () => void;
    const ended = new Promise<void>((resolve) => (finished = resolve));
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush: () => finished(),
    });
    c.res = new Response(body!.pipeThrough(counter), c.res);
    measured = Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 30_000))]).then(() => ({ bytes, endMs: now() }));
    streamedSizes.set(c.req.raw, measured);
  }
  c.executionCtx.waitUntil(measured.then(({ bytes, endMs }) => done(bytes, endMs)));
}

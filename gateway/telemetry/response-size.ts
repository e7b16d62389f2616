import type { Context } from "hono";
import type { GatewayEnv } from "../context.js";

/**
 * Calls `done` with the response body's size once it is known: at once when the response
 * declares its length (or has no body), else when a streamed body has passed through (counted
 * on the way, in `waitUntil`), or after 30 s if the client went away mid-body.
 */
export function whenResponseSent(c: Context<GatewayEnv>, now: () => number, done: (bytes: number, endMs: number) => void): void {
  const declared = c.res.headers.get("content-length");
  const body = c.res.body;
  if (declared !== null || body === null) {
    done(Number(declared ?? 0), now());
    return;
  }
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
  c.res = new Response(body.pipeThrough(counter), c.res);
  c.executionCtx.waitUntil(Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 30_000))]).then(() => done(bytes, now())));
}

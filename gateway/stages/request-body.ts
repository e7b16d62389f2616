import type { MiddlewareHandler } from "hono";
import type { GatewayEnv, RequestBody } from "../context.js";

/**
 * Buffers a request body up to a bound so retries and mirrors can replay it, as Envoy buffers
 * for retries. A larger body is streamed through once: such a request is not retried.
 */
export function requestBody(): MiddlewareHandler<GatewayEnv> {
  return async function requestBody(c, next) {
    c.set("body", await readBody(c.req.raw, c.get("settings").MESH_MAX_BUFFERED_BODY_BYTES));
    await next();
  };
}

export async function readBody(request: Request, limit: number): Promise<RequestBody> {
  if (request.body === null || request.method === "GET" || request.method === "HEAD") return { kind: "none" };
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) return { kind: "stream", stream: request.body };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > limit) {
      // Too big to replay: hand on what was read, followed by the rest, as one stream.
      return { kind: "stream", stream: concatStream(chunks, reader) };
    }
  }
  if (size === 0) return { kind: "none" };
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { kind: "buffered", bytes: bytes.buffer };
}

function concatStream(head: Uint8Array[], rest: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (index < head.length) {
        controller.enqueue(head[index++]!);
        return;
      }
      const { done, value } = await rest.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return rest.cancel(reason);
    },
  });
}

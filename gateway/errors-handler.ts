import type { ErrorHandler } from "hono";
import type { GatewayEnv } from "./context.js";
import { GatewayError } from "./errors.js";

/** Renders every refusal in one JSON shape (`error`, `message`, `flags`, and `route` once a route matched), and records its flag and detail for the access log. */
export function renderGatewayError(log: (line: Record<string, unknown>) => void): ErrorHandler<GatewayEnv> {
  return function renderGatewayError(error, c) {
    const stream = c.get("stream");
    if (error instanceof GatewayError) {
      if (error.flag && !stream.flags.includes(error.flag)) stream.flags.push(error.flag);
      stream.detail = error.detail;
      // The route's name, once one matched (a VirtualService http[].name, or the index-based default), says which rule answered.
      const body = { error: error.detail, message: error.message, flags: stream.flags.join(",") || "-", ...(stream.routeName !== undefined ? { route: stream.routeName } : {}) };
      return c.json(body, error.status as 500, error.headers);
    }
    stream.detail = "internal_error";
    log({ event: "internal_error", request_id: stream.requestId, message: (error as Error).message, stack: (error as Error).stack });
    return c.json({ error: "internal_error", message: "the gateway failed to handle this request" }, 500);
  };
}

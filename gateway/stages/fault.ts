import type { MiddlewareHandler } from "hono";
import { decideFault } from "../../policies/resilience/fault.js";
import type { GatewayEnv } from "../context.js";
import { GatewayError } from "../errors.js";

/** Istio's HTTPFaultInjection: a delay (`DI`) and/or an abort (`FI`), each with its own percentage. */
export function fault(sleep: (ms: number) => Promise<void>): MiddlewareHandler<GatewayEnv> {
  return async function fault(c, next) {
    const decision = decideFault(c.get("route").route.fault, c.get("random"));
    if (decision.delayMs !== undefined) {
      c.get("stream").flags.push("DI");
      await sleep(decision.delayMs);
    }
    if (decision.abortStatus !== undefined) {
      throw new GatewayError(decision.abortStatus, "FI", "fault_filter_abort", "fault filter abort");
    }
    await next();
  };
}

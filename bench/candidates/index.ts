import type { CandidateSpec } from "./candidate.js";
import { direct } from "./direct.js";
import { nginx } from "./nginx.js";
import { nodeProxy } from "./node-proxy.js";
import { gatewayFull, gatewayMinimal, workerdPassthrough } from "./workerd.js";

/** Every candidate, in the order of the report: the floor, the runtime's limit, the gateway, the alternatives. */
export const CANDIDATES: readonly CandidateSpec[] = [direct, workerdPassthrough, gatewayMinimal, gatewayFull, nginx, nodeProxy];

/** `explain`: why a request gets the answer it gets, over one snapshot. */
export { explainRequest, ExplainInputError, DEFAULT_GATEWAY_LABELS, type ExplainOptions } from "./explain.js";
export { firstFailedCondition, describeMatch } from "./conditions.js";
export { buildRequestView } from "./request.js";
export * from "./schema.js";

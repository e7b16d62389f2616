/**
 * A stage refuses a request by throwing a GatewayError; one error handler turns it into the
 * response. Like Envoy, each refusal carries a response flag and a machine-readable detail.
 */
export type ResponseFlag =
  | "NR"
  | "UH"
  | "UF"
  | "UT"
  | "URX"
  | "UC"
  | "FI"
  | "DI"
  | "NC"
  | "RL"
  | "UO"
  | "DC"
  /** Denied by an AuthorizationPolicy. */
  | "RBAC"
  /** Refused by authentication: a peer certificate or a token that failed, or a missing required one. */
  | "UAEX";

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly flag: ResponseFlag | undefined,
    readonly detail: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }
}

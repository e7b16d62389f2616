/** What authorization sees of a request: a typed view, independent of any runtime's Request. */
export interface AuthzRequest {
  /** Lowercase host without port. */
  host: string;
  /** The Host header as received (lowercase, may carry a port). */
  authority: string;
  port: number;
  method: string;
  /** The normalised path, without the query string (the same path routing used). */
  path: string;
  /** The route matched the path case-insensitively (`ignoreUriCase`): paths are then compared that way here too. */
  pathIgnoreCase?: boolean;
  /** Lowercase names; identity headers the gateway owns have already been removed. */
  header(name: string): string | null;
  /** The direct peer's address. */
  sourceIp?: string | undefined;
  /** The original client's address (through a trusted front proxy), else the direct peer's. */
  remoteIp?: string | undefined;
  peer?: PeerIdentity | undefined;
  requestAuth?: RequestAuth | undefined;
}

export interface PeerIdentity {
  /** The SPIFFE ID without `spiffe://` (Istio's principal form), e.g. `acme.test/ns/shop/sa/frontend`. */
  principal: string;
  trustDomain: string;
  /** From the Istio path convention `/ns/<ns>/sa/<sa>`, when the ID follows it. */
  namespace?: string | undefined;
  /** `<ns>/<sa>`, when the ID follows the convention. */
  serviceAccount?: string | undefined;
}

export interface RequestAuth {
  /** `<iss>/<sub>` of the verified end-user token. */
  principal: string;
  claims: Record<string, unknown>;
  audiences: string[];
  presenter?: string | undefined;
}

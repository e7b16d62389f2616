/** The egress gateway's pure lookups: where an outbound call goes, and which EgressCredential applies. */
export * from "./outbound.js";
export { EgressCredentialTable } from "./credentials.js";

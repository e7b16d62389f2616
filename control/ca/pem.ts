import { base64ToBytes, bytesToBase64 } from "../../policies/identity/encoding.js";

/** PEM blocks (RFC 7468) over Web APIs only: private keys (PKCS#8) and their labels. */

export function toPem(label: string, der: Uint8Array | ArrayBuffer): string {
  const lines = bytesToBase64(der instanceof Uint8Array ? der : new Uint8Array(der)).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The DER of the first `label` block, or undefined when there is none or it is not base64. */
export function fromPem(label: string, text: string): Uint8Array<ArrayBuffer> | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(text);
  return match ? base64ToBytes(match[1]!.replace(/\s+/g, "")) : undefined;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", key));
}

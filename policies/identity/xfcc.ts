import { XfccError } from "./errors.js";
import { pemCertificatesToDer } from "./encoding.js";

/**
 * Envoy's `x-forwarded-client-cert` (XFCC) header, parsed and formatted exactly as Envoy does:
 *
 * - elements (one per proxy hop) are separated by `,`; the last one was added by the nearest hop;
 * - an element is `;`-separated `Key=Value` pairs; keys are case-insensitive (By, Hash, Cert,
 *   Chain, Subject, URI, DNS), values case-sensitive;
 * - a value containing `,`, `;` or `=` is double-quoted, and a `"` inside it is written `\"`
 *   (Envoy always quotes Subject);
 * - Cert and Chain are URL-encoded PEM; Chain is the whole chain including the leaf;
 *   URI and DNS may repeat (one pair per SAN).
 */

export interface XfccElement {
  by: string[];
  hash?: string;
  cert?: string;
  chain?: string;
  subject?: string;
  uri: string[];
  dns: string[];
}

export const MAX_XFCC_BYTES = 64 * 1024;
export const MAX_XFCC_ELEMENTS = 16;

/** Parses a whole XFCC header value into its elements, in order. Throws ERR_XFCC_SYNTAX. */
export function parseXfcc(value: string): XfccElement[] {
  if (value.length > MAX_XFCC_BYTES) throw new XfccError("ERR_XFCC_SYNTAX", `the XFCC header is longer than ${MAX_XFCC_BYTES} bytes`);
  const elements: XfccElement[] = [];
  let element: XfccElement = emptyElement();
  let pairs = 0;
  let index = 0;
  const length = value.length;
  const finishElement = () => {
    if (pairs === 0) throw new XfccError("ERR_XFCC_SYNTAX", `empty XFCC element at offset ${index}`);
    elements.push(element);
    if (elements.length > MAX_XFCC_ELEMENTS) throw new XfccError("ERR_XFCC_SYNTAX", `more than ${MAX_XFCC_ELEMENTS} XFCC elements`);
    element = emptyElement();
    pairs = 0;
  };
  while (index <= length) {
    index = skipSpaces(value, index);
    // Key: up to '='.
    const keyStart = index;
    while (index < length && value[index] !== "=" && value[index] !== ";" && value[index] !== "," && value[index] !== '"') index++;
    if (value[index] !== "=") throw new XfccError("ERR_XFCC_SYNTAX", `expected 'Key=Value' at offset ${keyStart}`);
    const key = value.slice(keyStart, index).trim();
    if (key === "") throw new XfccError("ERR_XFCC_SYNTAX", `empty key at offset ${keyStart}`);
    index++; // '='
    let text: string;
    if (value[index] === '"') {
      index++;
      let out = "";
      for (;;) {
        if (index >= length) throw new XfccError("ERR_XFCC_SYNTAX", `unterminated quoted value for '${key}'`);
        const char = value[index]!;
        if (char === "\\" && value[index + 1] === '"') {
          out += '"';
          index += 2;
        } else if (char === '"') {
          index++;
          break;
        } else {
          out += char;
          index++;
        }
      }
      text = out;
      index = skipSpaces(value, index);
      if (index < length && value[index] !== ";" && value[index] !== ",") {
        throw new XfccError("ERR_XFCC_SYNTAX", `unexpected character after the quoted value of '${key}' at offset ${index}`);
      }
    } else {
      const start = index;
      while (index < length && value[index] !== ";" && value[index] !== ",") {
        if (value[index] === '"' || value[index] === "=") throw new XfccError("ERR_XFCC_SYNTAX", `unquoted value of '${key}' contains '${value[index]}' at offset ${index}`);
        index++;
      }
      text = value.slice(start, index).trim();
    }
    addPair(element, key, text);
    pairs++;
    if (index >= length) {
      finishElement();
      break;
    }
    const separator = value[index];
    index++;
    if (separator === ",") finishElement();
    else if (index >= length) throw new XfccError("ERR_XFCC_SYNTAX", "trailing ';'");
  }
  return elements;
}

function addPair(element: XfccElement, key: string, value: string): void {
  const name = key.toLowerCase();
  switch (name) {
    case "by":
      element.by.push(value);
      return;
    case "uri":
      element.uri.push(value);
      return;
    case "dns":
      element.dns.push(value);
      return;
    case "hash":
    case "cert":
    case "chain":
    case "subject": {
      if (element[name] !== undefined) throw new XfccError("ERR_XFCC_SYNTAX", `'${key}' appears twice in one XFCC element`);
      element[name] = value;
      return;
    }
    default:
      // Unknown keys are tolerated (newer Envoy versions may add some) and ignored.
      return;
  }
}

function emptyElement(): XfccElement {
  return { by: [], uri: [], dns: [] };
}

function skipSpaces(value: string, index: number): number {
  while (value[index] === " " || value[index] === "\t") index++;
  return index;
}

/** Formats one element as Envoy does: By, Hash, Cert, Chain, Subject (always quoted), URI, DNS. */
export function formatXfccElement(element: Partial<XfccElement>): string {
  const pairs: string[] = [];
  for (const by of element.by ?? []) pairs.push(`By=${quoteIfNeeded(by)}`);
  if (element.hash !== undefined) pairs.push(`Hash=${quoteIfNeeded(element.hash)}`);
  if (element.cert !== undefined) pairs.push(`Cert=${quoteIfNeeded(element.cert)}`);
  if (element.chain !== undefined) pairs.push(`Chain=${quoteIfNeeded(element.chain)}`);
  if (element.subject !== undefined) pairs.push(`Subject=${quote(element.subject)}`);
  for (const uri of element.uri ?? []) pairs.push(`URI=${quoteIfNeeded(uri)}`);
  for (const dns of element.dns ?? []) pairs.push(`DNS=${quoteIfNeeded(dns)}`);
  return pairs.join(";");
}

export function formatXfcc(elements: readonly Partial<XfccElement>[]): string {
  return elements.map(formatXfccElement).join(",");
}

function quoteIfNeeded(value: string): string {
  return /[,;="]/.test(value) ? quote(value) : value;
}

function quote(value: string): string {
  return `"${value.replace(/"/g, '\\"')}"`;
}

/** URL-encodes a PEM as Envoy does for Cert and Chain. */
export function urlEncodePem(pem: string): string {
  return encodeURIComponent(pem);
}

/**
 * The certificates an element carries, leaf first: Chain (which includes the leaf) if present,
 * else Cert. When both are present, Chain must start with Cert. Undefined when the element
 * carries no certificate (a URI alone is a claim, not something the gateway can verify).
 */
export function certificatesFromXfcc(element: XfccElement): Uint8Array<ArrayBuffer>[] | undefined {
  const cert = element.cert !== undefined ? decodePemValue(element.cert, "Cert") : undefined;
  const chain = element.chain !== undefined ? decodePemValue(element.chain, "Chain") : undefined;
  if (cert && cert.length !== 1) throw new XfccError("ERR_XFCC_CERT", `XFCC Cert must hold exactly one certificate (got ${cert.length})`);
  if (chain) {
    if (chain.length === 0) throw new XfccError("ERR_XFCC_CERT", "XFCC Chain holds no certificate");
    if (cert && !sameBytes(cert[0]!, chain[0]!)) throw new XfccError("ERR_XFCC_CHAIN_MISMATCH", "XFCC Chain does not start with the certificate in Cert");
    return chain;
  }
  return cert;
}

function decodePemValue(value: string, key: string): Uint8Array<ArrayBuffer>[] {
  let pem: string;
  try {
    pem = decodeURIComponent(value);
  } catch {
    throw new XfccError("ERR_XFCC_CERT", `XFCC ${key} is not valid URL encoding`);
  }
  const ders = pemCertificatesToDer(pem);
  if (!ders) throw new XfccError("ERR_XFCC_CERT", `XFCC ${key} holds a PEM block that is not base64`);
  if (ders.length === 0) throw new XfccError("ERR_XFCC_CERT", `XFCC ${key} holds no PEM certificate`);
  return ders;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

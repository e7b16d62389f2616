import https from "node:https";
import { Readable } from "node:stream";

/**
 * A local stand-in for Cloudflare's `mtls_certificates` binding. Deployed, the binding is a
 * Fetcher whose `fetch` opens the TLS connection itself and presents the uploaded client
 * certificate; workerd has no such binding, and Miniflare drops the TLS options of an external
 * service binding, so locally a Miniflare service binding of the same name runs this function
 * in Node: it makes the real mutual-TLS request with the given keypair, verifying the server
 * against `trustedCertificates` (default: Node's trust store), and answers with the response.
 */
export interface MtlsStandInOptions {
  /** PEM: the client certificate, then any intermediates. */
  certificateChain: string;
  /** PEM (PKCS#8 or traditional) private key of the certificate. */
  privateKey: string;
  /** PEM CA certificates the server's certificate must chain to; default Node's trust store. */
  trustedCertificates?: string[];
}

export function mtlsCertificateStandIn(options: MtlsStandInOptions): (request: Request) => Promise<Response> {
  const agent = new https.Agent({
    keepAlive: true,
    cert: options.certificateChain,
    key: options.privateKey,
    ...(options.trustedCertificates ? { ca: options.trustedCertificates } : {}),
  });
  return async (request) => {
    const url = new URL(request.url);
    if (url.protocol !== "https:") return new Response(`the mtls_certificates stand-in only makes https requests (got ${url.protocol})`, { status: 502 });
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      // Host follows the URL, as a Worker's fetch does.
      if (name !== "host") headers[name] = value;
    });
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    return new Promise<Response>((resolve, reject) => {
      const outgoing = https.request(url, { method: request.method, headers, agent }, (incoming) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          if (value === undefined) continue;
          for (const item of Array.isArray(value) ? value : [value]) responseHeaders.append(name, item);
        }
        const status = incoming.statusCode ?? 502;
        const nullBody = status === 204 || status === 304 || request.method === "HEAD";
        if (nullBody) incoming.resume();
        resolve(new Response(nullBody ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), { status, headers: responseHeaders }));
      });
      outgoing.on("error", reject);
      outgoing.end(body);
    });
  };
}

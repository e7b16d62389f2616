import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The upstream every candidate forwards to, in its own process: a small keep-alive Node HTTP
 * server answering a fixed 200 with a short JSON body. It remembers the headers of the last
 * request so the bench can check, once before measuring, that a candidate really forwarded (and
 * for the gateway, through which route); `GET /__bench/last-request` returns them.
 *
 * Run as `node --import tsx bench/upstream-server.ts [port]`; prints `{"port": N}` on stdout when
 * listening, and exits when stdin closes (so it never outlives the bench).
 */

const BODY = Buffer.from('{"ok":true,"service":"bench-upstream"}\n');
const HEADERS = { "content-type": "application/json", "content-length": String(BODY.length) };

let lastHeaders: http.IncomingHttpHeaders = {};

const server = http.createServer({ keepAlive: true }, (request, response) => {
  if (request.url === "/__bench/last-request") {
    const body = JSON.stringify({ headers: lastHeaders });
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    response.end(body);
    return;
  }
  lastHeaders = request.headers;
  // Bodies are drained, never read: the bench sends GETs.
  request.resume();
  response.writeHead(200, HEADERS);
  response.end(BODY);
});
// Longer than any pause between rounds, so proxies' pooled connections are not closed under them.
server.keepAliveTimeout = 300_000;
server.headersTimeout = 301_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

import proxy from "@fastify/http-proxy";
import Fastify from "fastify";

/**
 * The Node proxy users would pick instead: Fastify with @fastify/http-proxy (undici, keep-alive
 * pool) forwarding everything to the upstream given as argv[2]. Its own process; prints
 * `{"port": N}` once listening and exits when stdin closes.
 */
const upstream = process.argv[2];
if (!upstream) throw new TypeError("usage: node-proxy-server.ts <upstream url>");

const app = Fastify({ logger: false });
await app.register(proxy, { upstream, http2: false });
const address = await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`${JSON.stringify({ port: Number(new URL(address).port) })}\n`);

process.stdin.on("end", () => void app.close().then(() => process.exit(0)));
process.stdin.resume();

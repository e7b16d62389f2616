import { readyLine, startNodeScript } from "../processes.js";
import { plainRequest, type CandidateSpec } from "./candidate.js";

/** `node-proxy`: Fastify 5 + @fastify/http-proxy 11 to the same upstream, in its own Node process. */
export const nodeProxy: CandidateSpec = {
  name: "node-proxy",
  summary: "Fastify + @fastify/http-proxy (undici keep-alive pool), one Node process",
  async start(context) {
    const service = startNodeScript("node-proxy", "candidates/node-proxy-server.ts", [`http://127.0.0.1:${context.upstreamPort}`], {
      cpus: context.cpus,
    });
    const { port } = await readyLine<{ port: number }>(service);
    return {
      name: "node-proxy",
      how: `Node ${process.version}, Fastify 5 + @fastify/http-proxy 11 (logger off), one process`,
      port,
      request: plainRequest(),
      pids: () => [service.child.pid!],
      stop: () => service.stop(),
    };
  },
};

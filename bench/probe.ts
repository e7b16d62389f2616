import http, { type IncomingHttpHeaders } from "node:http";
import type { RunningCandidate } from "./candidates/candidate.js";

/**
 * One request through a candidate before it is measured, to prove it proxies what it should: a
 * 200 from the upstream, and (per candidate) the right route's marks in what the upstream got.
 * For the gateway this first request is also the one that loads the snapshot from KV.
 */

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function get(port: number, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, method: "GET", headers, agent: false, timeout: 10_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on("timeout", () => request.destroy(new Error(`no answer from 127.0.0.1:${port} within 10 s`)));
    request.on("error", reject);
    request.end();
  });
}

export async function probe(candidate: RunningCandidate, upstreamPort: number): Promise<void> {
  const { host, path, headers } = candidate.request;
  const reply = await get(candidate.port, path, { ...headers, host });
  if (reply.status !== 200 || !reply.body.includes("bench-upstream")) {
    throw new Error(`${candidate.name}: the probe request got ${reply.status} ${reply.body.slice(0, 300)}`);
  }
  const seen = await get(upstreamPort, "/__bench/last-request", {});
  const problem = candidate.checkUpstream?.((JSON.parse(seen.body) as { headers: IncomingHttpHeaders }).headers);
  if (problem) throw new Error(`${candidate.name}: ${problem}`);
}

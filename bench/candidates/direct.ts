import { plainRequest, type CandidateSpec } from "./candidate.js";

/** `direct`: the upstream itself, no proxy in between: the floor every proxy is measured against. */
export const direct: CandidateSpec = {
  name: "direct",
  summary: "the upstream Node HTTP server itself (no proxy)",
  async start(context) {
    return {
      name: "direct",
      how: "Node http server (keep-alive), its own process; the load generator connects to it directly",
      port: context.upstreamPort,
      request: plainRequest(),
      pids: () => [context.upstreamPid],
      // The upstream's lifetime is the bench's, not this candidate's.
      stop: async () => {},
    };
  },
};

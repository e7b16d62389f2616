import { readFile } from "node:fs/promises";
import path from "node:path";
import { REPO_ROOT } from "../../../scripts/lib/bundle-worker.js";
import { startUpstream, type Upstream } from "../../support/upstream.js";

/**
 * examples/bookinfo.yaml with its demo ports (9080-9086) swapped for real test upstreams on free
 * ports: productpage, reviews v1-v3, ratings, details, flaky, in that order.
 */
export interface Bookinfo {
  config: string;
  upstreams: Upstream[];
  close(): Promise<void>;
}

export async function startBookinfo(): Promise<Bookinfo> {
  const demo = [["productpage", "v1"], ["reviews", "v1"], ["reviews", "v2"], ["reviews", "v3"], ["ratings", "v1"], ["details", "v1"], ["flaky", "v1"]] as const;
  const upstreams = await Promise.all(demo.map(([name, version]) => startUpstream({ name, version })));
  let config = await readFile(path.join(REPO_ROOT, "examples/bookinfo.yaml"), "utf8");
  demo.forEach((_, index) => (config = config.replaceAll(`http: ${9080 + index} }`, `http: ${upstreams[index]!.port} }`)));
  return { config, upstreams, close: async () => void (await Promise.all(upstreams.map((upstream) => upstream.close()))) };
}

import { createEgressWorker } from "./app.js";

/** The egress gateway worker (`wrangler deploy --config egress/wrangler.toml` entry). */
export default createEgressWorker();

import { createControlWorker } from "./app.js";

/** The control API worker (`wrangler deploy --config control/wrangler.toml` entry). */
export { ConfigStore } from "./store/durable-object.js";
export default createControlWorker();

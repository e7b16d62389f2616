import { createGatewayWorker } from "./app.js";

/** The ingress gateway worker (`wrangler deploy` entry). */
export default createGatewayWorker();

import { z } from "zod";

/** The gateway's bindings and settings, parsed once per isolate from `env` (wrangler.toml `[vars]`). */

export interface KvReader {
  get(key: string, type: "text"): Promise<string | null>;
}

const Labels = z
  .string()
  .default("istio=ingressgateway")
  .transform((text, ctx) => {
    const labels: Record<string, string> = {};
    for (const pair of text.split(",").map((item) => item.trim()).filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) {
        ctx.addIssue({ code: "custom", message: `MESH_GATEWAY_LABELS: '${pair}' is not key=value` });
        return z.NEVER;
      }
      labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return labels;
  });

const Flag = z
  .union([z.boolean(), z.enum(["true", "false", "1", "0", ""])])
  .default(false)
  .transform((value) => value === true || value === "true" || value === "1");

const PositiveInt = (name: string, fallback: number) =>
  z.preprocess((value) => (value === "" ? undefined : value), z.coerce
    .number({ error: () => `${name} must be a number` })
    .int(`${name} must be an integer`)
    .min(0, `${name} must be >= 0`)
    .default(fallback));

export const GatewaySettings = z.object({
  MESH_GATEWAY_LABELS: Labels,
  MESH_CONFIG_TTL_MS: PositiveInt("MESH_CONFIG_TTL_MS", 5000),
  MESH_DEBUG_HEADERS: Flag,
  /** Request bodies up to this many bytes are buffered so a retry or a mirror can replay them. */
  MESH_MAX_BUFFERED_BODY_BYTES: PositiveInt("MESH_MAX_BUFFERED_BODY_BYTES", 1024 * 1024),
  MESH_ACCESS_LOG: z.enum(["on", "off"]).default("on"),
});
export type GatewaySettings = z.infer<typeof GatewaySettings>;

export interface GatewayBindings {
  MESH_CONFIG: KvReader;
  [name: string]: unknown;
}

export function parseGatewaySettings(env: Record<string, unknown>): GatewaySettings {
  const parsed = GatewaySettings.safeParse(env);
  if (!parsed.success) {
    throw new TypeError(`invalid gateway settings: ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  }
  return parsed.data;
}

import type { ControlBindings, ControlSettings } from "../env.js";
import type { StoreClient } from "../store/client.js";

/** The control app's typed context: its bindings and what middleware hand to handlers. */

export type Role = "admin" | "reader";

export type ControlEnv = {
  Bindings: ControlBindings;
  Variables: {
    settings: ControlSettings;
    store: StoreClient;
    /** Set by bearerAuth on /v1/. */
    role: Role;
  };
};

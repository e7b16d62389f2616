/**
 * The one door to `@peculiar/x509`. That library registers its algorithms with tsyringe, which
 * refuses to load without a `Reflect.getMetadata` polyfill (it never reads real decorator
 * metadata here: the library calls `injectable()` by hand). Rather than pull in
 * `reflect-metadata` for three functions, this module installs the minimal WeakMap-backed ones
 * tsyringe calls, before the library is evaluated (ES modules evaluate imports in order), and
 * only if nothing else has installed them.
 */
import "./reflect-metadata-shim.js";
export * from "@peculiar/x509";

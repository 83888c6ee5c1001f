// The executable's entry (dist/cmk.cjs): runs the bundle (cmk-main.cjs) with V8's code cache of
// an earlier run of the same subcommand, so start-up neither parses nor compiles what that
// subcommand ran before: `cmk isolate` is on the launch path of every pinned workload. The build
// makes the caches; a missing or rejected one is made again after a successful run, when the
// directory is writable (an installed, read-only copy just runs uncached).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { Script } from "node:vm";

// Template strings, not path.join: its normalising loop is slow in a process this short-lived.
const bundlePath = `${__dirname}/cmk-main.cjs`;
const cacheDir = `${__dirname}/.code-cache`;
const subcommand = process.argv[2] ?? "";
/**
 * A run that talks to Kubernetes compiles other code (TLS, the client, the ConfigMap store) than
 * one with the file store, so it keeps a cache of its own. A guess from the flags that choose the
 * ConfigMap store or publish (app/stores.ts has the rule): a wrong guess costs time, never correctness.
 */
const usesKubernetes =
  process.env["KUBERNETES_SERVICE_HOST"] !== undefined || process.argv.some((arg) => /^--(kubeconfig|namespace|node-name|publish|all-nodes)\b/.test(arg));
const cachePath = `${cacheDir}/${/^[a-z][a-z-]{0,31}$/.test(subcommand) ? subcommand : "other"}${usesKubernetes ? ".kubernetes" : ""}.bin`;

function readCache(): Buffer | undefined {
  try {
    return readFileSync(cachePath);
  } catch {
    return undefined;
  }
}

/** Caches what this run compiled, including functions compiled lazily while it ran. */
function saveCache(script: Script): void {
  try {
    // Not recursive: after `cmk uninstall` the bundle's directory is gone and must stay gone.
    mkdirSync(cacheDir, { mode: 0o755 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") return; // Read-only or removed: run uncached.
  }
  const temporary = `${cachePath}.tmp-${process.pid}`;
  try {
    writeFileSync(temporary, script.createCachedData(), { mode: 0o644 });
    renameSync(temporary, cachePath);
  } catch {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Nothing was written there.
    }
  }
}

const cachedData = readCache();
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(bundlePath, "utf8")}\n})`, {
  filename: bundlePath,
  cachedData,
});
if (cachedData === undefined || script.cachedDataRejected === true) {
  process.once("exit", (code) => {
    if (code === 0) saveCache(script);
  });
}
const bundleModule = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(bundleModule.exports, require, bundleModule, bundlePath, __dirname);

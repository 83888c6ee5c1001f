// The ClusterSpec a cluster-init command line means: its flags checked against each other and
// turned into the one value every cluster object is built from. Shared with
// scripts/write-manifests.ts, which builds deploy/ from cluster-init's defaults, so the files
// there are what `cmk cluster-init` with no flags would apply.
import type { ClusterSpec, WebhookTls } from "../core/cluster/spec.ts";
import { reservedNamespaces } from "../core/cluster/spec.ts";
import { usageError } from "../core/errors.ts";
import type { clusterInitFlags, OptionsOf } from "./flags.ts";

export type ClusterInitOptions = OptionsOf<typeof clusterInitFlags>;

/** init's flags as the agent's init container passes them, canonical. */
export function carvingArguments(
  options: Pick<ClusterInitOptions, "numExclusiveCores" | "numSharedCores" | "exclusiveMode" | "sharedMode" | "exclNonIsolcpus">,
): string[] {
  return [
    `--num-exclusive-cores=${options.numExclusiveCores}`,
    `--num-shared-cores=${options.numSharedCores}`,
    `--exclusive-mode=${options.exclusiveMode.mode}`,
    `--shared-mode=${options.sharedMode.mode}`,
    `--excl-non-isolcpus=${options.exclNonIsolcpus === null ? "-1" : options.exclNonIsolcpus.join(",")}`,
  ];
}

/** cmk may not live where the webhook's exclusion of its namespace would hide workloads, or among the cluster's own pods. */
export function checkNamespace(namespace: string, flag = "--namespace"): void {
  if ((reservedNamespaces as readonly string[]).includes(namespace)) {
    throw usageError(
      `${flag}=${namespace}: cmk needs a namespace of its own (the webhook never mutates pods of cmk's namespace, and ${namespace} holds others' pods); use e.g. ${flag}=cmk`,
    );
  }
}

export function clusterSpec(options: ClusterInitOptions, extras: { readonly clientCa?: string; readonly tls?: WebhookTls } = {}): ClusterSpec {
  checkNamespace(options.namespace);
  return {
    namespace: options.namespace,
    image: options.cmkImg,
    pullPolicy: options.cmkImgPol,
    pullSecret: options.pullSecret,
    installDir: options.installDir,
    confDir: options.confDir,
    agentAccount: options.saname,
    commands: options.cmkCmdList,
    carving: carvingArguments(options),
    noTaint: options.noTaint,
    devicePlugin: options.devicePlugin,
    insecure: options.insecure,
    clientCa: extras.clientCa,
    tls: extras.tls,
  };
}

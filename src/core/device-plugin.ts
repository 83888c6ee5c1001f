// What cmk's device plugin tells the kubelet (cmk agent --device-plugin), as pure functions: the
// devices of the resource cmk.intel.com/exclusive-cores (one per exclusive CPU list of the node's
// state) and what a container that was given some of them gets (CMK_NUM_CORES, the agent's socket
// and the installed cmk as read-only mounts). Why a device plugin at all: the kubelet then does the
// accounting per container and hands every container that asks for cores what `cmk isolate`
// needs, with no admission webhook, so static pods (which no webhook sees) work too. The device
// IDs only count: which list a container holds is the agent's choice when its `cmk isolate` asks,
// as with the webhook. The gRPC side is server/device-plugin.ts.
import { cpuListsOf, type NodeState } from "./node-state.ts";

export const exclusiveCoresResource = "cmk.intel.com/exclusive-cores";
export const devicePluginApiVersion = "v1beta1";

export interface PluginDevice {
  readonly ID: string;
  readonly health: "Healthy" | "Unhealthy";
}

/** One device per exclusive CPU list, named after its socket and CPUs ("s0-cpus-3_11"); none without state. */
export function exclusiveDevices(state: NodeState | null): PluginDevice[] {
  const pool = state?.pools.get("exclusive");
  if (pool === undefined) return [];
  return [...cpuListsOf(pool)].map((list) => ({ ID: `s${list.socket}-cpus-${list.key.replaceAll(",", "_")}`, health: "Healthy" }));
}

/** Whether two device lists tell the kubelet the same thing (then nothing is sent). */
export function sameDevices(a: readonly PluginDevice[], b: readonly PluginDevice[]): boolean {
  return a.length === b.length && a.every((device, i) => device.ID === b[i]?.ID && device.health === b[i]?.health);
}

/** Where a container finds what the agent serves: host paths the kubelet mounts, and their paths in the container. */
export interface AllocationPaths {
  /** The directory of the agent's socket on the host. */
  readonly hostSocketDir: string;
  /** The agent's socket as the container sees it (its directory is mounted there). */
  readonly containerSocket: string;
  /** The installed cmk (`cmk install`) on the host. */
  readonly hostInstallDir: string;
  /** Where the container finds it. */
  readonly containerInstallDir: string;
}

export interface ContainerAllocation {
  readonly envs: Record<string, string>;
  readonly mounts: { container_path: string; host_path: string; read_only: boolean }[];
}

/** What a container given `deviceIds` gets: its count of cores, the socket and cmk, read-only. */
export function containerAllocation(deviceIds: readonly string[], paths: AllocationPaths): ContainerAllocation {
  const socketDir = paths.containerSocket.slice(0, paths.containerSocket.lastIndexOf("/")) || "/";
  return {
    envs: { CMK_NUM_CORES: String(deviceIds.length), CMK_AGENT_SOCKET: paths.containerSocket },
    mounts: [
      { container_path: socketDir, host_path: paths.hostSocketDir, read_only: true },
      { container_path: paths.containerInstallDir, host_path: paths.hostInstallDir, read_only: true },
    ],
  };
}

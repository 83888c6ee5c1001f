// A cgroup whose cpuset allows only some CPUs, for tests of what cmk says when the kernel refuses
// or narrows an affinity. Hosts mount the cpuset controller either in the cgroup v1 hierarchy
// (/sys/fs/cgroup/cpuset) or in the unified cgroup v2 tree (/sys/fs/cgroup); either will do.
// Creating one needs root.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CpusetCgroup {
  /** The cgroup as /proc/<pid>/cgroup names it ("/cmk-test-123"). */
  readonly path: string;
  /** A shell command that moves the shell running it into the cgroup. */
  readonly enter: string;
  /** Removes the cgroup, once no process is left in it. */
  remove(): void;
}

const v1Root = "/sys/fs/cgroup/cpuset";
const v2Root = "/sys/fs/cgroup";

/** Creates the cgroup `name` at the top of the cpuset hierarchy, allowing `cpus` (a kernel cpulist). */
export function cpusetCgroup(name: string, cpus: string): CpusetCgroup {
  if (existsSync(join(v1Root, "cpuset.cpus"))) {
    const dir = join(v1Root, name);
    mkdirSync(dir);
    // A v1 cpuset takes no task until it has memory nodes as well as CPUs.
    writeFileSync(join(dir, "cpuset.mems"), readFileSync(join(v1Root, "cpuset.mems")));
    writeFileSync(join(dir, "cpuset.cpus"), cpus);
    return { path: `/${name}`, enter: `echo $$ > ${join(dir, "tasks")}`, remove: () => rmdirSync(dir) };
  }
  const controllers = join(v2Root, "cgroup.controllers");
  if (existsSync(controllers) && readFileSync(controllers, "utf8").split(/\s+/).includes("cpuset")) {
    // Children of the root get a cpuset only when the root hands the controller down.
    const subtree = join(v2Root, "cgroup.subtree_control");
    if (!readFileSync(subtree, "utf8").split(/\s+/).includes("cpuset")) writeFileSync(subtree, "+cpuset");
    const dir = join(v2Root, name);
    mkdirSync(dir);
    writeFileSync(join(dir, "cpuset.cpus"), cpus);
    return { path: `/${name}`, enter: `echo $$ > ${join(dir, "cgroup.procs")}`, remove: () => rmdirSync(dir) };
  }
  throw new Error(`this test needs the cpuset cgroup controller (${v1Root}, or cpuset in ${controllers}) and root to create a cgroup`);
}

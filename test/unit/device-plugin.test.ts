// What the device plugin tells the kubelet (cmk agent --device-plugin): one device per exclusive
// list, and what a container given some of them gets. The gRPC side runs against the real kubelet
// in test/integration/node.test.ts.
import assert from "node:assert/strict";
import { it } from "node:test";
import { containerAllocation, exclusiveDevices, sameDevices } from "../../src/core/device-plugin.ts";
import { state } from "../helpers/state.ts";

it("offers one healthy device per exclusive list, held or free, named after its socket and CPUs; none without state or pool", () => {
  const devices = exclusiveDevices(state({ exclusive: { 0: { "2,10": [], "3,11": ["7"] }, 1: { "6,14": [] } }, shared: { 0: { "4,12": [] } } }));
  assert.deepEqual(devices, [
    { ID: "s0-cpus-2_10", health: "Healthy" },
    { ID: "s0-cpus-3_11", health: "Healthy" },
    { ID: "s1-cpus-6_14", health: "Healthy" },
  ]);
  assert.deepEqual(exclusiveDevices(null), []);
  assert.deepEqual(exclusiveDevices(state({ shared: { 0: { "4,12": [] } } })), []);
});

it("sends the kubelet a new list only when a device came, went or changed health", () => {
  const devices = exclusiveDevices(state({ exclusive: { 0: { "2,10": [], "3,11": [] } } }));
  assert.ok(sameDevices(devices, exclusiveDevices(state({ exclusive: { 0: { "2,10": ["9"], "3,11": [] } } }))), "holders do not matter");
  assert.ok(!sameDevices(devices, devices.slice(1)));
  assert.ok(!sameDevices(devices, [{ ...(devices[0] as (typeof devices)[number]), health: "Unhealthy" }, devices[1] as (typeof devices)[number]]));
});

it("gives a container its count of cores, the agent's socket and cmk, both read-only, for any number of devices", () => {
  const paths = { hostSocketDir: "/run/cmk", containerSocket: "/var/lib/cmk/agent.sock", hostInstallDir: "/usr/local/cmk", containerInstallDir: "/opt/bin" };
  assert.deepEqual(containerAllocation(["s0-cpus-2_10", "s0-cpus-3_11"], paths), {
    envs: { CMK_NUM_CORES: "2", CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock" },
    mounts: [
      { container_path: "/var/lib/cmk", host_path: "/run/cmk", read_only: true },
      { container_path: "/opt/bin", host_path: "/usr/local/cmk", read_only: true },
    ],
  });
  assert.equal(containerAllocation(["s0-cpus-2_10"], paths).envs["CMK_NUM_CORES"], "1");
});

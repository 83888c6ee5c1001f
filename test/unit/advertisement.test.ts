// What discover sends: only the difference between the Node and what the state advertises.
import assert from "node:assert/strict";
import { it } from "node:test";
import { advertisedResources, cmkTaint, type NodeView, nodeChanges } from "../../src/core/advertisement.ts";
import { state } from "../helpers/state.ts";

const twoLists = state({ exclusive: { 0: { "2,10": [], "3,11": ["7"] } }, shared: { 0: { "4,12": [] } } });
const blank: NodeView = { labels: {}, taints: [], capacity: {}, allocatable: {} };

it("advertises one unit per exclusive CPU list, held or free, and the non-isolcpus pool only when it exists", () => {
  assert.deepEqual(advertisedResources(twoLists), { "cmk.intel.com/exclusive-cores": "2" });
  const withNonIsolcpus = state({ exclusive: { 0: { "2,10": [] } }, "exclusive-non-isolcpus": { 0: { "5,13": [], "6,14": [] }, 1: { "7,15": [] } } });
  assert.deepEqual(advertisedResources(withNonIsolcpus), {
    "cmk.intel.com/exclusive-cores": "1",
    "cmk.intel.com/exclusive-non-isolcpus-cores": "3",
  });
});

it("asks for every change on a blank node, and for none once the node carries them all", () => {
  const resources = advertisedResources(twoLists);
  const changes = nodeChanges(blank, resources, true);
  assert.deepEqual(changes, { resources, labels: { "cmk.intel.com/cmk-node": "true" }, taints: [cmkTaint] });
  const done: NodeView = { labels: { "cmk.intel.com/cmk-node": "true" }, taints: [cmkTaint], capacity: resources, allocatable: resources };
  assert.deepEqual(nodeChanges(done, resources, true), {});
});

it("keeps other taints, replaces a cmk taint of another value, and leaves taints alone without tainting", () => {
  const other = { key: "dedicated", value: "gpu", effect: "NoSchedule" };
  const node: NodeView = { ...blank, taints: [other, { key: "cmk", value: "false", effect: "NoExecute" }] };
  assert.deepEqual(nodeChanges(node, {}, true).taints, [other, cmkTaint]);
  assert.equal(nodeChanges(node, {}, false).taints, undefined);
});

it("updates a resource whose capacity or allocatable differs from the state", () => {
  const resources = advertisedResources(twoLists);
  const stale: NodeView = { ...blank, capacity: resources, allocatable: { "cmk.intel.com/exclusive-cores": "5" } };
  assert.deepEqual(nodeChanges(stale, resources, false).resources, resources);
});

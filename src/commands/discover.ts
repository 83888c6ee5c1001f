// cmk discover: advertise the node's exclusive CPU lists to the scheduler as extended resources,
// label the node as a cmk node and taint it so that only pods that tolerate cmk land there. Reads
// the state without writing it, and changes the Node only where it differs (a second run sends
// nothing).
import type { Context } from "../app/context.ts";
import { apiCalls, kubeClient, nodeNameOf, notInitialisedError, openStore } from "../app/stores.ts";
import { advertisedResources, nodeChanges } from "../core/advertisement.ts";
import { CmkError } from "../core/errors.ts";
import type { discoverFlags, OptionsOf } from "./flags.ts";

export async function run(options: OptionsOf<typeof discoverFlags>, context: Context): Promise<number> {
  const nodeName = nodeNameOf(options, context);
  const store = await openStore(options, context);
  const state = await store.read();
  if (state === null) throw notInitialisedError(store);
  const resources = advertisedResources(state);
  const client = await kubeClient(options, context);
  const { applyNodeChanges, readNode } = await import("../adapters/kubernetes/nodes.ts");
  const calls = await apiCalls(client, context);
  for (let attempt = 0; ; attempt++) {
    const node = await readNode(calls, nodeName);
    if (node === null) {
      throw new CmkError("failure", `the cluster has no node ${nodeName}; check --node-name or NODE_NAME (kubectl get nodes lists them)`);
    }
    const changes = nodeChanges(node.view, resources, !options.noTaint);
    if (changes.resources === undefined && changes.labels === undefined && changes.taints === undefined) {
      context.log.info(`node ${nodeName} already advertises ${describe(resources)}${options.noTaint ? "" : " and has the cmk taint"}; nothing to change`);
      return 0;
    }
    if (await applyNodeChanges(calls, nodeName, changes, node.resourceVersion)) {
      if (changes.resources !== undefined) context.log.info(`node ${nodeName}: advertising ${describe(changes.resources)}`);
      if (changes.labels !== undefined) context.log.info(`node ${nodeName}: labelled ${describe(changes.labels)}`);
      if (changes.taints !== undefined) context.log.info(`node ${nodeName}: tainted cmk=true:NoSchedule`);
      return 0;
    }
    context.log.debug(`node ${nodeName} changed while its taints were updated; reading it again`);
    await calls.backOff(attempt, () => new CmkError("lock-timeout", `node ${nodeName} kept changing while cmk tried to taint it; try again`));
  }
}

function describe(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([name, value]) => `${name}=${value}`)
    .join(", ");
}

// cmk discover: advertise the node's exclusive CPU lists to the scheduler as extended resources,
// label the node as a cmk node and taint it so that only pods that tolerate cmk land there. Reads
// the state without writing it, and changes the Node only where it differs (a second run sends
// nothing).
import type { Context } from "../app/context.ts";
import { apiCalls, kubeClient, nodeNameOf, notInitialisedError, openStore } from "../app/stores.ts";
import { advertisedResources, noChanges, nodeChanges } from "../core/advertisement.ts";
import { CmkError } from "../core/errors.ts";
import type { discoverFlags, OptionsOf } from "./flags.ts";

export async function run(options: OptionsOf<typeof discoverFlags>, context: Context): Promise<number> {
  const nodeName = nodeNameOf(options, context);
  const store = await openStore(options, context);
  const state = await store.read();
  if (state === null) throw notInitialisedError(store);
  const resources = advertisedResources(state);
  const client = await kubeClient(options, context);
  const { changeNode } = await import("../adapters/kubernetes/nodes.ts");
  const changes = await changeNode(await apiCalls(client, context), nodeName, (view) => nodeChanges(view, resources, !options.noTaint));
  if (changes === null) throw new CmkError("failure", `the cluster has no node ${nodeName}; check --node-name or NODE_NAME (kubectl get nodes lists them)`);
  if (noChanges(changes)) {
    context.log.info(`node ${nodeName} already advertises ${describe(resources)}${options.noTaint ? "" : " and has the cmk taint"}; nothing to change`);
    return 0;
  }
  if (changes.resources !== undefined) context.log.info(`node ${nodeName}: advertising ${describe(changes.resources)}`);
  if (changes.labels !== undefined) context.log.info(`node ${nodeName}: labelled ${describe(changes.labels)}`);
  if (changes.taints !== undefined) context.log.info(`node ${nodeName}: tainted cmk=true:NoSchedule`);
  return 0;
}

function describe(values: Readonly<Record<string, string | null>>): string {
  return Object.entries(values)
    .map(([name, value]) => `${name}=${value}`)
    .join(", ");
}

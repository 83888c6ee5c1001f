// cmk agent: the node's long-running owner of its CPU state. Serves allocations on a Unix socket
// (server/agent.ts, docs/agent-protocol.md) so that `cmk isolate` needs no lock, no wrapper and no
// API credentials, and runs the reconcile loop (the safety net for processes no watch saw end)
// with the long-running mode's metrics, so that a node needs one cmk process.
import type { Socket } from "node:net";
import { dirname, resolve } from "node:path";
import { groupId } from "../adapters/groups.ts";
import type { KubeClient } from "../adapters/kubernetes/client.ts";
import { builtFile } from "../adapters/native.ts";
import { peerCredentials, watchProcessExit } from "../adapters/peer-process.ts";
import type { Context } from "../app/context.ts";
import { nodeReport } from "../app/node-report.ts";
import { reportPublisher } from "../app/publish.ts";
import { reconcileReport } from "../app/reconcile-report.ts";
import { chooseStore, kubeClient, openStore } from "../app/stores.ts";
import { describeCause, usageError } from "../core/errors.ts";
import { nodeReportSummary, reconcileSummary } from "../core/report-summary.ts";
import type { StateStore } from "../core/state-store.ts";
import type { agentFlags, OptionsOf } from "./flags.ts";
import { runLoop } from "./long-running.ts";
import type { CommandResult } from "./table.ts";

declare const CMK_BUNDLED: boolean | undefined;
type DevicePluginModule = typeof import("../server/device-plugin.ts");

/**
 * The device plugin and gRPC: a bundle of their own beside cmk's (dist/cmk-device-plugin.cjs,
 * installed with it), so that no other command's bundle carries them; from source, the module.
 */
async function loadDevicePlugin(): Promise<DevicePluginModule> {
  if (typeof CMK_BUNDLED !== "undefined") return require(builtFile("cmk-device-plugin.cjs")) as DevicePluginModule;
  const source = "../server/device-plugin.ts"; // not a literal: the bundler must leave it out
  return (await import(source)) as DevicePluginModule;
}

/** The descriptor under a connected Unix socket (libuv's pipe handle keeps it as `fd`). */
function descriptorOf(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  return handle?.fd !== undefined && handle.fd >= 0 ? handle.fd : undefined;
}

/**
 * With the ConfigMap store, a pass also serves the node's reconfigure request (cmk
 * reconfigure_setup): the agent runs on the node, in the host's PID namespace, and owns the state.
 * A failure is logged, and the next pass tries again.
 */
async function reconfigureRequests(
  options: OptionsOf<typeof agentFlags>,
  context: Context,
  store: StateStore,
  clients: KubeClient[],
): Promise<(() => Promise<void>) | undefined> {
  const choice = chooseStore(options, context);
  if (choice.kind !== "configmap") return undefined;
  const [{ serveRequestOnce }, client] = await Promise.all([import("./reconfigure-request.ts"), kubeClient(options, context)]);
  clients.push(client);
  const place = { namespace: choice.namespace, node: choice.nodeName };
  return () =>
    serveRequestOnce(client, store, place, context).then(
      () => undefined,
      (error: unknown) => context.log.error(`cannot serve the reconfigure request of ${place.node}: ${describeCause(error)}`),
    );
}

type NodeAgentModule = typeof import("../server/agent.ts");
type DevicePlugin = DevicePluginModule["DevicePlugin"]["prototype"];

/** The agent on its socket, knowing each client by the PID the kernel gives for the connection. */
async function startNodeAgent(module: NodeAgentModule, options: OptionsOf<typeof agentFlags>, context: Context, store: StateStore) {
  const agent = new module.NodeAgent({
    store,
    procFs: context.settings.procFs,
    log: context.log,
    socketPath: options.socket,
    socketMode: options.socketMode,
    socketGroup: options.socketGroup === undefined ? undefined : groupId(options.socketGroup),
    peerPid: (socket) => {
      const fd = descriptorOf(socket);
      try {
        return fd === undefined ? null : peerCredentials(fd).pid;
      } catch {
        return null;
      }
    },
    watchExit: (pid, onExit) => watchProcessExit(pid, onExit),
  });
  await agent.start();
  return agent;
}

/** With --device-plugin: registered with the kubelet, advertising the state's exclusive lists. */
async function startDevicePlugin(options: OptionsOf<typeof agentFlags>, context: Context, store: StateStore): Promise<DevicePlugin | undefined> {
  if (!options.devicePlugin) return undefined;
  const { DevicePlugin } = await loadDevicePlugin();
  const plugin = new DevicePlugin({
    dir: options.devicePluginDir,
    log: context.log,
    paths: {
      hostSocketDir: options.hostSocketDir ?? dirname(resolve(options.socket)),
      containerSocket: "/var/lib/cmk/agent.sock",
      hostInstallDir: options.hostInstallDir,
      containerInstallDir: "/opt/bin",
    },
  });
  await plugin.start(await store.read());
  return plugin;
}

export async function run(options: OptionsOf<typeof agentFlags>, context: Context): Promise<CommandResult> {
  if (options.interval <= 0) throw usageError("cmk agent runs until stopped: --interval (seconds between reconcile passes) must be above 0");
  // The agent runs until stopped: SIGTERM from its first instant ends it cleanly (the socket
  // removed), never half-way between creating the socket and serving on it.
  context.stopSignal();
  const module = await import("../server/agent.ts");
  let agent: InstanceType<NodeAgentModule["NodeAgent"]> | undefined;
  const clients: KubeClient[] = [];
  let devicePlugin: DevicePlugin | undefined;
  const failure = await runLoop(options, context, "agent", async (loopContext) => {
    const store = await openStore(options, loopContext);
    const started = await startNodeAgent(module, options, context, store);
    agent = started;
    const serveRequest = await reconfigureRequests(options, loopContext, store, clients);
    devicePlugin = await startDevicePlugin(options, context, store);
    const publishReconcile = await reportPublisher("reconcile", options, loopContext);
    const publishNode = await reportPublisher("node", options, loopContext);
    const pass = async () => {
      const { state, reclaimed } = await started.reconcile();
      devicePlugin?.update(state);
      for (const entry of reclaimed) context.log.info(`reclaimed ${entry.pool} CPU list ${entry.cpus} of dead task ${entry.pid}`);
      // The report reconcile prints, and the node report: one agent does the work of reconcile and node-report.
      const { report, mismatched } = reconcileReport(state, reclaimed, context.settings.procFs);
      await publishReconcile?.(report, reconcileSummary(reclaimed.length, mismatched.length));
      if (publishNode !== undefined) {
        const node = await nodeReport(store, context.settings);
        await publishNode(node.report(), nodeReportSummary(node.state, node.checks));
      }
      await serveRequest?.();
      return { state, reclaimed, mismatchedCpuMasks: mismatched.length };
    };
    return { pass, onWait: (seconds: number) => context.log.debug(`next reconcile pass in ${seconds} seconds`) };
  });
  await devicePlugin?.close();
  await agent?.close();
  for (const client of clients) client.close();
  return failure ?? 0;
}

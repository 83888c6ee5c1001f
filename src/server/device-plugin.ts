// cmk's device plugin (cmk agent --device-plugin): the kubelet's device-plugin API over gRPC on a
// Unix socket in the kubelet's plugin directory. It advertises cmk.intel.com/exclusive-cores, one
// device per exclusive CPU list (core/device-plugin.ts decides what is said), keeps the kubelet's
// ListAndWatch stream up to date as the pools change, and answers Allocate with what a container
// needs to run `cmk isolate` through the agent. Why here, in the agent's process: the agent owns
// the node's state, so the devices are its lists and need no second reader; and why lazily
// imported: gRPC (@grpc/grpc-js, @grpc/proto-loader, protobufjs) is large, and only the agent with
// this flag may pay for it, never `cmk isolate`.
//
// The kubelet deletes every socket in its plugin directory when it starts; the plugin looks once a
// second, and when its socket is gone or the kubelet's is a new one, serves again and registers
// again, so a kubelet restart needs nothing of the operator.
import { existsSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { basename, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";
import { parse } from "protobufjs";
import type { Logger } from "../app/log.ts";
import {
  type AllocationPaths,
  containerAllocation,
  devicePluginApiVersion,
  exclusiveCoresResource,
  exclusiveDevices,
  type PluginDevice,
  sameDevices,
} from "../core/device-plugin.ts";
import { describeCause } from "../core/errors.ts";
import type { NodeState } from "../core/node-state.ts";

/** The .proto's text: put into the bundle by scripts/build.ts, read beside this file when run from source. */
declare const CMK_DEVICE_PLUGIN_PROTO: string | undefined;

const checkMs = 1000;
const registerTimeoutMs = 5000;

export interface DevicePluginOptions {
  /** The kubelet's plugin directory (its registration socket is kubelet.sock there). */
  readonly dir: string;
  readonly paths: AllocationPaths;
  readonly log: Logger;
}

interface Api {
  Registration: grpc.ServiceClientConstructor;
  DevicePlugin: grpc.ServiceClientConstructor;
}

function loadApi(): Api {
  const text =
    typeof CMK_DEVICE_PLUGIN_PROTO !== "undefined" ? CMK_DEVICE_PLUGIN_PROTO : readFileSync(new URL("./deviceplugin-v1beta1.proto", import.meta.url), "utf8");
  const definition = fromJSON(parse(text, { keepCase: true }).root.toJSON(), { keepCase: true, longs: String, defaults: true });
  return (grpc.loadPackageDefinition(definition) as unknown as { v1beta1: Api }).v1beta1;
}

/** The identity of a file, to tell a new kubelet.sock from the one registered with. */
function fileId(path: string): string | undefined {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

export class DevicePlugin {
  private readonly api = loadApi();
  private readonly socketPath: string;
  private readonly kubeletSocket: string;
  private devices: PluginDevice[] = [];
  private readonly watchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  private server: grpc.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** kubelet.sock as it was when we last registered; undefined: not registered. */
  private registeredWith: string | undefined;
  private checking = false;

  private readonly options: DevicePluginOptions;

  constructor(options: DevicePluginOptions) {
    this.options = options;
    this.socketPath = join(options.dir, "cmk-exclusive-cores.sock");
    this.kubeletSocket = join(options.dir, "kubelet.sock");
  }

  /** Serves, registers (or keeps trying once a second while the kubelet is not there), and watches for kubelet restarts. */
  async start(state: NodeState | null): Promise<void> {
    this.devices = exclusiveDevices(state);
    await this.serve();
    await this.register();
    this.timer = setInterval(() => void this.check(), checkMs);
    this.timer.unref();
  }

  /** The node's state changed: tell the kubelet when its devices did. */
  update(state: NodeState | null): void {
    const next = exclusiveDevices(state);
    if (sameDevices(next, this.devices)) return;
    this.devices = next;
    this.options.log.info(`device plugin: ${next.length} ${exclusiveCoresResource} devices`);
    for (const call of this.watchers) call.write({ devices: next });
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.stopServing();
  }

  private async serve(): Promise<void> {
    await this.stopServing();
    try {
      unlinkSync(this.socketPath);
    } catch {
      // none left behind
    }
    const server = new grpc.Server();
    const implementation: grpc.UntypedServiceImplementation = {
      GetDevicePluginOptions: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
        callback(null, { pre_start_required: false, get_preferred_allocation_available: false }),
      ListAndWatch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        this.watchers.add(call);
        const forget = () => this.watchers.delete(call);
        call.on("cancelled", forget);
        call.on("close", forget);
        call.on("error", forget);
        call.write({ devices: this.devices });
        this.options.log.info(`device plugin: the kubelet watches ${this.devices.length} ${exclusiveCoresResource} devices`);
      },
      GetPreferredAllocation: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { container_responses: [] }),
      Allocate: (call: grpc.ServerUnaryCall<{ container_requests: { devices_ids: string[] }[] }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const responses = call.request.container_requests.map((request) => containerAllocation(request.devices_ids, this.options.paths));
        this.options.log.info(`device plugin: allocated ${call.request.container_requests.map((request) => request.devices_ids.length).join("+")} cores`);
        callback(null, { container_responses: responses });
      },
      PreStartContainer: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, {}),
    };
    server.addService(this.api.DevicePlugin.service, implementation);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${this.socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => (error === null ? resolve() : reject(error))),
    );
    this.server = server;
  }

  private async stopServing(): Promise<void> {
    for (const call of this.watchers) call.end();
    this.watchers.clear();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }

  /** Registers with the kubelet; a failure is logged and tried again by the next check. */
  private async register(): Promise<void> {
    const kubelet = fileId(this.kubeletSocket);
    if (kubelet === undefined) {
      if (this.registeredWith !== "absent") this.options.log.warning(`device plugin: no kubelet at ${this.kubeletSocket} yet; registering once it is there`);
      this.registeredWith = "absent";
      return;
    }
    const client = new this.api.Registration(`unix://${this.kubeletSocket}`, grpc.credentials.createInsecure());
    try {
      const registerCall = client["Register"] as (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void) => void;
      await new Promise<void>((resolve, reject) =>
        registerCall.call(
          client,
          { version: devicePluginApiVersion, endpoint: basename(this.socketPath), resource_name: exclusiveCoresResource, options: {} },
          { deadline: Date.now() + registerTimeoutMs },
          (error: grpc.ServiceError | null) => (error === null ? resolve() : reject(error)),
        ),
      );
      this.registeredWith = kubelet;
      this.options.log.info(`device plugin: registered ${exclusiveCoresResource} (${this.devices.length} devices) with the kubelet at ${this.kubeletSocket}`);
    } catch (error) {
      this.registeredWith = undefined;
      this.options.log.warning(`device plugin: cannot register with the kubelet at ${this.kubeletSocket}: ${describeCause(error)}; trying again`);
    } finally {
      client.close();
    }
  }

  /** Once a second: a kubelet that restarted removed our socket and made a new kubelet.sock. */
  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      if (!existsSync(this.socketPath)) {
        this.options.log.info("device plugin: the kubelet removed its plugins' sockets (it restarted); serving and registering again");
        await this.serve();
        this.registeredWith = undefined;
      }
      const kubelet = fileId(this.kubeletSocket);
      if (kubelet !== undefined && kubelet !== this.registeredWith) await this.register();
    } catch (error) {
      this.options.log.error(`device plugin: ${describeCause(error)}`);
    } finally {
      this.checking = false;
    }
  }
}

// cmk webhook: the mutating admission webhook that gives pods asking for CMK cores what `cmk
// isolate` needs (the mutations file: the agent's socket, the cmk executable, the cmk toleration)
// and CMK_NUM_CORES from their request, and denies pods whose request cannot be right. It needs no
// Kubernetes API access at all: it only answers the reviews the API server sends it. The server is
// server/webhook.ts, the decision core/admission.ts; this module turns flags and the configuration
// file into its options, and its failures into the words of those flags and keys.
import type { Context } from "../app/context.ts";
import { ipAddressValue } from "../app/input.ts";
import { CmkError, describeCause, usageError } from "../core/errors.ts";
import type { OptionsOf, webhookFlags } from "./flags.ts";
import type { CommandResult } from "./table.ts";

/** A listen error in the words of the configuration keys that chose the address. */
function listenError(error: unknown, file: string, address: string, port: number): CmkError {
  if (error instanceof CmkError) return error;
  const where = `${address.includes(":") ? `[${address}]` : address}:${port}`;
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === "EADDRINUSE"
      ? `the address is already in use; change server.port in ${file} or stop the process listening there`
      : code === "EADDRNOTAVAIL"
        ? `${address} is not an address of this machine; change server.binding-address in ${file}`
        : code === "EACCES"
          ? `not allowed to listen on port ${port} (ports below 1024 need root or CAP_NET_BIND_SERVICE); change server.port in ${file}, e.g. to 8443`
          : describeCause(error);
  return new CmkError("failure", `cannot serve the webhook on ${where}: ${why}`, { cause: error });
}

export async function run(options: OptionsOf<typeof webhookFlags>, context: Context): Promise<CommandResult> {
  if (options.confFile === undefined) {
    throw usageError("cmk webhook needs --conf-file=<file>: YAML with server.binding-address, port, cert, key and mutations (see README, cmk webhook)");
  }
  const { readWebhookConfig, startWebhook } = await import("../server/webhook.ts");
  const config = await readWebhookConfig(options.confFile, context.log, ipAddressValue);
  // From here on SIGTERM and SIGINT stop the server cleanly, never the process mid-answer.
  const stop = context.stopSignal();
  const caFile = options.insecure ? undefined : options.cafile;
  const server = await startWebhook({ ...config, caFile, log: context.log }).catch((error: unknown) => {
    throw listenError(error, options.confFile as string, config.address, config.port);
  });
  context.log.info(
    `serving admission reviews on ${server.url}/mutate (${caFile === undefined ? "from any client: --insecure=true" : `from clients with a certificate signed by ${caFile}`}), health on /healthz and /readyz`,
  );
  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    else stop.addEventListener("abort", () => resolve(), { once: true });
  });
  context.log.info(
    options.shutdownDelay > 0 ? `stopping: answering reviews for ${options.shutdownDelay} more seconds (readyz says 503), then closing` : "stopping",
  );
  await server.close(options.shutdownDelay * 1000);
  return 0;
}

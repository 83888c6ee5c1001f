// --publish: node-report and reconcile send each pass's report to the API server as a custom
// resource of the node (adapters/kubernetes/reports.ts), in --namespace (default "default", as
// CMK). Loaded only when asked for; each publish is bounded by CMK_LOCK_TIMEOUT.
import type { ReportKind } from "../adapters/kubernetes/reports.ts";
import type { Context } from "./context.ts";
import { apiCalls, defaultNamespace, kubeClient, nodeNameOf } from "./stores.ts";

export interface PublishOptions {
  readonly publish: boolean;
  readonly kubeconfig: string | undefined;
  readonly namespace: string | undefined;
  readonly nodeName: string | undefined;
}

export type Publish = (report: unknown, summary: Readonly<Record<string, string | number>>) => Promise<void>;

/** The function that publishes a pass's report, or undefined without --publish. */
export async function reportPublisher(which: "node" | "reconcile", options: PublishOptions, context: Context): Promise<Publish | undefined> {
  if (!options.publish) return undefined;
  const nodeName = nodeNameOf(options, context);
  const client = await kubeClient(options, context);
  const { ReportPublisher, nodeReportKind, reconcileReportKind } = await import("../adapters/kubernetes/reports.ts");
  const kind: ReportKind = which === "node" ? nodeReportKind : reconcileReportKind;
  const publisher = new ReportPublisher(kind, options.namespace ?? defaultNamespace, nodeName);
  return async (report, summary) => {
    const calls = await apiCalls(client, context);
    const outcome = await publisher.publish(calls, report, summary, new Date());
    context.log.debug(`${kind.plural} ${nodeName}: ${outcome}`);
  };
}

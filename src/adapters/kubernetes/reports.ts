// Publishing a report as a custom resource (node-report and reconcile --publish): one object per
// node, named after it, in the reports' namespace, with CMK's `spec.report` and a summary under the
// status subresource for `kubectl get`'s columns. Created once, then updated in place with the
// resourceVersion read (never deleted and recreated, as CMK did, so watchers see no gap and RBAC
// needs no delete), and written only when the report or its summary changed. The definitions
// (core/cluster/crds.ts) come from deploy/crds.yaml or cmk cluster-init, applied by an administrator: a node agent never creates CRDs.
import { type ReportResource, reportGroup, reportVersion } from "../../core/cluster/crds.ts";
import { CmkError } from "../../core/errors.ts";
import type { ApiRequest } from "./client.ts";
import type { Retrying } from "./retry.ts";

export { nodeReportKind, reconcileReportKind, reportGroup, reportVersion } from "../../core/cluster/crds.ts";

export type ReportKind = ReportResource;

interface ReportObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string; readonly [key: string]: unknown };
  readonly spec?: { readonly report?: unknown };
  readonly status?: Record<string, unknown>;
}

export type Published = "created" | "updated" | "unchanged";

/** Canonical JSON (keys sorted), to tell whether a report changed. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

export class ReportPublisher {
  private readonly kind: ReportKind;
  private readonly namespace: string;
  private readonly name: string;
  private readonly what: string;

  constructor(kind: ReportKind, namespace: string, nodeName: string) {
    this.kind = kind;
    this.namespace = namespace;
    this.name = nodeName;
    this.what = `${kind.plural}.${reportGroup} ${namespace}/${nodeName}`;
  }

  /** Publishes `report` with its `summary` (status fields); `now` stamps a change. */
  async publish(calls: Retrying, report: unknown, summary: Readonly<Record<string, string | number>>, now: Date): Promise<Published> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.read(calls);
      const sameReport = current !== null && canonical(current.spec?.report) === canonical(report);
      const { updated: _updated, ...currentSummary } = current?.status ?? {};
      const sameSummary = current !== null && canonical(currentSummary) === canonical({ node: this.name, ...summary });
      if (sameReport && sameSummary) return "unchanged";
      const status = { node: this.name, ...summary, updated: now.toISOString().replace(/\.\d+Z$/, "Z") };
      if (current === null) {
        const created = await this.send<ReportObject>(calls, { verb: "create", path: this.path(""), what: this.what, body: this.object(report) });
        if (created === "conflict") continue;
        await this.writeStatus(calls, created, status);
        return "created";
      }
      const updated = sameReport
        ? current
        : await this.send<ReportObject>(calls, { verb: "update", path: this.path(), what: this.what, body: { ...current, spec: { report } } });
      if (updated !== "conflict" && (await this.writeStatus(calls, updated, status))) return "updated";
      await calls.backOff(attempt, () => new CmkError("lock-timeout", `${this.what} kept changing while cmk published it; try again`));
    }
  }

  private object(report: unknown): ReportObject {
    return {
      apiVersion: `${reportGroup}/${reportVersion}`,
      kind: this.kind.kind,
      metadata: { name: this.name, namespace: this.namespace, labels: { "app.kubernetes.io/part-of": "cmk" } },
      spec: { report },
    };
  }

  private async read(calls: Retrying): Promise<ReportObject | null> {
    const response = await calls.send<ReportObject>({ verb: "get", path: this.path(), what: this.what }, (status) => status === 200 || status === 404);
    if (response.status !== 404) return response.body;
    // 404 from a missing definition says so in its message; a missing object does not.
    return (await this.definitionMissing(calls)) ? Promise.reject(this.noDefinition()) : null;
  }

  private async writeStatus(calls: Retrying, object: ReportObject, status: Record<string, unknown>): Promise<boolean> {
    const body = { ...object, status };
    return (await this.send(calls, { verb: "update", path: `${this.path()}/status`, what: `${this.what} status`, body })) !== "conflict";
  }

  /** Sends a create or update; "conflict" when another writer came first (409). */
  private async send<T>(calls: Retrying, request: ApiRequest): Promise<T | "conflict"> {
    const response = await calls.send<T>(request, (status) => (status >= 200 && status <= 299) || status === 409 || status === 404);
    if (response.status === 404)
      throw (await this.definitionMissing(calls)) ? this.noDefinition() : new CmkError("api", `${this.what} vanished while cmk wrote it; try again`);
    return response.status === 409 ? "conflict" : response.body;
  }

  /** Whether the API server lacks the report's resource (API discovery, which every user may read). */
  private async definitionMissing(calls: Retrying): Promise<boolean> {
    const response = await calls.send<{ resources?: { name: string }[] }>(
      { verb: "get", path: `/apis/${reportGroup}/${reportVersion}`, what: `API group ${reportGroup}/${reportVersion}` },
      (status) => status === 200 || status === 404,
    );
    return response.status === 404 || !(response.body.resources ?? []).some((resource) => resource.name === this.kind.plural);
  }

  private noDefinition(): CmkError {
    return new CmkError(
      "api",
      `the cluster does not serve ${this.kind.plural}.${reportGroup}: have an administrator apply cmk's report definitions (kubectl apply -f deploy/crds.yaml), then publish again`,
    );
  }

  private path(name: string = this.name): string {
    return `/apis/${reportGroup}/${reportVersion}/namespaces/${encodeURIComponent(this.namespace)}/${this.kind.plural}${name === "" ? "" : `/${encodeURIComponent(name)}`}`;
  }
}

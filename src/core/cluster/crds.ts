// The custom resources of cmk's published reports (node-report --publish, reconcile --publish,
// cmk agent --publish): one object per node, named after it, in cmk's namespace. CMK's group
// (intel.com), version, kinds, plurals and short names are kept, so `kubectl get cmk-nodereports`
// keeps working; what changed is the API (apiextensions.k8s.io/v1: v1beta1 is gone since
// Kubernetes 1.22), a structural schema, and a status subresource whose summary feeds the printer
// columns.
import type { JsonObject } from "../mutations.ts";
import { partOfLabel, partOfValue } from "./spec.ts";

interface Column {
  readonly name: string;
  readonly type: "string" | "integer" | "date";
  readonly field: string;
  readonly description?: string;
}

export const reportGroup = "intel.com";
export const reportVersion = "v1";

/** A report's kind and plural: what the publisher and these definitions share. */
export interface ReportResource {
  readonly kind: string;
  readonly plural: string;
}

export const nodeReportKind: ReportResource = { kind: "Cmk-nodereport", plural: "cmk-nodereports" };
export const reconcileReportKind: ReportResource = { kind: "Cmk-reconcilereport", plural: "cmk-reconcilereports" };

interface ReportKind extends ReportResource {
  readonly shortName: string;
  readonly reportDescription: string;
  readonly columns: readonly Column[];
}

const reportKinds: readonly ReportKind[] = [
  {
    ...nodeReportKind,
    shortName: "cmk-nr",
    reportDescription: "cmk node-report's JSON (checks, description, topology), as CMK published it.",
    columns: [
      { name: "Node", type: "string", field: "node" },
      { name: "Pools", type: "string", field: "pools", description: "The node's pools, comma-separated." },
      { name: "Exclusive-Free", type: "integer", field: "exclusiveFree" },
      { name: "Exclusive-Held", type: "integer", field: "exclusiveHeld" },
      { name: "Problems", type: "integer", field: "problems", description: "Errors found by the report's checks (0 when every check passed)." },
      { name: "Updated", type: "date", field: "updated" },
    ],
  },
  {
    ...reconcileReportKind,
    shortName: "cmk-rr",
    reportDescription: "cmk reconcile's JSON (reclaimedCpuLists, mismatchedCpuMasks).",
    columns: [
      { name: "Node", type: "string", field: "node" },
      { name: "Reclaimed", type: "integer", field: "reclaimed", description: "CPU lists the last pass freed from dead tasks." },
      { name: "Mismatched", type: "integer", field: "mismatched", description: "Live tasks whose CPU mask differs from their lists." },
      { name: "Updated", type: "date", field: "updated" },
    ],
  },
];

export const reportPlurals: readonly string[] = reportKinds.map((kind) => kind.plural);

function statusProperty(column: Column): JsonObject {
  const type: JsonObject = column.type === "date" ? { type: "string", format: "date-time" } : { type: column.type };
  return column.description === undefined ? type : { description: column.description, ...type };
}

function definition(report: ReportKind): JsonObject {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${report.plural}.${reportGroup}`, labels: { [partOfLabel]: partOfValue } },
    spec: {
      group: reportGroup,
      scope: "Namespaced",
      names: {
        kind: report.kind,
        listKind: `${report.kind}List`,
        singular: report.plural.replace(/s$/, ""),
        plural: report.plural,
        shortNames: [report.shortName],
      },
      versions: [
        {
          name: reportVersion,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: report.columns.map((column) => ({ name: column.name, type: column.type, jsonPath: `.status.${column.field}` })),
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  properties: { report: { description: report.reportDescription, type: "object", "x-kubernetes-preserve-unknown-fields": true } },
                },
                status: { type: "object", properties: Object.fromEntries(report.columns.map((column) => [column.field, statusProperty(column)])) },
              },
            },
          },
        },
      ],
    },
  };
}

/** Both report definitions, as `kubectl apply` and cluster-init send them. */
export function reportDefinitions(): JsonObject[] {
  return reportKinds.map(definition);
}

// What RBAC cannot say about the node agent: that an agent changes only its own node. Its role
// must allow patching Nodes and writing ConfigMaps (it cannot name one node per DaemonSet pod), so
// a stolen agent token could change every node's advertisement and state. A token the kubelet
// gives an agent's pod names the pod's node (userInfo.extra authentication.kubernetes.io/node-name),
// and this ValidatingAdmissionPolicy holds such a token to that node's Node, its state
// (cmk-config-<node>), its reconfigure request and its reports. Tokens without a node (an
// operator's `kubectl create token`) keep what RBAC gives them.
import type { JsonObject } from "../mutations.ts";
import { reportGroup, reportPlurals } from "./crds.ts";
import { type ClusterSpec, labelsOf, names } from "./spec.ts";

export const nodeNameExtra = "authentication.kubernetes.io/node-name";

function expressions(spec: ClusterSpec): { match: string; node: string; names: string } {
  const node = `request.userInfo.extra['${nodeNameExtra}'][0]`;
  return {
    match: `request.userInfo.username == 'system:serviceaccount:${spec.namespace}:${spec.agentAccount}' && has(request.userInfo.extra) && '${nodeNameExtra}' in request.userInfo.extra`,
    node,
    names: `[${node}, 'cmk-config-' + ${node}, 'cmk-reconfigure-' + ${node}]`,
  };
}

/** The policy and its binding (Deny). */
export function nodeAgentPolicy(spec: ClusterSpec): JsonObject[] {
  const cel = expressions(spec);
  const name = `${names.nodeAgentRole}-own-node`;
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name, labels: labelsOf(names.nodeAgentRole) },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["nodes", "nodes/status", "configmaps"] },
            {
              apiGroups: [reportGroup],
              apiVersions: ["*"],
              operations: ["CREATE", "UPDATE"],
              resources: reportPlurals.flatMap((plural) => [plural, `${plural}/status`]),
            },
          ],
        },
        matchConditions: [{ name: "a-node-agent-token-bound-to-a-node", expression: cel.match }],
        validations: [
          {
            expression: `object.metadata.name in ${cel.names}`,
            messageExpression: `'a node agent changes only its own node (' + ${cel.node} + '), not ' + request.resource.resource + ' ' + object.metadata.name`,
            reason: "Forbidden",
          },
        ],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name, labels: labelsOf(names.nodeAgentRole) },
      spec: { policyName: name, validationActions: ["Deny"] },
    },
  ];
}

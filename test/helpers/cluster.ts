// What the cluster tests (cluster-init, reconfigure_setup) set up alike: registered nodes, deploy/'s
// accounts applied as an administrator applies them, and kubeconfigs holding nothing but a token
// minted for one service account, so every run proves what that account may do.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./cmk.ts";
import type { ControlPlane } from "./controlplane.ts";
import { kubeconfigText } from "./kubeconfig.ts";

export interface Identity {
  readonly token: string;
  /** A kubeconfig file with that token only. */
  readonly kubeconfig: string;
}

/** A token minted for namespace/account, and a kubeconfig in `dir` that holds it. */
export async function identityOf(cp: ControlPlane, dir: string, account: string, namespace = "cmk"): Promise<Identity> {
  const token = await cp.createToken(namespace, account);
  const kubeconfig = join(dir, `${namespace}-${account}.kubeconfig`);
  writeFileSync(kubeconfig, kubeconfigText({ server: cp.server, ca: cp.caCert }, `    token: ${token}\n`));
  return { token, kubeconfig };
}

/** Registers `nodes`, applies deploy/node-agent-rbac.yaml and deploy/cluster-init-rbac.yaml, and gives the two accounts' kubeconfigs. */
export async function clusterAccounts(cp: ControlPlane, dir: string, nodes: readonly string[]): Promise<{ clusterInit: Identity; nodeAgent: Identity }> {
  for (const node of nodes) await cp.registerNode(node, { capacity: {} });
  const files = ["node-agent-rbac.yaml", "cluster-init-rbac.yaml"].flatMap((file) => ["-f", join(repoRoot, "deploy", file)]);
  const applied = await cp.kubectl(["apply", ...files]);
  assert.equal(applied.code, 0, applied.stderr);
  return { clusterInit: await identityOf(cp, dir, "cmk-cluster-init"), nodeAgent: await identityOf(cp, dir, "cmk-node-agent") };
}

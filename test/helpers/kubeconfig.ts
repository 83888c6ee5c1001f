// Kubeconfig files as tests write them: one cluster, one user and a current context joining them.

export interface ClusterFields {
  /** https://host:port */
  readonly server: string;
  /** PEM of the CA, written as certificate-authority-data; absent: none. */
  readonly ca?: string;
  readonly tlsServerName?: string;
}

/** A kubeconfig's text; `user` is the user's body, each line indented by four spaces. */
export function kubeconfigText(cluster: ClusterFields, user: string): string {
  const ca = cluster.ca === undefined ? "" : `    certificate-authority-data: ${Buffer.from(cluster.ca).toString("base64")}\n`;
  const serverName = cluster.tlsServerName === undefined ? "" : `    tls-server-name: ${cluster.tlsServerName}\n`;
  return `apiVersion: v1
kind: Config
current-context: ctx
contexts:
- name: ctx
  context:
    cluster: c
    user: u
clusters:
- name: c
  cluster:
    server: ${cluster.server}
${ca}${serverName}users:
- name: u
  user:
${user}`;
}

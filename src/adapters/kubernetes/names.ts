// The names of a node's ConfigMap state, as CMK 1.5 chose them, in one place with no imports, so
// that code which only names the store (`cmk isolate` telling the agent which store its flags
// mean) need not load the Kubernetes client.

/** The ConfigMap that holds a node's state. */
export function configMapName(nodeName: string): string {
  return `cmk-config-${nodeName}`;
}

/** How the store names itself in messages and to the agent: "configmap <namespace>/<name>". */
export function configMapLocation(namespace: string, name: string): string {
  return `configmap ${namespace}/${name}`;
}

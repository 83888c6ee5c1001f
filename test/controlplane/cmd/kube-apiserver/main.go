// Command kube-apiserver is the upstream Kubernetes API server, built from the
// k8s.io/kubernetes module at the version pinned in ../../go.mod.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	// Side-effect imports the upstream command also performs: JSON logging
	// support and the client-go / version Prometheus metrics.
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"

	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}

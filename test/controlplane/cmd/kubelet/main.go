// Command kubelet is the upstream Kubernetes node agent, built from the
// k8s.io/kubernetes module at the version pinned in ../../go.mod, with the same
// replace set as the control plane, so node and control plane are one release.
// scripts/node runs it against containerd for the tests that need real pods.
package main

import (
	"context"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"

	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand(context.Background())))
}

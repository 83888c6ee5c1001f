// Command kube-controller-manager is the upstream Kubernetes controller
// manager, built from the k8s.io/kubernetes module at the version pinned in
// ../../go.mod.
package main

import (
	"os"
	// CronJob time zones, as the upstream command embeds them.
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"

	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}

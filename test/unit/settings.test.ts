// The settings every command shares, read once from the environment: where sysfs, the kernel's
// command line and the processes are read, and how long to wait for the lock.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { settingsFromEnvironment } from "../../src/app/settings.ts";
import { CmkError } from "../../src/core/errors.ts";

const noKubernetes = {
  kubeconfigPaths: [],
  nodeName: undefined,
  serviceHost: undefined,
  servicePort: undefined,
  serviceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount",
  pod: undefined,
};

describe("settingsFromEnvironment", () => {
  it("reads the real machine when nothing is set, or an empty value is", () => {
    for (const env of [{}, { CMK_DEV_LSCPU_SYSFS: "", CMK_PROC_FS: "", CMK_LOCK_TIMEOUT: "" }]) {
      assert.deepEqual(settingsFromEnvironment(env), {
        procFs: "/proc",
        sysRoot: "/",
        kernelFs: "/proc",
        lockTimeoutSeconds: 30,
        kubernetes: noKubernetes,
        agentSocket: "/var/lib/cmk/agent.sock",
      });
    }
  });

  it("takes a fake system root's sysfs and kernel command line, and keeps the live procfs for processes", () => {
    assert.deepEqual(settingsFromEnvironment({ CMK_DEV_LSCPU_SYSFS: "/tmp/fixture/", CMK_PROC_FS: "/host/proc", CMK_LOCK_TIMEOUT: "0.5" }), {
      procFs: "/host/proc",
      sysRoot: "/tmp/fixture/",
      kernelFs: "/tmp/fixture/proc",
      lockTimeoutSeconds: 0.5,
      kubernetes: noKubernetes,
      agentSocket: "/var/lib/cmk/agent.sock",
    });
    assert.equal(settingsFromEnvironment({ CMK_PROC_FS: "/host/proc" }).kernelFs, "/host/proc");
  });

  it("reads how to reach Kubernetes: KUBECONFIG's files in order, the node, the service and the pod a task runs in", () => {
    const { kubernetes } = settingsFromEnvironment({
      KUBECONFIG: "/a/config::/b/config",
      NODE_NAME: "node-1",
      KUBERNETES_SERVICE_HOST: "10.96.0.1",
      KUBERNETES_SERVICE_PORT: "443",
      POD_NAMESPACE: "team",
      POD_NAME: "web-0",
      POD_UID: "2f0c",
    });
    assert.deepEqual(kubernetes, {
      kubeconfigPaths: ["/a/config", "/b/config"],
      nodeName: "node-1",
      serviceHost: "10.96.0.1",
      servicePort: "443",
      serviceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount",
      pod: { namespace: "team", name: "web-0", uid: "2f0c" },
    });
    // A pod is recorded only when all three are known.
    assert.equal(settingsFromEnvironment({ POD_NAME: "web-0", POD_UID: "2f0c" }).kubernetes.pod, undefined);
  });

  it("finds the agent at CMK_AGENT_SOCKET", () => {
    assert.equal(settingsFromEnvironment({ CMK_AGENT_SOCKET: "/run/cmk.sock" }).agentSocket, "/run/cmk.sock");
  });

  it("refuses a malformed lock timeout as a usage error naming the variable", () => {
    assert.throws(
      () => settingsFromEnvironment({ CMK_LOCK_TIMEOUT: "soon" }),
      (error: unknown) => error instanceof CmkError && error.kind === "usage" && /^CMK_LOCK_TIMEOUT="soon" is not valid/.test(error.message),
    );
  });
});

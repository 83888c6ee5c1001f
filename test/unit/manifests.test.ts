// The files under deploy/ are what the code cluster-init applies makes (scripts/write-manifests.ts
// writes them); the objects follow the spec's choices; the webhook's certificates made without
// openssl are ones openssl and node:tls take; literal blocks read back as the strings they hold.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { deployManifests } from "../../scripts/write-manifests.ts";
import { issueServing, issueWebhookCertificates, unusableBecause } from "../../src/adapters/x509.ts";
import { clusterManifests, dryRunText } from "../../src/app/manifests.ts";
import { parseArgs } from "../../src/cli/args.ts";
import { clusterSpec } from "../../src/commands/cluster-spec.ts";
import { agentFlags, clusterInitFlags } from "../../src/commands/flags.ts";
import { agentDaemonSet } from "../../src/core/cluster/agent.ts";
import { installedBy, uninstallPod, uninstallProgress } from "../../src/core/cluster/node-uninstall.ts";
import { nodeAgentClusterRules, nodeAgentRules, type Rule } from "../../src/core/cluster/rbac.ts";
import { webhookDnsNames } from "../../src/core/cluster/spec.ts";
import { emitYaml } from "../../src/formats/yaml.ts";
import { repoRoot } from "../helpers/cmk.ts";

function spec(args: readonly string[] = []) {
  return clusterSpec(parseArgs("cluster-init", args, clusterInitFlags, false).options);
}

type Obj = { kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown };

describe("deploy/", () => {
  it("holds exactly what scripts/write-manifests.ts makes from src/core/cluster/ (run it after a change there)", () => {
    for (const { name, text } of deployManifests()) {
      assert.equal(readFileSync(join(repoRoot, "deploy", name), "utf8"), text, `deploy/${name} is stale: run node scripts/write-manifests.ts`);
    }
  });

  it("each object says it is cmk's, and every namespaced one is in cmk's namespace", () => {
    for (const object of clusterManifests(spec(["--namespace=cmk-test"])) as unknown as Obj[]) {
      const metadata = object.metadata as { labels?: Record<string, string>; namespace?: string };
      assert.equal(metadata.labels?.["app.kubernetes.io/part-of"], "cmk", `${object.kind} ${object.metadata.name}`);
      if (metadata.namespace !== undefined) assert.equal(metadata.namespace, "cmk-test");
    }
  });
});

describe("the objects follow the flags", () => {
  it("the agent runs CMK's listed commands as init containers, in order, with init's flags and --keep-existing", () => {
    const objects = clusterManifests(
      spec(["--cmk-cmd-list=init,discover,reconcile", "--num-exclusive-cores=2", "--no-taint", "--pull-secret=regcred"]),
    ) as unknown as Obj[];
    const daemonSet = objects.find((object) => object.kind === "DaemonSet") as unknown as {
      spec: { template: { spec: { initContainers: { name: string; command: string[] }[]; containers: { command: string[] }[]; imagePullSecrets: unknown } } };
    };
    const pod = daemonSet.spec.template.spec;
    assert.deepEqual(
      pod.initContainers.map((container) => container.name),
      ["init", "discover"],
    );
    assert.ok(pod.initContainers[0]?.command.includes("--keep-existing"));
    assert.ok(pod.initContainers[0]?.command.includes("--num-exclusive-cores=2"));
    assert.ok(pod.initContainers[1]?.command.includes("--no-taint"));
    assert.ok(pod.containers[0]?.command.includes("--publish"));
    assert.deepEqual(pod.imagePullSecrets, [{ name: "regcred" }]);
  });

  it("the webhook's registration excludes the cluster's namespaces and cmk's, fails closed, has no side effects and a short timeout", () => {
    const objects = clusterManifests(spec(["--namespace=cpu"])) as unknown as Obj[];
    const registration = objects.find((object) => object.kind === "MutatingWebhookConfiguration") as unknown as { webhooks: Record<string, unknown>[] };
    const webhook = registration.webhooks[0] ?? {};
    assert.equal(webhook["failurePolicy"], "Fail");
    assert.equal(webhook["sideEffects"], "None");
    assert.ok((webhook["timeoutSeconds"] as number) <= 5);
    assert.deepEqual((webhook["namespaceSelector"] as { matchExpressions: { values: string[] }[] }).matchExpressions[0]?.values, [
      "kube-system",
      "kube-public",
      "kube-node-lease",
      "cpu",
    ]);
  });

  it("the kubelet's probes reach the agent: they go to the pod's IP (the kubelet's own loopback is the host's), where the agent listens on its metrics port", () => {
    for (const args of [[], ["--device-plugin"]]) {
      const objects = clusterManifests(spec(args)) as unknown as Obj[];
      const daemonSet = objects.find((object) => object.kind === "DaemonSet") as unknown as {
        spec: { template: { spec: { hostNetwork?: boolean; containers: Record<string, unknown>[] } } };
      };
      const pod = daemonSet.spec.template.spec;
      assert.notEqual(pod.hostNetwork, true, "the agent runs on the pod network");
      const agent = pod.containers[0] as { command: string[]; ports: { name: string; containerPort: number }[] } & Record<string, unknown>;
      const { options } = parseArgs("agent", agent.command.slice(2), agentFlags);
      const port = agent.ports.find((entry) => entry.name === "metrics");
      assert.equal(port?.containerPort, options.metricsPort);
      assert.ok(
        options.metricsAddress === "0.0.0.0" || options.metricsAddress === "::",
        `the agent listens on ${options.metricsAddress}, which the pod's IP is not`,
      );
      for (const probe of ["readinessProbe", "livenessProbe"]) {
        const httpGet = (agent[probe] as { httpGet: { host?: string; port: string | number } }).httpGet;
        assert.equal(httpGet.host, undefined, `${probe}: no host, so the kubelet connects to the pod's IP`);
        assert.ok(httpGet.port === "metrics" || httpGet.port === options.metricsPort, `${probe} goes to the metrics port`);
      }
    }
  });

  it("refuses namespaces cmk cannot live in", () => {
    for (const namespace of ["default", "kube-system"]) assert.throws(() => spec([`--namespace=${namespace}`]), /needs a namespace of its own/);
  });

  it("--dry-run's text is every object, YAML that kubectl reads (literal blocks for the webhook's files)", () => {
    const text = dryRunText(spec(), "every schedulable node");
    assert.equal(text.split(/^---$/m).length, clusterManifests(spec()).length + 1);
    assert.match(text, /^ {2}server\.yaml: \|\n {4}server:\n/m);
  });
});

describe("cluster-init's rights", () => {
  const holds = (rules: readonly Rule[], wanted: Rule): boolean =>
    wanted.verbs.every((verb) =>
      wanted.resources.every((resource) =>
        rules.some(
          (rule) =>
            rule.resourceNames === undefined &&
            rule.apiGroups.includes(wanted.apiGroups[0] ?? "") &&
            rule.resources.includes(resource) &&
            rule.verbs.includes(verb),
        ),
      ),
    );

  it("include every right it grants the node agent (Kubernetes refuses a Role from whoever lacks one)", async () => {
    const { clusterInitClusterRules, clusterInitRules } = await import("../../src/core/cluster/rbac.ts");
    for (const wanted of nodeAgentRules) assert.ok(holds(clusterInitRules(spec()), wanted), JSON.stringify(wanted));
    for (const wanted of nodeAgentClusterRules) assert.ok(holds(clusterInitClusterRules(spec()), wanted), JSON.stringify(wanted));
  });
});

describe("the webhook's certificates", () => {
  const names = webhookDnsNames("cmk");

  it("are a CA and a serving certificate for the Service's names that openssl verifies", () => {
    const dir = mkdtempSync(join(tmpdir(), "cmk-x509-"));
    const issued = issueWebhookCertificates("cmk-webhook-ca", names);
    writeFileSync(join(dir, "ca.crt"), issued.caCert);
    writeFileSync(join(dir, "tls.crt"), issued.cert);
    const verified = execFileSync("openssl", ["verify", "-CAfile", join(dir, "ca.crt"), "-purpose", "sslserver", join(dir, "tls.crt")], { encoding: "utf8" });
    assert.match(verified, /tls\.crt: OK/);
    const cert = new X509Certificate(issued.cert);
    assert.equal(cert.subjectAltName, names.map((name) => `DNS:${name}`).join(", "));
    assert.equal(cert.ca, false);
    assert.equal(new X509Certificate(issued.caCert).ca, true);
    assert.equal(unusableBecause(issued, issued.caCert, names, 30), undefined);
  });

  it("are told apart when they cannot serve: another name, expiry within the margin, another CA, a key that is not theirs", () => {
    const issued = issueWebhookCertificates("cmk-webhook-ca", names);
    const other = issueWebhookCertificates("other-ca", names);
    assert.match(unusableBecause(issued, issued.caCert, ["cmk-webhook.elsewhere.svc"], 30) ?? "", /does not name cmk-webhook\.elsewhere\.svc/);
    assert.match(unusableBecause(issued, issued.caCert, names, 400) ?? "", /expires on/);
    assert.match(unusableBecause(issued, other.caCert, names, 30) ?? "", /not signed by the CA/);
    assert.match(unusableBecause({ cert: issued.cert, key: other.key }, issued.caCert, names, 30) ?? "", /key does not match/);
    const renewed = issueServing(issued, names);
    assert.equal(unusableBecause(renewed, issued.caCert, names, 30), undefined);
  });
});

describe("YAML literal blocks", () => {
  it("keep a string of several lines exactly: one final line break, none, or several", () => {
    for (const text of ["a: 1\n  b: 2\n", "line\nno break", "kept\n\n", "x\n\ny\n"]) {
      const yaml = emitYaml(new Map([["k", text]]), { literalBlocks: true });
      assert.match(yaml, /^k: \|[-+]?\n/);
      const indented = yaml.split("\n").slice(1);
      const body = indented.map((line) => line.slice(2)).join("\n");
      const chomp = yaml[4];
      const expected = chomp === "-" ? body.replace(/\n$/, "") : chomp === "+" ? body : `${body.replace(/\n+$/, "")}\n`;
      assert.equal(expected, text, JSON.stringify(yaml));
    }
  });

  it("are not used where a line starts with a blank, and PyYAML's style stays the default", () => {
    assert.match(emitYaml(new Map([["k", " lead\nx"]]), { literalBlocks: true }), /^k: " lead\\nx"\n$/);
    assert.match(emitYaml(new Map([["k", "a\nb"]])), /^k: "a\\nb"\n$/);
  });
});

describe("uninstall --cluster's pod on each node", () => {
  it("takes the image, pull settings and install directory from the agent DaemonSet, and only from cmk's with an install container", () => {
    const daemonSet = agentDaemonSet(
      spec(["--cmk-img=registry.example/cmk:v9", "--cmk-img-pol=Always", "--pull-secret=regcred", "--install-dir=/usr/local/cmk"]),
    );
    const installed = installedBy(daemonSet);
    assert.deepEqual(installed, { installDir: "/usr/local/cmk", image: "registry.example/cmk:v9", pullPolicy: "Always", pullSecrets: [{ name: "regcred" }] });
    assert.equal(installedBy(agentDaemonSet(spec(["--cmk-cmd-list=init,discover,reconcile"]))), undefined);
    const metadata = daemonSet["metadata"] as Record<string, unknown>;
    assert.equal(installedBy({ ...daemonSet, metadata: { ...metadata, labels: {} } }), undefined);
    const pod = uninstallPod(installed as NonNullable<typeof installed>, "cmk", "node-1") as unknown as {
      metadata: { name: string };
      spec: { nodeName: string; imagePullSecrets: unknown; volumes: unknown; containers: { command: string[] }[] };
    };
    assert.equal(pod.metadata.name, "cmk-uninstall-node-1");
    assert.equal(pod.spec.nodeName, "node-1");
    assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred" }]);
    assert.deepEqual(pod.spec.volumes, [{ name: "cmk-install-dir", hostPath: { path: "/usr/local/cmk", type: "Directory" } }]);
    assert.deepEqual(pod.spec.containers[0]?.command, ["/opt/bin/cmk", "uninstall", "--install-dir=/host/opt/bin"]);
  });

  it("says per node whether cmk was removed, failed to be, or what its pod is doing", () => {
    const ended = { name: "uninstall", state: { terminated: { exitCode: 1, message: "EACCES" } } };
    assert.deepEqual(uninstallProgress("node-1", "/opt/bin", { name: "p", phase: "Succeeded" }), {
      node: "node-1",
      done: true,
      failed: false,
      line: "node-1: cmk removed from /opt/bin",
    });
    assert.equal(
      uninstallProgress("node-1", "/opt/bin", { name: "p", phase: "Failed", containerStatuses: [ended] }).line,
      "node-1: cmk not removed from /opt/bin: pod p Failed, container uninstall exited 1: EACCES",
    );
    assert.equal(uninstallProgress("node-1", "/opt/bin", { name: "p", phase: "Pending" }).line, "node-1: removing cmk from /opt/bin; pod p Pending");
    assert.equal(uninstallProgress("node-1", "/opt/bin", undefined).done, false);
  });
});

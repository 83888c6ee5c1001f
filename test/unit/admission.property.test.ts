// The webhook's patch on generated pods: whatever volumes, mounts, variables, tolerations and
// groups a pod already has, the patch applies (as the API server applies it), gives nothing twice,
// gives each container that asks its CMK_NUM_CORES, and a second review of the result patches
// nothing; a pod is denied exactly when a container's request and limit differ or a count is not
// a positive whole number.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { reviewAdmission } from "../../src/core/admission.ts";
import { parseMutations } from "../../src/formats/webhook-config.ts";
import { applyPatch, type Json, type JsonObject, patchOf, reviewOf } from "../helpers/admission.ts";
import { repoRoot } from "../helpers/cmk.ts";
import { fc, runs } from "../helpers/property.ts";

const shipped = parseMutations(readFileSync(join(repoRoot, "deploy", "webhook-mutations.yaml"), "utf8"), "webhook-mutations.yaml");

const counts = ["1", "2", "4", "0", "500m", "x"] as const;
const valid = new Set(["1", "2", "4"]);

const cores = fc.option(
  fc.record({
    resource: fc.constantFrom("cmk.intel.com/exclusive-cores", "cmk.intel.com/exclusive-non-isolcpus-cores"),
    request: fc.option(fc.constantFrom(...counts)),
    limit: fc.option(fc.constantFrom(...counts)),
  }),
  { nil: undefined },
);
const env = fc.uniqueArray(
  fc.record({ name: fc.constantFrom("CMK_AGENT_SOCKET", "CMK_NUM_CORES", "A", "PATH"), value: fc.constantFrom("/var/lib/cmk/agent.sock", "1", "2", "") }),
  { selector: (entry) => entry.name, maxLength: 3 },
);
const mounts = fc.uniqueArray(
  fc.record({ name: fc.constantFrom("cmk-agent", "cmk-bin", "data"), mountPath: fc.constantFrom("/var/lib/cmk", "/opt/bin", "/data"), readOnly: fc.boolean() }),
  { selector: (entry) => entry.mountPath, maxLength: 3 },
);
const containerArbitrary = fc.record({ cores, env: fc.option(env, { nil: undefined }), mounts: fc.option(mounts, { nil: undefined }) });
const podArbitrary = fc.record({
  containers: fc.array(containerArbitrary, { minLength: 1, maxLength: 3 }),
  initContainers: fc.option(fc.array(containerArbitrary, { maxLength: 2 }), { nil: undefined }),
  volumes: fc.option(
    fc.uniqueArray(fc.record({ name: fc.constantFrom("cmk-agent", "cmk-bin", "data"), path: fc.constantFrom("/var/lib/cmk", "/opt/bin", "/srv") }), {
      selector: (entry) => entry.name,
      maxLength: 3,
    }),
    { nil: undefined },
  ),
  tolerations: fc.option(
    fc.array(
      fc.constantFrom<JsonObject>(
        { key: "cmk", operator: "Exists" },
        { key: "cmk", operator: "Equal", value: "false", effect: "NoSchedule" },
        { key: "other", operator: "Exists", effect: "NoExecute" },
      ),
      { maxLength: 2 },
    ),
    { nil: undefined },
  ),
  groups: fc.option(fc.uniqueArray(fc.constantFrom(7001, 100, 5), { maxLength: 2 }), { nil: undefined }),
  annotated: fc.boolean(),
  annotations: fc.option(fc.dictionary(fc.constantFrom("a", "b/c", "cmk.intel.com/resources-injected"), fc.constantFrom("x", "true")), { nil: undefined }),
});

type Generated = typeof podArbitrary extends fc.Arbitrary<infer T> ? T : never;
type GeneratedContainer = Generated["containers"][number];

function containerOf(generated: GeneratedContainer, name: string): JsonObject {
  const result: JsonObject = { name, image: "x" };
  if (generated.cores !== undefined) {
    const { resource, request, limit } = generated.cores;
    const resources: JsonObject = {};
    if (request !== null) resources["requests"] = { [resource]: request };
    if (limit !== null) resources["limits"] = { [resource]: limit };
    result["resources"] = resources;
  }
  if (generated.env !== undefined) result["env"] = generated.env as Json[];
  if (generated.mounts !== undefined) result["volumeMounts"] = generated.mounts as Json[];
  return result;
}

function podOf(generated: Generated): JsonObject {
  const spec: JsonObject = { containers: generated.containers.map((entry, index) => containerOf(entry, `c${index}`)) };
  if (generated.initContainers !== undefined) spec["initContainers"] = generated.initContainers.map((entry, index) => containerOf(entry, `i${index}`));
  if (generated.volumes !== undefined) spec["volumes"] = generated.volumes.map((volume) => ({ name: volume.name, hostPath: { path: volume.path } }));
  if (generated.tolerations !== undefined) spec["tolerations"] = generated.tolerations;
  if (generated.groups !== undefined) spec["securityContext"] = { supplementalGroups: generated.groups };
  const annotations: JsonObject = { ...(generated.annotations ?? {}) };
  if (generated.annotated) annotations["cmk.intel.com/mutate"] = "true";
  return { metadata: { name: "p", ...(Object.keys(annotations).length > 0 ? { annotations } : {}) }, spec };
}

/** The model: whether a container's cores are wrong, and how many it asks for. */
function expected(generated: GeneratedContainer): { wrong: boolean; count: string | undefined } {
  if (generated.cores === undefined) return { wrong: false, count: undefined };
  const { request, limit } = generated.cores;
  if (request === null && limit === null) return { wrong: false, count: undefined };
  const given = request ?? limit;
  if (!valid.has(given as string)) return { wrong: true, count: undefined };
  if (request !== null && limit !== null && request !== limit) return { wrong: true, count: undefined };
  const own = generated.env?.find((entry) => entry.name === "CMK_NUM_CORES");
  return { wrong: own !== undefined && own.value !== given, count: given as string };
}

function names(list: Json | undefined, field: string): string[] {
  return Array.isArray(list) ? list.map((entry) => String((entry as JsonObject)[field])) : [];
}

it("patches apply, give nothing twice, give each asking container its count, and a second review patches nothing", () => {
  fc.assert(
    fc.property(podArbitrary, (generated) => {
      const target = podOf(generated);
      const all = [...generated.containers, ...(generated.initContainers ?? [])];
      const models = all.map(expected);
      const outcome = reviewAdmission(JSON.stringify(reviewOf(target)), shipped);
      assert.ok(outcome.ok);
      if (models.some((model) => model.wrong)) {
        assert.equal(outcome.decision, "denied");
        return;
      }
      const asks = generated.annotated || models.some((model) => model.count !== undefined);
      assert.equal(outcome.decision === "unchanged" || outcome.decision === "mutated", true);
      if (!asks) {
        assert.equal(outcome.decision, "unchanged");
        return;
      }
      const mutated = applyPatch(target, patchOf((JSON.parse(outcome.body) as { response: JsonObject }).response)) as JsonObject;
      const spec = mutated["spec"] as JsonObject;
      const volumeNames = names(spec["volumes"], "name");
      assert.deepEqual(volumeNames, [...new Set(volumeNames)]);
      assert.ok(volumeNames.includes("cmk-agent") && volumeNames.includes("cmk-bin"));
      const groups = ((spec["securityContext"] as JsonObject)["supplementalGroups"] as number[]).filter((group) => group === 7001);
      assert.equal(groups.length, 1);
      const containers = [...(spec["containers"] as JsonObject[]), ...((spec["initContainers"] as JsonObject[] | undefined) ?? [])];
      containers.forEach((entry, index) => {
        const variables = names(entry["env"], "name");
        assert.deepEqual(variables, [...new Set(variables)]);
        const paths = names(entry["volumeMounts"], "mountPath");
        assert.deepEqual(paths, [...new Set(paths)]);
        assert.ok(paths.includes("/var/lib/cmk") && paths.includes("/opt/bin"));
        const numCores = (entry["env"] as JsonObject[]).find((variable) => variable["name"] === "CMK_NUM_CORES");
        // A container that asks gets its count; one that does not keeps whatever it set itself.
        const own = all[index]?.env?.find((variable) => variable.name === "CMK_NUM_CORES")?.value;
        assert.equal(numCores?.["value"], models[index]?.count ?? own);
      });
      const again = reviewAdmission(JSON.stringify(reviewOf(mutated)), shipped);
      assert.ok(again.ok && again.decision === "unchanged", JSON.stringify(again));
    }),
    runs(300),
  );
});

// Validates Kubernetes objects against the Kubernetes schemas (kubernetes-models' generated
// validators): reads a JSON array on stdin, prints one line per invalid object, exits 1 if any.
import { Deployment, ReplicaSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";

const kinds = {
  "apps/v1/Deployment": Deployment,
  "apps/v1/ReplicaSet": ReplicaSet,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
};
let input = "";
for await (const chunk of process.stdin) input += chunk;
const objects = JSON.parse(input);
let bad = 0;
for (const o of objects) {
  const Model = kinds[`${o.apiVersion}/${o.kind}`];
  if (!Model) {
    console.log(`no schema for ${o.apiVersion} ${o.kind}`);
    bad++;
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    console.log(`${o.kind} ${o.metadata?.namespace}/${o.metadata?.name}: ${e.message}`);
    bad++;
  }
}
console.log(`${objects.length - bad} of ${objects.length} valid`);
process.exit(bad ? 1 : 0);

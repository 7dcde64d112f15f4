// Validates Kubernetes objects against the Kubernetes and prometheus-operator schemas, with the
// npm packages kubernetes-models and @kubernetes-models/prometheus-operator (generated from the
// Kubernetes OpenAPI spec and the operator's CRDs). They are ESM-only (an `import` export
// condition and nothing else), which Jest's CommonJS runtime cannot load, so
// test/deploy/kubernetes.test.ts runs this with node: objects as a JSON array on stdin, one
// result per object on stdout (`null`, or the validation error's message).
const groups = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'monitoring.coreos.com/v1alpha1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1',
};
let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const obj of JSON.parse(input)) {
  const mod = groups[obj.apiVersion];
  if (!mod) {
    out.push(`no schema known for apiVersion ${obj.apiVersion}`);
    continue;
  }
  const Kind = (await import(mod))[obj.kind];
  if (!Kind) {
    out.push(`no kind ${obj.kind} in ${obj.apiVersion}`);
    continue;
  }
  try {
    new Kind(obj).validate();
    out.push(null);
  } catch (e) {
    out.push(String(e.message ?? e));
  }
}
process.stdout.write(JSON.stringify(out));

// Validates rendered Kubernetes manifests against the API schemas of the npm package
// kubernetes-models (generated from the Kubernetes OpenAPI spec).
//   node k8s_schema_check.js TOOLS_DIR FILE.yaml...
// TOOLS_DIR holds node_modules/ with kubernetes-models and js-yaml (scripts/install-deps.sh
// puts them in /opt/kvc-tools). Prints one line per object; exits 1 if any is invalid or
// of a kind without a schema, 2 on usage errors.
'use strict';
const fs = require('fs');
const path = require('path');

if (process.argv.length < 4) {
  console.error('usage: node k8s_schema_check.js TOOLS_DIR FILE.yaml...');
  process.exit(2);
}
const modules = path.join(process.argv[2], 'node_modules');
const yaml = require(path.join(modules, 'js-yaml'));

// apiVersion "apps/v1" -> kubernetes-models/apps/v1/KIND; "v1" -> kubernetes-models/v1/KIND.
function modelFor(apiVersion, kind) {
  const file = path.join(modules, 'kubernetes-models', apiVersion, kind + '.js');
  if (!fs.existsSync(file)) return null;
  return require(file)[kind];
}

let failures = 0;
let checked = 0;
for (const file of process.argv.slice(3)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, 'utf8'))) {
    if (doc === null || doc === undefined) continue;
    const name = `${doc.kind}/${doc.metadata && doc.metadata.name}`;
    const Model = modelFor(doc.apiVersion || '', doc.kind || '');
    if (!Model) {
      console.log(`FAIL ${name}: no schema for ${doc.apiVersion} ${doc.kind}`);
      failures++;
      continue;
    }
    try {
      new Model(doc).validate();
      console.log(`ok   ${name}`);
    } catch (e) {
      console.log(`FAIL ${name}: ${e.message}`);
      failures++;
    }
    checked++;
  }
}
console.log(`${checked} objects checked, ${failures} invalid`);
process.exit(failures === 0 && checked > 0 ? 0 : 1);

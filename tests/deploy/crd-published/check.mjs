// Validates CloudNativePG objects against the operator's published API: the
// @kubernetes-models/cloudnative-pg models are generated from CloudNativePG's
// own Go API types (types, enumerations, required fields).
// Usage: node check.mjs FILE.json  (a JSON list of rendered objects)
// Prints {"checked": {kind: count}, "problems": ["Kind/name: message", ...]}.
import fs from "node:fs";
import * as cnpg from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1";

const docs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const checked = {};
const problems = [];
for (const doc of docs) {
  if (doc.apiVersion !== "postgresql.cnpg.io/v1") continue;
  const where = `${doc.kind}/${doc.metadata?.name}`;
  const Model = cnpg[doc.kind];
  if (typeof Model !== "function") {
    problems.push(`${where}: no such kind in CloudNativePG's API`);
    continue;
  }
  checked[doc.kind] = (checked[doc.kind] || 0) + 1;
  try {
    new Model(doc).validate();
  } catch (err) {
    problems.push(`${where}: ${err.message}`);
  }
}
process.stdout.write(JSON.stringify({ checked, problems }));

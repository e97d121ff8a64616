// Validates AsyncAPI documents (JSON or YAML) against the official JSON Schema of the version
// each declares (`asyncapi: 3.0.0`, `2.6.0`, ...), from the @asyncapi/specs package, the way
// AsyncAPI's own parser runs it (ajv, draft-07, formats checked). Then two rules the schema
// cannot state: every local `$ref` resolves, and (3.x) an operation's messages are messages of
// its own channel.
//
//   node validate.mjs FILE...      exit 0 when every file is valid, 1 otherwise
//
// Prints `valid FILE` or `invalid FILE` followed by one line per problem.

import { readFileSync } from "node:fs";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import specs from "@asyncapi/specs";
import YAML from "yaml";

const ajvs = new Map();

function validatorFor(version) {
  if (!ajvs.has(version)) {
    // The schemas without `$id`s: the ones with them embed draft-07's meta-schema under the
    // id ajv already knows. The options are the AsyncAPI parser's own.
    const schema = specs.schemasWithoutId[version];
    if (!schema) return null;
    const ajv = new Ajv({
      allErrors: true,
      strict: false,
      allowUnionTypes: true,
      unicodeRegExp: false,
      validateFormats: true,
    });
    addFormats(ajv);
    ajvs.set(version, ajv.compile(schema));
  }
  return ajvs.get(version);
}

function pointer(doc, ref) {
  if (!ref.startsWith("#")) return { external: true };
  let node = doc;
  const parts = ref.slice(1).split("/").slice(1);
  for (const raw of parts) {
    const part = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    if (node === null || typeof node !== "object" || !(part in node)) return { missing: true };
    node = node[part];
  }
  return { node };
}

function refs(node, path, out) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => refs(v, `${path}/${i}`, out));
  } else if (node !== null && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") out.push([path, v]);
      else refs(v, `${path}/${k}`, out);
    }
  }
  return out;
}

function semantic(doc) {
  const problems = [];
  for (const [path, ref] of refs(doc, "", [])) {
    if (pointer(doc, ref).missing) problems.push(`${path || "/"}: $ref ${ref} resolves to nothing`);
  }
  if (String(doc.asyncapi).startsWith("3.")) {
    for (const [id, op] of Object.entries(doc.operations ?? {})) {
      const channel = op?.channel?.$ref;
      if (typeof channel !== "string" || !channel.startsWith("#/channels/")) {
        problems.push(`/operations/${id}/channel: not a reference to a channel of this document`);
        continue;
      }
      for (const [i, m] of (op.messages ?? []).entries()) {
        if (typeof m?.$ref !== "string" || !m.$ref.startsWith(`${channel}/messages/`)) {
          problems.push(
            `/operations/${id}/messages/${i}: ${m?.$ref} is not a message of its channel ${channel}`,
          );
        }
      }
    }
  }
  return problems;
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  let doc;
  try {
    doc = file.endsWith(".json") ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    console.log(`invalid ${file}\n  not JSON or YAML: ${e.message}`);
    failed = true;
    continue;
  }
  const validate = validatorFor(String(doc?.asyncapi));
  if (!validate) {
    console.log(`invalid ${file}\n  no schema for asyncapi version ${doc?.asyncapi}`);
    failed = true;
    continue;
  }
  const problems = [];
  if (!validate(doc)) {
    for (const e of validate.errors) {
      problems.push(`${e.instancePath || "/"}: ${e.message} (${e.schemaPath})`);
    }
  }
  problems.push(...semantic(doc));
  if (problems.length === 0) {
    console.log(`valid ${file}`);
  } else {
    failed = true;
    console.log(`invalid ${file}`);
    for (const p of problems.slice(0, 50)) console.log(`  ${p}`);
    if (problems.length > 50) console.log(`  ... ${problems.length - 50} more`);
  }
}
process.exit(failed ? 1 : 0);

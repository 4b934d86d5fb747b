// Renders chat templates with @huggingface/jinja, the reference the conformance test
// compares kvc's interpreter against. Usage: node render_reference.cjs REFS_DIR IN.json
// IN = {"template": "...", "cases": [{"vars": {...}}, ...]}; prints a JSON array with
// {"text": "..."} or {"error": "..."} per case.
const path = require("path");
const fs = require("fs");
const { Template } = require(path.join(process.argv[2], "node_modules", "@huggingface", "jinja"));
const input = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const template = new Template(input.template);
const out = input.cases.map((c) => {
  try {
    return { text: template.render(c.vars) };
  } catch (e) {
    return { error: String(e.message || e) };
  }
});
process.stdout.write(JSON.stringify(out));

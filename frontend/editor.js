// The editor page of playbooks and game days: CodeMirror 6 over the form's textarea,
// validation as you type (the server's parser is the authority), completion from the
// document's JSON Schema, and beside it the live plan (a playbook) or the schedule with its
// next fire times (a game day, config.kind "gameday"). Bundled by scripts/setup.sh into
// static/vendor/editor.bundle.js.
//
// Without this bundle the page still works: the textarea is the form field and Save posts it.

import { autocompletion } from "@codemirror/autocomplete";
import { indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { indentUnit } from "@codemirror/language";
import { linter, lintGutter } from "@codemirror/lint";
import { keymap } from "@codemirror/view";
import { basicSetup, EditorView } from "codemirror";

const VALIDATE_DELAY_MS = 300;

function csrfToken() {
  const field = document.querySelector("#editor-form input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---------------------------------------------------------------- validation and the plan

async function postValidate(config, content) {
  const response = await fetch(config.validateUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({ content, filename: config.filename, playbook: config.playbook }),
  });
  if (!response.ok) throw new Error(`validation failed: HTTP ${response.status}`);
  return response.json();
}

function diagnosticsOf(doc, issues) {
  return issues.map((issue) => {
    const lineNo = Math.min(Math.max(issue.line || 1, 1), doc.lines);
    const line = doc.line(lineNo);
    const from = line.from + Math.min(Math.max((issue.column || 1) - 1, 0), line.length);
    // Mark from the column to the end of the line; from the line's start when the column
    // is at its end (a missing value), so the mark stays visible.
    const start = from < line.to ? from : line.from;
    return {
      from: start,
      to: line.to,
      severity: "error",
      message: issue.hint ? `${issue.message}\nhint: ${issue.hint}` : issue.message,
    };
  });
}

function showProblems(view, issues, failure) {
  const list = document.getElementById("problems");
  const none = document.getElementById("no-problems");
  const status = document.getElementById("validation-status");
  list.replaceChildren(
    ...issues.map((issue) => {
      const item = el(
        "li",
        { "data-line": issue.line, "data-column": issue.column, title: "Go to the line" },
        el("span", { class: "problem-where" }, `line ${issue.line}, column ${issue.column}`),
        el("span", { class: "problem-message" }, issue.message),
        issue.hint ? el("span", { class: "problem-hint" }, `hint: ${issue.hint}`) : null,
      );
      item.addEventListener("click", () => goToLine(view, issue.line));
      return item;
    }),
  );
  none.hidden = issues.length > 0 || Boolean(failure);
  if (failure) status.textContent = failure;
  else status.textContent = issues.length ? `${issues.length} problem${issues.length === 1 ? "" : "s"}` : "valid";
  status.dataset.state = failure ? "unknown" : issues.length ? "invalid" : "valid";
}

function goToLine(view, lineNo) {
  const line = view.state.doc.line(Math.min(Math.max(lineNo, 1), view.state.doc.lines));
  view.dispatch({ selection: { anchor: line.from }, scrollIntoView: true });
  view.focus();
}

function seconds(value) {
  if (typeof value !== "number") return "";
  return `${Number.isInteger(value) ? value : value.toFixed(2).replace(/\.?0+$/, "")}s`;
}

function flattenSteps(steps, rows = []) {
  for (const step of steps || []) {
    rows.push(step);
    flattenSteps(step.children, rows);
  }
  return rows;
}

function stepFaults(step) {
  const faults = step.faults || [];
  return {
    fault: [...new Set(faults.map((f) => f.kind))].join(", ") || (step.kind === "fault" ? "?" : ""),
    host: faults.map((f) => f.host).join(", "),
  };
}

function renderPlan(result) {
  const panel = document.getElementById("plan");
  const plan = result.plan;
  panel.dataset.state = plan ? "planned" : "refused";
  if (!plan) {
    const problems = result.plan_problems || [];
    panel.replaceChildren(
      el("p", { class: "error" }, "The planner refused this playbook:"),
      el("ul", { class: "plan-problems", id: "plan-problems" }, ...problems.map((p) => el("li", {}, p))),
    );
    return;
  }
  const head = el("tr", {}, ...["#", "Name", "Fault", "Host", "Start", "Duration"].map((h) => el("th", {}, h)));
  const rows = flattenSteps(plan.steps).map((step) => {
    const { fault, host } = stepFaults(step);
    return el(
      "tr",
      { "data-path": step.path, "data-kind": step.kind },
      el("td", {}, step.path),
      el("td", {}, step.name || step.kind),
      el("td", { class: "plan-fault" }, fault),
      el("td", { class: "plan-host" }, host),
      el("td", { class: "num" }, seconds(step.start)),
      el("td", { class: "num" }, seconds(step.duration)),
    );
  });
  const radius = plan.blast_radius || {};
  const groups = Object.entries(radius.groups || {}).map(([group, share]) => `${group}: ${share}`);
  const facts = el(
    "dl",
    { id: "blast-radius" },
    el("dt", {}, "Hosts"),
    el("dd", { id: "blast-hosts" }, (radius.hosts || []).join(", ") || "none"),
    el("dt", {}, "Services"),
    el("dd", {}, (radius.services || []).join(", ") || "none"),
    el("dt", {}, "Groups"),
    el("dd", {}, groups.join("; ") || "none"),
    el("dt", {}, "Expected length"),
    el("dd", { id: "plan-length" }, seconds(plan.expected_seconds)),
  );
  const warnings = plan.warnings || [];
  const parts = [
    el("table", { class: "table", id: "plan-steps" }, el("thead", {}, head), el("tbody", {}, ...rows)),
    el("h3", {}, "Blast radius"),
    facts,
  ];
  if (warnings.length) {
    parts.push(el("ul", { class: "plan-warnings" }, ...warnings.map((w) => el("li", {}, w))));
  }
  panel.replaceChildren(...parts);
}

// A game day's side panel: drills that could not start as written, the schedule in
// sentences with its next fire times (in its own zone and UTC), and the failure policy.
function renderSchedule(result) {
  const panel = document.getElementById("plan");
  panel.dataset.state = "scheduled";
  const parts = [];
  const warnings = result.warnings || [];
  if (warnings.length) {
    parts.push(el("ul", { class: "plan-warnings", id: "drill-warnings" }, ...warnings.map((w) => el("li", {}, w))));
  }
  const sentences = result.schedule || [];
  if (!sentences.length) {
    parts.push(el("p", { class: "muted", id: "not-scheduled" }, "Not scheduled: it runs when someone starts it."));
  } else {
    parts.push(el("ul", { class: "sentences", id: "schedule-sentences" }, ...sentences.map((s) => el("li", {}, s))));
    const head = el("tr", {}, ...["Local", "UTC", "What happens"].map((h) => el("th", {}, h)));
    const rows = (result.fire_times || []).map((f) =>
      el(
        "tr",
        { "data-outcome": f.runs ? "runs" : "skipped" },
        el("td", {}, f.local),
        el("td", {}, f.utc),
        el("td", {}, f.said),
      ),
    );
    parts.push(
      el("h3", {}, "The next five fire times"),
      el("table", { class: "table", id: "fire-preview" }, el("thead", {}, head), el("tbody", {}, ...rows)),
    );
  }
  const policy = result.policy || [];
  if (policy.length) {
    parts.push(el("h3", {}, "Policy"), el("ul", { class: "sentences" }, ...policy.map((p) => el("li", {}, p))));
  }
  panel.replaceChildren(...parts);
}

function validationLinter(config) {
  return linter(
    async (view) => {
      const doc = view.state.doc;
      let result;
      try {
        result = await postValidate(config, doc.toString());
      } catch (error) {
        if (view.state.doc === doc) showProblems(view, [], `could not validate: ${error.message}`);
        return [];
      }
      // A newer text is being typed: its own run will report; this answer is stale.
      if (view.state.doc !== doc) return [];
      const issues = result.issues || [];
      showProblems(view, issues, null);
      if (result.ok) (config.kind === "gameday" ? renderSchedule : renderPlan)(result);
      return diagnosticsOf(doc, issues);
    },
    { delay: VALIDATE_DELAY_MS },
  );
}

// ---------------------------------------------------------------- completion from the schema

// The schema is a tree of nodes with $ref, anyOf/oneOf/allOf; a "node set" is every branch a
// position may take, so completion offers the union (narrowed by a sibling `fault:`).
class SchemaIndex {
  constructor(schema) {
    this.schema = schema;
  }

  resolve(node, seen = new Set()) {
    if (!node || typeof node !== "object") return [];
    if (node.$ref) {
      if (seen.has(node.$ref) || !node.$ref.startsWith("#/")) return [];
      seen.add(node.$ref);
      let target = this.schema;
      for (const part of node.$ref.slice(2).split("/")) target = target ? target[part] : undefined;
      return this.resolve(target, seen);
    }
    const branches = [...(node.anyOf || []), ...(node.oneOf || []), ...(node.allOf || [])];
    if (branches.length) {
      const own = { ...node };
      delete own.anyOf;
      delete own.oneOf;
      delete own.allOf;
      const out = own.properties || own.items ? [own] : [];
      for (const branch of branches) out.push(...this.resolve(branch, new Set(seen)));
      return out;
    }
    return [node];
  }

  child(nodes, key) {
    const out = [];
    for (const node of nodes) {
      if (key === "[]") {
        if (node.items) out.push(...this.resolve(node.items));
      } else if (node.properties && node.properties[key]) {
        out.push(...this.resolve(node.properties[key]));
      } else if (node.additionalProperties && typeof node.additionalProperties === "object") {
        out.push(...this.resolve(node.additionalProperties));
      }
    }
    return out;
  }

  at(path) {
    let nodes = this.resolve(this.schema);
    for (const key of path) nodes = this.child(nodes, key);
    return nodes;
  }

  // Keep branches whose `fault` property admits the sibling's fault name.
  narrow(nodes, siblings) {
    const fault = siblings.get("fault");
    if (!fault) return nodes;
    const fitting = nodes.filter((node) => {
      const prop = node.properties && node.properties.fault;
      if (!prop) return false;
      return this.values(this.resolve(prop)).includes(fault);
    });
    return fitting.length ? fitting : nodes;
  }

  keys(nodes) {
    const out = new Map();
    for (const node of nodes) {
      for (const [key, prop] of Object.entries(node.properties || {})) {
        if (!out.has(key)) out.set(key, prop);
      }
    }
    return out;
  }

  values(nodes) {
    const out = [];
    for (const node of nodes) {
      if (node.const !== undefined) out.push(node.const);
      for (const value of node.enum || []) out.push(value);
    }
    return [...new Set(out.filter((v) => typeof v === "string" || typeof v === "number"))];
  }

  faultNames() {
    const names = new Set();
    const walk = (node) => {
      if (!node || typeof node !== "object") return;
      if (Array.isArray(node)) return node.forEach(walk);
      if (node.properties && node.properties.fault) {
        for (const v of this.values(this.resolve(node.properties.fault))) names.add(v);
      }
      Object.values(node).forEach(walk);
    };
    walk(this.schema);
    return [...names].sort();
  }
}

const KEY_LINE = /^(\s*)((?:- )*)([A-Za-z0-9_.-]+)\s*:(?:\s+(.*))?$/;

function lineShape(text) {
  // indent: column of the line's first key; dash: an item starts here.
  if (/^\s*(#.*)?$/.test(text)) return null;
  const match = KEY_LINE.exec(text);
  const lead = /^(\s*)((?:- )*)/.exec(text);
  const col = lead[1].length + lead[2].length;
  return {
    dashCol: lead[2] ? lead[1].length : -1,
    col,
    key: match ? match[3] : null,
    value: match && match[4] !== undefined ? match[4].replace(/\s+#.*$/, "").trim() : "",
  };
}

// The path of keys ("[]" for a list item) to the mapping whose keys sit at `col` on line
// `lineNo`, and that mapping's other keys with their values. Block style only: flow
// mappings ({a: 1}) get no completion.
function yamlContext(doc, lineNo, col, startsItem) {
  const path = [];
  const siblings = new Map();
  for (let n = lineNo + 1; n <= doc.lines; n++) {
    const shape = lineShape(doc.line(n).text);
    if (!shape) continue;
    if (shape.col < col || (shape.dashCol >= 0 && shape.dashCol < col)) break;
    if (shape.col === col && shape.key) siblings.set(shape.key, shape.value);
  }
  // map: looking upward for the parent of a mapping whose keys sit at `want`;
  // seq: for the key that owns a list whose dashes sit at `want`.
  let mode = startsItem ? "seq" : "map";
  let want = startsItem ? col - 2 : col;
  let own = !startsItem; // still inside the mapping being completed (collect siblings)
  if (startsItem) path.push("[]");
  for (let n = lineNo - 1; n >= 1 && !(mode === "map" && want === 0 && !own); n--) {
    const shape = lineShape(doc.line(n).text);
    if (!shape || shape.col > want + (mode === "seq" ? 2 : 0)) continue;
    if (mode === "map") {
      if (shape.col === want) {
        if (own && shape.key) siblings.set(shape.key, shape.value);
        if (shape.dashCol >= 0) {
          // The first line of the list item this mapping is.
          path.push("[]");
          mode = "seq";
          want = shape.dashCol;
          own = false;
        }
      } else if (shape.col < want && shape.key) {
        path.push(shape.key);
        own = false;
        if (shape.dashCol >= 0) {
          path.push("[]");
          mode = "seq";
          want = shape.dashCol;
        } else {
          want = shape.col;
        }
      }
    } else if (shape.dashCol === want || !shape.key || shape.col > want) {
      continue; // an earlier item of the same list, or inside one
    } else if (shape.dashCol < 0) {
      path.push(shape.key);
      mode = "map";
      want = shape.col;
    } else {
      path.push(shape.key, "[]");
      want = shape.dashCol;
    }
  }
  return { path: path.reverse(), siblings };
}

function completionSource(index) {
  const faults = index.faultNames();
  return (context) => {
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    // A value: `key: partial`.
    const valueMatch = /^(\s*)((?:- )*)([A-Za-z0-9_.-]+):\s+([\w.\-/]*)$/.exec(before);
    if (valueMatch) {
      const [, spaces, dashes, key, partial] = valueMatch;
      const col = spaces.length + dashes.length;
      let options;
      if (key === "fault") {
        options = faults;
      } else {
        const { path } = yamlContext(context.state.doc, line.number, col, dashes.length > 0);
        options = index.values(index.child(index.at(path), key));
      }
      if (!options.length) return null;
      return {
        from: context.pos - partial.length,
        options: options.map((v) => ({ label: String(v), type: key === "fault" ? "enum" : "constant" })),
        validFor: /^[\w.\-/]*$/,
      };
    }
    // A key: an indented word with nothing after it yet.
    const keyMatch = /^(\s*)((?:- )*)([A-Za-z0-9_-]*)$/.exec(before);
    if (!keyMatch) return null;
    const [, spaces, dashes, partial] = keyMatch;
    if (!partial && !context.explicit) return null;
    const col = spaces.length + dashes.length;
    const { path, siblings } = yamlContext(context.state.doc, line.number, col, dashes.length > 0);
    const nodes = index.narrow(index.at(path), siblings);
    const keys = index.keys(nodes);
    const options = [...keys.entries()]
      .filter(([key]) => !siblings.has(key))
      .map(([key, prop]) => ({
        label: key,
        type: "property",
        detail: (prop && (prop.title || prop.description)) || undefined,
        apply: `${key}: `,
      }));
    if (!options.length) return null;
    return { from: context.pos - partial.length, options, validFor: /^[\w-]*$/ };
  };
}

async function loadSchema(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return null;
    return new SchemaIndex(await response.json());
  } catch {
    return null; // completion is a nicety; validation still runs
  }
}

// ---------------------------------------------------------------- the page

async function main() {
  const configNode = document.getElementById("editor-config");
  const source = document.getElementById("editor-source");
  const mount = document.getElementById("editor");
  if (!configNode || !source || !mount) return;
  const config = JSON.parse(configNode.textContent);

  const index = await loadSchema(config.schemaUrl);
  const extensions = [
    basicSetup,
    yaml(),
    indentUnit.of("  "),
    keymap.of([indentWithTab]),
    lintGutter(),
    validationLinter(config),
    EditorView.lineWrapping,
  ];
  if (index) extensions.push(autocompletion({ override: [completionSource(index)] }));

  const view = new EditorView({ doc: source.value, extensions, parent: mount });
  source.hidden = true;
  mount.hidden = false;
  window.drillhallEditor = view; // for tests and the console

  const form = document.getElementById("editor-form");
  form.addEventListener("submit", () => {
    source.value = view.state.doc.toString();
  });
  for (const item of document.querySelectorAll("#problems li[data-line]")) {
    item.addEventListener("click", () => goToLine(view, Number(item.dataset.line)));
  }
}

main();

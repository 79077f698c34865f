// A small, offline API reference built from /openapi.json (text only, no HTML from the document).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const refName = (ref) => ref.split("/").pop();

  function typeOf(schema) {
    if (!schema) return "any";
    if (schema.$ref) return refName(schema.$ref);
    if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
    if (schema.oneOf) return schema.oneOf.map(typeOf).join(" | ");
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (schema.type === "array") return `${typeOf(schema.items)}[]`;
    if (schema.type === "object" && schema.additionalProperties) return `{string: ${typeOf(schema.additionalProperties)}}`;
    return schema.type || "any";
  }

  function renderEndpoint(path, method, op) {
    const box = el("div", "endpoint");
    const head = el("div", "endpoint-head");
    head.appendChild(el("span", "method", method.toUpperCase()));
    head.appendChild(el("span", "path", path));
    head.appendChild(el("span", "muted", op.summary || ""));
    box.appendChild(head);
    const ul = el("ul");
    for (const p of op.parameters || []) {
      ul.appendChild(el("li", null, `?${p.name} (${typeOf(p.schema)}): ${p.description || ""}`));
    }
    for (const [code, resp] of Object.entries(op.responses || {})) {
      const li = el("li", null, `${code} `);
      for (const [media, content] of Object.entries(resp.content || {})) {
        li.appendChild(el("span", "mono", `${media} ${typeOf(content.schema)} `));
      }
      li.appendChild(el("span", "muted", resp.description || ""));
      ul.appendChild(li);
    }
    box.appendChild(ul);
    return box;
  }

  function renderModel(name, schema) {
    const box = el("div", "model");
    box.id = `model-${name}`;
    box.appendChild(el("h3", null, name));
    if (schema.description) box.appendChild(el("p", "muted small", schema.description));
    const props = schema.properties || {};
    if (Object.keys(props).length) {
      const table = el("table", "grid");
      const thead = el("thead");
      const hr = el("tr");
      for (const h of ["field", "type", "description"]) hr.appendChild(el("th", null, h));
      thead.appendChild(hr);
      table.appendChild(thead);
      const tbody = el("tbody");
      const required = new Set(schema.required || []);
      for (const [k, v] of Object.entries(props)) {
        const tr = el("tr");
        tr.appendChild(el("td", null, required.has(k) ? k : `${k}?`));
        tr.appendChild(el("td", null, typeOf(v)));
        tr.appendChild(el("td", null, v.description || v.title || ""));
        tbody.appendChild(tr);
      }
      table.appendChild(tbody);
      box.appendChild(table);
    } else if (schema.enum) {
      box.appendChild(el("p", "mono", schema.enum.join(" | ")));
    }
    return box;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const doc = await (await fetch("/openapi.json")).json();
    $("docs-description").textContent = `${doc.info.title} ${doc.info.version}: ${doc.info.description || ""}`;
    const endpoints = $("docs-endpoints");
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) endpoints.appendChild(renderEndpoint(path, method, op));
    }
    const models = $("docs-models");
    const schemas = (doc.components && doc.components.schemas) || {};
    for (const name of Object.keys(schemas).sort()) models.appendChild(renderModel(name, schemas[name]));
  });
})();

/* nlquery console: vanilla JS over the public /api/v1 API. No framework, no build step.
 * Data is only ever inserted as text (textContent), never as markup. */
(function () {
  "use strict";
  var TOKEN_KEY = "nlq.token", HISTORY_KEY = "nlq.history.", HISTORY_MAX = 20;
  var $ = function (id) { return document.getElementById(id); };
  var state = {token: null, sources: [], answer: null, result: null, source: null, origParams: [],
    schema: null, mappings: {}, stale: [], hints: {}, linked: null, searchSeq: 0, editing: null};

  // -- helpers ----------------------------------------------------------------------------------
  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function show(node, on) { node.hidden = !on; }
  function showError(node, err) {
    clear(node);
    if (!err) { show(node, false); return; }
    if (err.code) node.appendChild(h("code", {text: "error[" + err.code + "]"}));
    node.appendChild(document.createTextNode((err.code ? ": " : "") + (err.message || String(err))));
    show(node, true);
  }
  function storage(kind) { try { return window[kind]; } catch (e) { return null; } }
  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  function api(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (state.token) headers.Authorization = "Bearer " + state.token;
    var init = {method: method, headers: headers};
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch("/api/v1" + path, init).then(function (response) {
      return response.text().then(function (text) {
        var payload = null;
        try { payload = text ? JSON.parse(text) : null; } catch (e) { payload = null; }
        if (!response.ok) {
          var error = (payload && payload.error) || {};
          var failure = new ApiError(response.status, error.code || "http_" + response.status,
            error.message || response.statusText || "request failed");
          if (response.status === 401) needToken(failure);
          throw failure;
        }
        return payload ? payload.data : null;
      });
    }, function (err) { throw new ApiError(0, "network_error", "the server did not answer: " + err.message); });
  }
  function sourcePath(id) { return "/data-sources/" + encodeURIComponent(id); }

  function download(name, type, content) {
    var url = URL.createObjectURL(new Blob([content], {type: type}));
    var a = h("a", {href: url, download: name});
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
  }
  function copyText(text, done) {
    var fallback = function () {
      var area = h("textarea", {"aria-hidden": "true"});
      area.value = text; document.body.appendChild(area); area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
      done(ok);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    } else fallback();
  }
  function flash(text) {
    var node = $("copy-status");
    node.textContent = text;
    setTimeout(function () { if (node.textContent === text) node.textContent = ""; }, 4000);
  }
  function stamp() { return new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-"); }
  function slug(text) { return String(text || "result").replace(/[^A-Za-z0-9_.-]+/g, "-").slice(0, 60); }

  // -- token and pages ---------------------------------------------------------------------------
  function hashParams() { return new URLSearchParams(location.hash.replace(/^#/, "")); }
  function needToken(err) {
    show($("token-panel"), true);
    if (err && state.token) showError($("token-error"), err);
    $("auth-state").textContent = "not signed in";
    $("token-input").focus();
  }
  function setToken(token) {
    state.token = token || null;
    var store = storage("sessionStorage");
    if (store) { if (token) store.setItem(TOKEN_KEY, token); else store.removeItem(TOKEN_KEY); }
    show($("forget-token"), !!token);
  }
  function showPage(name) {
    ["ask", "schema", "sources"].forEach(function (p) { show($("page-" + p), p === name); });
    document.querySelectorAll(".tab").forEach(function (tab) {
      if (tab.getAttribute("data-page") === name) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    });
    if (name === "schema") loadSchema();
    if (name === "sources") renderSources();
  }

  function loadSources() {
    return api("GET", "/data-sources").then(function (data) {
      state.sources = data.data_sources;
      show($("token-panel"), false);
      showError($("token-error"), null);
      $("auth-state").textContent = state.token ? "token in this tab" : "no token (loopback)";
      ["ask-source", "schema-source"].forEach(function (id) {
        var select = $(id), previous = select.value;
        clear(select);
        state.sources.forEach(function (s) { select.appendChild(h("option", {value: s.id, text: s.name})); });
        if (previous && state.sources.some(function (s) { return s.id === previous; })) select.value = previous;
      });
      if (!state.sources.length) $("ask-status").textContent = "No source yet: register one on the Sources page.";
      renderHistory();
      renderSources();
      return data;
    });
  }
  function sourceByNameOrId(key) {
    return state.sources.filter(function (s) { return s.id === key || s.name === key; })[0];
  }

  // -- ask -------------------------------------------------------------------------------------
  function historyKey() { return HISTORY_KEY + $("ask-source").value; }
  function readHistory() {
    var store = storage("localStorage");
    try { return JSON.parse((store && store.getItem(historyKey())) || "[]"); } catch (e) { return []; }
  }
  function remember(question) {
    var store = storage("localStorage");
    if (!store) return;
    var items = [question].concat(readHistory().filter(function (q) { return q !== question; })).slice(0, HISTORY_MAX);
    store.setItem(historyKey(), JSON.stringify(items));
    renderHistory();
  }
  function renderHistory() {
    var box = clear($("ask-history")), list = clear($("ask-history-list"));
    readHistory().forEach(function (q) {
      list.appendChild(h("option", {value: q}));
      box.appendChild(h("button", {type: "button", text: q, title: "Ask again",
        onclick: function () { $("ask-question").value = q; ask(); }}));
    });
  }

  function ask() {
    var source = $("ask-source").value, question = $("ask-question").value.trim();
    if (!source || !question) return Promise.resolve();
    var button = $("ask-button");
    button.disabled = true;
    showError($("ask-error"), null);
    $("ask-status").textContent = "Asking\u2026";
    var started = performance.now();
    return api("POST", sourcePath(source) + "/ask", {question: question, chart: true}).then(function (data) {
      remember(question);
      state.answer = data;
      state.source = source;
      var name = (sourceByNameOrId(source) || {}).name || source;
      history.replaceState(null, "", "#" + new URLSearchParams({source: name, q: question}).toString());
      $("ask-status").textContent = "Answered in " + Math.round(performance.now() - started) + " ms.";
      showAnswer(data);
    }, function (err) {
      $("ask-status").textContent = "";
      showError($("ask-error"), err);
    }).then(function () { button.disabled = false; });
  }

  var CLAUSES = /\s+(FROM|WHERE|GROUP\s+BY|HAVING|ORDER\s+BY|LIMIT|OFFSET|UNION(?:\s+ALL)?|(?:LEFT|RIGHT|FULL|INNER|CROSS)(?:\s+OUTER)?\s+JOIN|JOIN)\b/gi;
  function formatSql(sql) {  // clauses on their own lines; quoted text untouched
    return sql.split(/('(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`)/).map(function (part, i) {
      return i % 2 ? part : part.replace(CLAUSES, "\n$1").replace(/\s+(AND|OR)\s+/gi, "\n  $1 ");
    }).join("").trim();
  }
  function placeholderCount(sql) {
    var most = 0, unquoted = sql.split(/('(?:[^']|'')*'|"(?:[^"]|"")*")/).filter(function (_, i) { return i % 2 === 0; }).join(" ");
    unquoted.replace(/\$(\d+)/g, function (_, n) { most = Math.max(most, Number(n)); return _; });
    return most;
  }
  function renderParams(values) {
    var box = clear($("params")), count = placeholderCount($("sql-editor").value);
    for (var i = 0; i < count; i++) {
      var value = i < values.length ? values[i] : "";
      var id = "param-" + (i + 1);
      box.appendChild(h("span", {"class": "field"},
        h("label", {"for": id, text: "$" + (i + 1)}),
        h("input", {id: id, "class": "param mono", value: value === null ? "null" : String(value), autocomplete: "off"})));
    }
  }
  function readParams() {
    return Array.prototype.map.call(document.querySelectorAll("#params input.param"), function (input, i) {
      var text = input.value, original = state.origParams[i];
      if (typeof original === "string") return text;
      if (typeof original === "number" && text.trim() !== "" && isFinite(Number(text))) return Number(text);
      if (text === "null") return null;
      try { return JSON.parse(text); } catch (e) { return text; }
    });
  }

  function showAnswer(data) {
    show($("answer"), true);
    $("sql-editor").value = formatSql(data.sql);
    state.origParams = (data.parameters || []).slice();
    renderParams(state.origParams);
    showError($("sql-error"), null);
    $("answer-explanation").textContent = data.explanation || "";
    var facts = clear($("answer-facts"));
    var fact = function (k, v) { if (v !== undefined && v !== null && v !== "") { facts.appendChild(h("dt", {text: k})); facts.appendChild(h("dd", {text: v})); } };
    fact("Planner", data.planner + (data.cached ? " (cached answer)" : ""));
    fact("Tables used", (data.tables_used || []).join(", "));
    fact("Linked tables", (data.linked_tables || []).join(", "));
    if (data.timings) fact("Timings (ms)", Object.keys(data.timings).map(function (k) { return k + " " + data.timings[k]; }).join(", "));
    if (data.usage) fact("Tokens", data.usage.prompt_tokens + " in, " + data.usage.completion_tokens + " out");
    ["candidates", "agreement", "confidence"].forEach(function (k) {
      if (data[k] !== undefined) fact(k[0].toUpperCase() + k.slice(1), typeof data[k] === "object" ? JSON.stringify(data[k]) : String(data[k]));
    });
    var attempts = clear($("answer-attempts"));
    (data.attempts || []).forEach(function (a, i) {
      attempts.appendChild(h("li", {},
        h("span", {text: i === 0 ? "Attempt" : "Repair " + i}),
        h("pre", {text: a.sql + (a.parameters && a.parameters.length ? "\n-- parameters: " + JSON.stringify(a.parameters) : "")}),
        a.error ? h("span", {"class": "error", text: "error[" + a.error.code + "]: " + a.error.message}) : h("span", {"class": "ok", text: "ran"})));
    });
    setResult(data, data.chart, "Answer");
  }

  function runSql() {
    var sql = $("sql-editor").value, params = readParams();
    var source = state.source || $("ask-source").value;
    var button = $("run-sql");
    button.disabled = true;
    showError($("sql-error"), null);
    return api("POST", sourcePath(source) + "/query", {query: sql, parameters: params}).then(function (data) {
      setResult(data, undefined, "Edited SQL");
    }, function (err) { showError($("sql-error"), err); }).then(function () { button.disabled = false; });
  }

  // -- result: table, chart, export -----------------------------------------------------------------
  function setResult(data, spec, origin) {
    state.result = {columns: data.columns || [], rows: data.rows || []};
    $("result-meta").textContent = origin + ": " + data.row_count + " row(s)" + (data.truncated ? " (truncated)" : "") +
      (data.execution_time_ms !== undefined ? " in " + Number(data.execution_time_ms).toFixed(1) + " ms" : "") + ".";
    renderTable();
    var types = window.nlqChart.columnTypes(state.result.columns, state.result.rows);
    state.result.types = types;
    ["chart-x", "chart-y"].forEach(function (id) {
      var select = clear($(id));
      state.result.columns.forEach(function (c) { select.appendChild(h("option", {value: c, text: c + " (" + (types[c] || "empty") + ")"})); });
    });
    $("chart-type").value = "auto";
    state.result.auto = spec === undefined ? window.nlqChart.infer(state.result.columns, state.result.rows) : spec;
    drawChart(state.result.auto);
  }
  function renderTable() {
    var table = clear($("result-table")), r = state.result;
    table.appendChild(h("thead", {}, h("tr", {}, ...r.columns.map(function (c) { return h("th", {scope: "col", text: c}); }))));
    var body = h("tbody");
    r.rows.forEach(function (row) {
      body.appendChild(h("tr", {}, ...row.map(function (v) {
        if (v === null) return h("td", {"class": "null", text: "null"});
        if (typeof v === "number") return h("td", {"class": "num", text: String(v)});
        return h("td", {text: typeof v === "object" ? JSON.stringify(v) : String(v)});
      })));
    });
    table.appendChild(body);
  }
  function fieldsOf(spec) {
    if (!spec) return {};
    var e = spec.encoding || {};
    return {x: e.x && e.x.field, y: (e.y || e.text || {}).field};
  }
  function drawChart(spec) {
    var box = clear($("chart"));
    state.result.spec = spec;
    var f = fieldsOf(spec);
    if (f.x) $("chart-x").value = f.x;
    if (f.y) $("chart-y").value = f.y;
    $("export-svg").disabled = !spec;
    if (!spec) { box.appendChild(h("p", {"class": "muted", text: "No chart for this shape of result: pick a type and axes."})); return; }
    box.appendChild(window.nlqChart.render(spec, state.result.columns, state.result.rows));
  }
  function chartFromControls() {
    var r = state.result;
    if (!r) return;
    var type = $("chart-type").value;
    if (type === "auto") { drawChart(r.auto); return; }
    if (type === "none") { drawChart(null); return; }
    drawChart(window.nlqChart.build(type, $("chart-x").value, $("chart-y").value, r.types));
  }
  var FORMULA = /^[=+\-@\t\r]/;
  function csvCell(v) {  // text a spreadsheet would run as a formula gets a leading ' (numbers stay numbers)
    if (v === null || v === undefined) return "";
    var text = typeof v === "object" ? JSON.stringify(v) : String(v);
    if (typeof v === "string" && FORMULA.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function exportCsv() {
    var r = state.result;
    var lines = [r.columns.map(csvCell).join(",")].concat(r.rows.map(function (row) { return row.map(csvCell).join(","); }));
    download(slug(currentName()) + "-" + stamp() + ".csv", "text/csv", lines.join("\r\n") + "\r\n");
  }
  function exportJson() {
    var r = state.result;
    var records = r.rows.map(function (row) { var o = {}; r.columns.forEach(function (c, i) { o[c] = row[i]; }); return o; });
    download(slug(currentName()) + "-" + stamp() + ".json", "application/json",
      JSON.stringify({sql: $("sql-editor").value, parameters: readParams(), columns: r.columns, rows: records}, null, 2));
  }
  function exportSvg() {
    var svg = $("chart").querySelector("svg");
    if (svg) download(slug(currentName()) + "-chart.svg", "image/svg+xml", new XMLSerializer().serializeToString(svg));
  }
  function currentName() { var s = sourceByNameOrId(state.source || $("ask-source").value); return s ? s.name : "result"; }
  function shareLink() {
    var url = location.origin + location.pathname + "#" +
      new URLSearchParams({source: currentName(), q: $("ask-question").value.trim()}).toString();
    copyText(url, function (ok) { flash(ok ? "Link copied (it asks the question again; no token inside)." : url); });
  }

  // -- schema and mappings ------------------------------------------------------------------------
  function mappingKey(table, column) {
    var name = table.schema && !/^(main|public|dbo)$/i.test(table.schema) ? table.schema + "." + table.name : table.name;
    return column ? name + "." + column : name;
  }
  function mappingFor(key) {
    var lower = key.toLowerCase(), m = state.mappings;
    var found = Object.keys(m).filter(function (k) { return k.toLowerCase() === lower || k.toLowerCase().split(".").slice(-key.split(".").length).join(".") === lower; })[0];
    return found ? m[found] : null;
  }
  function loadSchema() {
    var source = $("schema-source").value;
    if (!source) return Promise.resolve();
    showError($("schema-error"), null);
    $("schema-status").textContent = "Loading\u2026";
    var base = sourcePath(source);
    return Promise.all([api("GET", base),
      api("GET", base + "/semantic-mappings").catch(function (err) { return {mappings: {}, stale: [], error: err}; }),
      api("GET", base + "/value-hints").catch(function (err) { return {value_hints: {}, error: err}; })
    ]).then(function (all) {
      state.schema = all[0];
      state.mappings = all[1].mappings || {};
      state.stale = all[1].stale || [];
      state.hints = all[2].value_hints || {};
      state.linked = null;
      var failed = all[1].error || all[2].error;
      if (failed) showError($("schema-error"), failed);
      $("schema-status").textContent = describeSchema(state.schema);
      renderSchema();
      if ($("schema-search").value.trim()) searchSchema();
    }, function (err) { $("schema-status").textContent = ""; showError($("schema-error"), err); });
  }
  function hintsFor(table, column) {
    var key = mappingKey(table, column).toLowerCase(), found = null;
    Object.keys(state.hints).forEach(function (k) { if (k.toLowerCase() === key) found = state.hints[k]; });
    return found;
  }
  function hintText(values) {
    if (!values || !values.length) return "";
    var shown = values.slice(0, 12).map(function (v) { return typeof v === "object" ? JSON.stringify(v) : String(v); });
    return shown.join(", ") + (values.length > 12 ? ", \u2026 (" + values.length + " in all)" : "");
  }
  var searchTimer = null;
  function scheduleSearch() {
    if (state.schema) renderSchema();
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchSchema, 250);
  }
  function searchSchema() {  // the planner's own schema linker (what MCP's search_schema answers)
    var source = $("schema-source").value, q = $("schema-search").value.trim(), seq = ++state.searchSeq;
    if (!source || !q) { state.linked = null; renderLinked(); if (state.schema) renderSchema(); return Promise.resolve(); }
    return api("GET", sourcePath(source) + "/schema/search?" + new URLSearchParams({q: q, limit: "5"}).toString()).then(function (data) {
      if (seq !== state.searchSeq) return;  // a newer search answered (or will)
      state.linked = {query: q, tables: data.tables.map(function (t) { return t.table; })};
      renderLinked();
      renderSchema();
    }, function (err) { if (seq === state.searchSeq) showError($("schema-error"), err); });
  }
  function renderLinked() {
    var box = clear($("schema-linked")), l = state.linked;
    show(box, !!(l && l.tables.length));
    if (!l || !l.tables.length) return;
    box.appendChild(h("span", {"class": "muted", text: "The planner links \u201c" + l.query + "\u201d to: "}));
    l.tables.forEach(function (name) {
      box.appendChild(h("button", {type: "button", "class": "secondary", text: name, "aria-label": "Go to table " + name,
        onclick: function () {
          var card = document.querySelector("article[data-table='" + name.replace(/['\\]/g, "") + "']");
          if (card) { card.scrollIntoView(); card.focus(); }
        }}));
    });
  }
  function describeSchema(s) {
    return (s.tables || []).length + " table(s), schema version " + (s.schema_version === null ? "none" : s.schema_version) +
      ", " + s.schema_status + (s.schema_error ? ": " + s.schema_error : "") +
      (state.stale.length ? "; stale mappings: " + state.stale.join(", ") : "");
  }
  function matches(text, q) { return String(text || "").toLowerCase().indexOf(q) >= 0; }
  function mappingText(m) { return m ? (m.description || "") + " " + (m.synonyms || []).join(" ") : ""; }
  function renderSchema() {
    var box = clear($("schema-tables")), q = $("schema-search").value.trim().toLowerCase();
    var tables = state.schema.tables || [];
    var literal = function (table) {
      var tableHit = !q || matches(mappingKey(table), q) || matches(table.comment, q) || matches(mappingText(mappingFor(mappingKey(table))), q);
      return {table: table, hit: tableHit, columns: table.columns.filter(function (c) {
        return tableHit || matches(c.name, q) || matches(c.type, q) || matches(c.comment, q) ||
          matches(mappingText(mappingFor(mappingKey(table, c.name))), q) || matches((hintsFor(table, c.name) || []).join("\n"), q);
      })};
    };
    var picked = tables.map(literal).filter(function (m) { return m.hit || m.columns.length; });
    var linked = state.linked && state.linked.query.toLowerCase() === q ? state.linked.tables : null;
    if (q && !picked.length && linked && linked.length) {  // no literal match: the linker's tables, best first
      picked = linked.map(function (name) {
        return tables.filter(function (t) { return mappingKey(t).toLowerCase() === name.toLowerCase(); })[0];
      }).filter(Boolean).map(function (t) { return {table: t, hit: true, columns: t.columns}; });
      box.appendChild(h("p", {"class": "muted", text: "No table or column mentions \u201c" + q + "\u201d: the tables the planner links to it, best first."}));
    }
    var shown = 0;
    picked.forEach(function (m) {
      var table = m.table, columns = m.columns, key = mappingKey(table), tm = mappingFor(key);
      shown++;
      var fks = {};
      (table.foreign_keys || []).forEach(function (fk) { fk.columns.forEach(function (c, i) { fks[c] = fk.ref_table + "." + (fk.ref_columns[i] || "?"); }); });
      var pk = table.primary_key || [];
      var card = h("article", {"class": "table-card", "aria-label": "table " + key, "data-table": key, tabindex: "-1"},
        h("div", {"class": "row between"}, h("h3", {text: key}), editButton(key, tm)),
        h("div", {"class": "meta", text: [table.kind, table.comment, pk.length ? "primary key (" + pk.join(", ") + ")" : "",
          (table.indexes || []).length ? (table.indexes.length + " index(es)") : ""].filter(Boolean).join(" \u00b7 ")}),
        describe(tm), editorSlot(key));
      var rows = h("tbody");
      columns.forEach(function (c) {
        var ckey = mappingKey(table, c.name), cm = mappingFor(ckey), keys = [];
        if (pk.indexOf(c.name) >= 0) keys.push("PK");
        if (fks[c.name]) keys.push("FK \u2192 " + fks[c.name]);
        rows.appendChild(h("tr", {"data-key": ckey},
          h("th", {scope: "row", "class": "mono", text: c.name}),
          h("td", {text: c.full_type || c.type}),
          h("td", {text: c.nullable ? "null" : "not null"}),
          h("td", {text: keys.join(", ")}),
          h("td", {}, c.comment ? h("div", {"class": "muted", text: c.comment}) : null, describe(cm), editorSlot(ckey)),
          h("td", {"class": "values", text: hintText(hintsFor(table, c.name)),
            title: (hintsFor(table, c.name) || []).length > 12 ? hintsFor(table, c.name).join(", ") : null}),
          h("td", {}, editButton(ckey, cm))));
      });
      card.appendChild(h("table", {}, h("thead", {}, h("tr", {},
        ...["Column", "Type", "Nullable", "Keys", "Description and synonyms", "Known values", ""].map(function (t) { return h("th", {scope: "col", text: t}); }))), rows));
      box.appendChild(card);
    });
    if (!shown) box.appendChild(h("p", {"class": "muted", text: q ? "Nothing matches \u201c" + q + "\u201d." : "No tables yet: refresh the schema."}));
  }
  function describe(m) {
    if (!m || (!m.description && !(m.synonyms || []).length)) return null;
    return h("div", {"class": "mapping"}, m.description ? h("span", {text: m.description + " "}) : null,
      ...(m.synonyms || []).map(function (s) { return h("span", {"class": "tag", text: s}); }));
  }
  function editorSlot(key) { return h("div", {"class": "editor-slot", "data-key": key}); }
  function editButton(key, m) {
    return h("button", {type: "button", "class": "secondary", "aria-label": "Edit mapping of " + key, text: "Edit",
      onclick: function () { openEditor(key, m); }});
  }
  function openEditor(key, m) {
    document.querySelectorAll(".editor-slot").forEach(function (slot) { clear(slot); });
    var slot = Array.prototype.filter.call(document.querySelectorAll(".editor-slot"), function (s) { return s.getAttribute("data-key") === key; })[0];
    if (!slot) return;
    var id = "edit-" + key.replace(/[^A-Za-z0-9]/g, "_");
    var desc = h("input", {id: id + "-description", value: (m && m.description) || "", autocomplete: "off"});
    var syn = h("input", {id: id + "-synonyms", value: ((m && m.synonyms) || []).join(", "), autocomplete: "off"});
    var error = h("p", {"class": "error", role: "alert", hidden: true});
    var save = function (patch) {
      var body = {mappings: {}};
      body.mappings[key] = patch;
      return api("PATCH", sourcePath($("schema-source").value) + "/semantic-mappings", body).then(function (data) {
        state.mappings = data.mappings || {}; state.stale = data.stale || [];
        $("schema-status").textContent = "Saved the mapping of " + key + ". " + describeSchema(state.schema);
        renderSchema();
      }, function (err) { showError(error, err); });
    };
    var form = h("form", {"class": "edit", "aria-label": "Mapping of " + key, onsubmit: function (e) {
        e.preventDefault();
        save({description: desc.value.trim() || null,
          synonyms: syn.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean)});
      }},
      h("span", {"class": "field"}, h("label", {"for": desc.id, text: "Description"}), desc),
      h("span", {"class": "field"}, h("label", {"for": syn.id, text: "Synonyms (comma-separated)"}), syn),
      h("button", {type: "submit", text: "Save"}),
      m ? h("button", {type: "button", "class": "secondary", text: "Remove", onclick: function () { save(null); }}) : null,
      h("button", {type: "button", "class": "secondary", text: "Cancel", onclick: function () { clear(slot); }}));
    slot.appendChild(form);
    slot.appendChild(error);
    desc.focus();
  }
  function diffLines(diff) {  // the server's snapshot diff as ["added" | "removed" | "changed", text]
    var out = [], typeOf = function (key) {
      var name = key.slice(0, key.lastIndexOf(".")), column = key.slice(key.lastIndexOf(".") + 1);
      var table = ((state.schema && state.schema.tables) || []).filter(function (t) { return mappingKey(t) === name; })[0];
      var c = table && table.columns.filter(function (col) { return col.name === column; })[0];
      return c ? " " + (c.full_type || c.type) : "";
    };
    (diff.tables_added || []).forEach(function (t) { out.push(["added", "table " + t]); });
    (diff.tables_removed || []).forEach(function (t) { out.push(["removed", "table " + t]); });
    (diff.columns_added || []).forEach(function (c) { out.push(["added", "column " + c + typeOf(c)]); });
    (diff.columns_removed || []).forEach(function (c) { out.push(["removed", "column " + c]); });
    (diff.columns_changed || []).forEach(function (c) {
      var b = c.before || {}, a = c.after || {};
      out.push(["changed", "column " + c.column + ": " + b.type + (b.nullable ? " null" : " not null") + " \u2192 " +
        a.type + (a.nullable ? " null" : " not null")]);
    });
    return out;
  }
  function showDiff(data, previousVersion) {
    var box = clear($("schema-diff"));
    if (!data || data.schema_version === null) {
      box.appendChild(h("p", {"class": "muted", text: "No schema extracted yet."}));
      show(box, true);
      return;
    }
    var unchanged = previousVersion !== undefined && previousVersion === data.schema_version;
    box.appendChild(h("h3", {text: "Last refresh: version " + data.schema_version +
      (data.created_at ? " (" + String(data.created_at).slice(0, 19).replace("T", " ") + ")" : "")}));
    var changes = unchanged ? [] : diffLines(data.diff || {});
    if (!changes.length) box.appendChild(h("p", {"class": "muted", text: "No change since the previous version."}));
    else if (data.schema_version === 1) box.appendChild(h("p", {"class": "muted", text: "The first extraction: every table is new."}));
    var list = h("ul", {"class": "diff"});
    changes.forEach(function (c) { list.appendChild(h("li", {"class": c[0], text: c[0] + ": " + c[1]})); });
    box.appendChild(list);
    show(box, true);
  }
  function loadDiff(previousVersion) {
    var source = $("schema-source").value;
    if (!source) return Promise.resolve();
    return api("GET", sourcePath(source) + "/schema/diff").then(function (data) { showDiff(data, previousVersion); },
      function (err) { showError($("schema-error"), err); });
  }
  function refreshSchema() {
    var source = $("schema-source").value, button = $("schema-refresh");
    if (!source) return;
    var before = state.schema && state.schema.id === source ? state.schema.schema_version : undefined;
    button.disabled = true;
    showError($("schema-error"), null);
    var started = Date.now();
    var poll = function () {
      return api("GET", sourcePath(source)).then(function (s) {
        if (s.schema_status === "extracting" && Date.now() - started < 300000) {
          $("schema-status").textContent = "Extracting the schema\u2026 " + Math.round((Date.now() - started) / 1000) + " s";
          return new Promise(function (resolve) { setTimeout(resolve, 400); }).then(poll);
        }
        return s;
      });
    };
    api("POST", sourcePath(source) + "/refresh-schema").then(poll).then(function () { return loadSchema(); }).then(function () {
      return loadDiff(before === null ? undefined : before);
    }, function (err) { showError($("schema-error"), err); }).then(function () { button.disabled = false; });
  }

  // -- sources -----------------------------------------------------------------------------------
  function renderSources() {
    var table = clear($("sources-table"));
    table.appendChild(h("thead", {}, h("tr", {}, ...["Name", "Type", "Status", "Schema", "Description", "Actions"].map(function (t) { return h("th", {scope: "col", text: t}); }))));
    var body = h("tbody");
    state.sources.forEach(function (s) {
      var actions = h("div", {"class": "row"});
      var result = h("span", {"class": "muted", role: "status"});
      actions.appendChild(h("button", {type: "button", "class": "secondary", text: "Ask", "aria-label": "Ask " + s.name,
        onclick: function () { $("ask-source").value = s.id; renderHistory(); showPage("ask"); $("ask-question").focus(); }}));
      actions.appendChild(h("button", {type: "button", "class": "secondary", text: "Test", "aria-label": "Test the connection of " + s.name,
        onclick: function () { testSource(s, result); }}));
      actions.appendChild(h("button", {type: "button", "class": "secondary", text: "Schema", "aria-label": "Schema of " + s.name,
        onclick: function () { $("schema-source").value = s.id; showPage("schema"); }}));
      actions.appendChild(h("button", {type: "button", "class": "danger", text: "Delete", "aria-label": "Delete " + s.name,
        onclick: function () { confirmDelete(s, actions); }}));
      body.appendChild(h("tr", {"data-source": s.name}, h("th", {scope: "row", text: s.name}), h("td", {text: s.type}),
        h("td", {"class": "status", text: s.status}), h("td", {text: s.schema_status + (s.schema_error ? ": " + s.schema_error : "")}),
        h("td", {text: s.description || ""}), h("td", {}, actions)));
      body.appendChild(h("tr", {"class": "result-row"}, h("td", {colspan: 6}, result)));
    });
    table.appendChild(body);
  }
  function testSource(s, out) {  // the connector's own ping: SQL, MongoDB and REST sources alike
    out.className = "muted";
    out.textContent = "Testing\u2026";
    var started = performance.now();
    api("POST", sourcePath(s.id) + "/test-connection").then(function (data) {
      var ok = data.status === "connected";
      out.className = ok ? "ok" : "error";
      out.textContent = s.name + ": " + data.status + (data.status_reason ? ": " + data.status_reason : "") +
        " (" + Math.round(performance.now() - started) + " ms)";
      state.sources.forEach(function (known) { if (known.id === data.id) known.status = data.status; });
      var cell = document.querySelector("#sources-table tr[data-source='" + s.name.replace(/['\\]/g, "") + "'] td.status");
      if (cell) cell.textContent = data.status;
    }, function (err) { out.className = "error"; out.textContent = s.name + ": error[" + err.code + "]: " + err.message; });
  }
  function confirmDelete(s, cell) {
    var box = h("div", {"class": "row", role: "alertdialog", "aria-label": "Confirm deletion"},
      h("span", {text: "Delete " + s.name + "? Its mappings and history go too."}));
    var yes = h("button", {type: "button", "class": "danger", text: "Delete " + s.name, onclick: function () {
      api("DELETE", sourcePath(s.id)).then(function () {
        $("sources-status").textContent = "Deleted " + s.name + ".";
        return loadSources();
      }, function (err) { $("sources-status").textContent = "error[" + err.code + "]: " + err.message; });
    }});
    box.appendChild(yes);
    box.appendChild(h("button", {type: "button", "class": "secondary", text: "Cancel", onclick: function () { renderSources(); }}));
    clear(cell).appendChild(box);
    yes.focus();
  }
  function addSource(event) {
    event.preventDefault();
    var connection = {};
    ["url", "host", "port", "database", "username", "password"].forEach(function (k) {
      var v = $("add-" + k).value.trim();
      if (v) connection[k] = k === "port" && /^\d+$/.test(v) ? Number(v) : v;
    });
    var body = {name: $("add-name").value.trim(), type: $("add-type").value, connection: connection,
      description: $("add-description").value.trim()};
    showError($("add-error"), null);
    api("POST", "/data-sources", body).then(function (data) {
      $("add-password").value = "";
      $("add-form").reset();
      $("sources-status").textContent = "Registered " + data.name + ": " + data.status + ", schema " + data.schema_status + ".";
      return loadSources().then(function () { if (data.schema_status === "extracting") watchExtraction(data.id, data.name); });
    }, function (err) { showError($("add-error"), err); });
  }
  function watchExtraction(id, name) {
    var started = Date.now();
    var tick = function () {
      api("GET", sourcePath(id)).then(function (s) {
        if (s.schema_status === "extracting" && Date.now() - started < 300000) {
          $("sources-status").textContent = "Extracting the schema of " + name + "\u2026 " + Math.round((Date.now() - started) / 1000) + " s";
          setTimeout(tick, 500);
        } else {
          $("sources-status").textContent = name + ": schema " + s.schema_status + (s.schema_error ? ": " + s.schema_error : "") +
            (s.tables ? " (" + s.tables.length + " tables)" : "") + ".";
          loadSources();
        }
      }, function () {});
    };
    tick();
  }

  // -- start -------------------------------------------------------------------------------------
  function start() {
    var params = hashParams();
    var store = storage("sessionStorage");
    if (params.get("token")) {
      setToken(params.get("token"));
      params.delete("token");  // out of the address bar and the history
      history.replaceState(null, "", location.pathname + (params.toString() ? "#" + params.toString() : ""));
    } else setToken(store && store.getItem(TOKEN_KEY));

    document.querySelectorAll(".tab").forEach(function (tab) {
      tab.addEventListener("click", function () { showPage(tab.getAttribute("data-page")); });
    });
    $("token-form").addEventListener("submit", function (e) {
      e.preventDefault();
      setToken($("token-input").value.trim());
      $("token-input").value = "";
      loadSources().then(function () { $("ask-question").focus(); fromHash(); }, function () {});
    });
    $("forget-token").addEventListener("click", function () { setToken(null); needToken(); });
    $("ask-form").addEventListener("submit", function (e) { e.preventDefault(); ask(); });
    $("ask-source").addEventListener("change", renderHistory);
    $("run-sql").addEventListener("click", runSql);
    $("sql-editor").addEventListener("input", function () { renderParams(readParams()); });
    $("sql-editor").addEventListener("keydown", function (e) { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runSql(); } });
    $("copy-sql").addEventListener("click", function () {
      var sql = $("sql-editor").value, p = readParams();
      copyText(sql + (p.length ? "\n-- parameters: " + JSON.stringify(p) : ""), function (ok) { flash(ok ? "SQL copied." : "Copy failed: select the SQL and copy it."); });
    });
    $("share-link").addEventListener("click", shareLink);
    $("export-csv").addEventListener("click", exportCsv);
    $("export-json").addEventListener("click", exportJson);
    $("export-svg").addEventListener("click", exportSvg);
    $("chart-type").addEventListener("change", chartFromControls);
    ["chart-x", "chart-y"].forEach(function (id) {
      $(id).addEventListener("change", function () {
        if ($("chart-type").value === "auto" || $("chart-type").value === "none") {
          var mark = state.result && state.result.spec ? state.result.spec.mark.type : "bar";
          $("chart-type").value = mark;
        }
        chartFromControls();
      });
    });
    $("schema-source").addEventListener("change", loadSchema);
    $("schema-search").addEventListener("input", scheduleSearch);
    $("schema-refresh").addEventListener("click", refreshSchema);
    $("schema-diff-show").addEventListener("click", function () { loadDiff(); });
    $("add-form").addEventListener("submit", addSource);
    window.addEventListener("hashchange", fromHash);

    loadSources().then(fromHash, function (err) { if (err.status !== 401) showError($("ask-error"), err); });
  }
  function fromHash() {  // a shared link: #source=NAME&q=QUESTION asks again
    var params = hashParams(), source = params.get("source"), q = params.get("q");
    if (!q) return;
    var found = source && sourceByNameOrId(source);
    if (source && !found) { showError($("ask-error"), {code: "data_source_not_found", message: "no source named " + source}); return; }
    if (found) $("ask-source").value = found.id;
    if ($("ask-question").value === q && state.answer && state.answer.question === q) return;
    $("ask-question").value = q;
    renderHistory();
    showPage("ask");
    ask();
  }
  window.nlqConsole = {formatSql: formatSql, diffLines: diffLines, csvCell: csvCell};
  start();
})();

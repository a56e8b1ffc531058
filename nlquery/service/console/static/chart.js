/* nlquery console: charts from a Vega-Lite spec, drawn as SVG with DOM calls only.
 * The same rules as nlquery/chart.py (infer: time + number -> line, category + number -> bar,
 * two numbers -> scatter, one value -> big figure). No code is generated or evaluated. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  var TEMPORAL = /^\d{4}-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?$/;
  var TIME_NAME = /(^|_)(year|month|date|day|week|quarter|time|period)s?($|_)|_at$|_on$/i;
  var COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d",
    "#bab0ac", "#eeca3b"];
  var MARKS = ["line", "bar", "point", "text"];

  function isNumber(v) {
    if (typeof v === "number") return isFinite(v);
    return typeof v === "string" && NUMBER.test(v.trim());
  }
  function columnType(name, values) {
    var present = values.filter(function (v) { return v !== null && v !== undefined; });
    if (!present.length) return null;
    if (present.every(function (v) { return typeof v === "string" && TEMPORAL.test(v); })) return "temporal";
    if (TIME_NAME.test(name) && present.every(function (v) {
      return (typeof v === "number" && Number.isInteger(v) && v >= 1000 && v <= 2999) ||
        (typeof v === "string" && /^\d{4}$/.test(v));
    })) return "temporal";
    if (present.every(isNumber)) return "quantitative";
    return "nominal";
  }
  function columnTypes(columns, rows) {
    var sample = rows.slice(0, 200), out = {};
    columns.forEach(function (name, i) {
      out[name] = columnType(String(name), sample.map(function (r) { return i < r.length ? r[i] : null; }));
    });
    return out;
  }
  function field(name, type) { return {field: name, type: type}; }

  function build(mark, x, y, types, color) {
    if (MARKS.indexOf(mark) < 0) throw new Error("mark must be one of " + MARKS.join(", "));
    var spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", data: {name: "result"}};
    if (mark === "text") {
      spec.mark = {type: "text", fontSize: 48};
      spec.encoding = {text: field(y, types[y] || "quantitative")};
      return spec;
    }
    var xType = types[x] || "nominal";
    if (mark === "bar" && xType === "quantitative") xType = "ordinal";
    var encoding = {x: field(x, xType), y: field(y, "quantitative")};
    if (mark === "bar") encoding.x.sort = null;
    if (color !== undefined && color !== null) encoding.color = field(color, "nominal");
    spec.mark = {type: mark, tooltip: true};
    if (mark === "line") spec.mark.point = true;
    spec.encoding = encoding;
    return spec;
  }

  function infer(columns, rows) {
    if (!columns.length || !rows.length) return null;
    var types = columnTypes(columns, rows);
    var names = columns.map(String);
    var of = function (t) { return names.filter(function (c) { return types[c] === t; }); };
    var numbers = of("quantitative"), times = of("temporal"), categories = of("nominal");
    if (rows.length === 1 && names.length === 1 && types[names[0]] !== null) return build("text", null, names[0], types);
    if (rows.length === 1 && numbers.length === 1 && !times.length) return build("text", null, numbers[0], types);
    if (times.length && numbers.length) return build("line", times[0], numbers[0], types, categories.length ? categories[0] : null);
    if (categories.length && numbers.length) return build("bar", categories[0], numbers[0], types);
    if (numbers.length >= 2) return build("point", numbers[0], numbers[1], types);
    return null;
  }

  // -- rendering -------------------------------------------------------------------------------
  function el(name, attrs, text) {
    var node = document.createElementNS(SVGNS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function num(v) { return isNumber(v) ? Number(v) : null; }
  function timestamp(v) {
    if (typeof v === "number") return Date.UTC(v, 0, 1);
    if (typeof v !== "string") return null;
    var t = v.trim().replace(" ", "T");
    if (/^\d{4}$/.test(t)) t += "-01-01";
    else if (/^\d{4}-\d{2}$/.test(t)) t += "-01";
    if (/^\d{4}-\d{2}-\d{2}$/.test(t)) t += "T00:00:00Z";
    else if (!/(Z|[+-]\d{2}:?\d{2})$/.test(t)) t += "Z";
    var ms = Date.parse(t);
    return isNaN(ms) ? null : ms;
  }
  function label(v) {
    if (v === null || v === undefined) return "null";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return v.toLocaleString("en-US");
      if (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3) return v.toPrecision(6);
      return v.toLocaleString("en-US", {maximumFractionDigits: 2});
    }
    return String(v);
  }
  function short(t, n) { n = n || 14; return t.length <= n ? t : t.slice(0, n - 1) + "\u2026"; }
  function niceTicks(low, high, count) {
    count = count || 5;
    if (high === low) { if (high === 0) { high = 1; low = -1; } else { high += Math.abs(high) * 0.5; low -= Math.abs(low) * 0.5; } }
    var raw = (high - low) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).filter(function (s) { return s >= raw; })[0];
    var ticks = [], value = Math.floor(low / step) * step;
    while (!ticks.length || ticks[ticks.length - 1] < high - step * 1e-9 || ticks.length < 2) {
      ticks.push(Number(value.toPrecision(12)));
      value += step;
    }
    return ticks;
  }

  /* Draw spec over (columns, rows) into a new <svg>; marks carry class="mark". */
  function render(spec, columns, rows, opts) {
    opts = opts || {};
    var width = opts.width || 640, height = opts.height || 360;
    var svg = el("svg", {xmlns: SVGNS, width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "img", "class": "chart"});
    var index = {};
    columns.forEach(function (c, i) { index[String(c)] = i; });
    var cell = function (row, name) { var i = index[name]; return i === undefined ? null : row[i]; };
    var title = "";
    svg.appendChild(el("rect", {width: width, height: height, fill: "#fff"}));
    var text = function (attrs, t) { attrs["class"] = (attrs["class"] ? attrs["class"] + " " : "") + "tick"; svg.appendChild(el("text", attrs, t)); };
    var mark = typeof spec.mark === "object" ? spec.mark.type : spec.mark, enc = spec.encoding || {};
    if (mark === "text") {
      var name = enc.text.field, value = rows.length ? cell(rows[0], name) : null;
      var shown = typeof value === "number" ? label(value) : label(value);
      svg.appendChild(el("text", {"class": "mark big", x: width / 2, y: height / 2, "text-anchor": "middle",
        "dominant-baseline": "middle"}, shown));
      text({x: width / 2, y: height / 2 + 44, "text-anchor": "middle"}, name);
      svg.setAttribute("aria-label", name + ": " + shown);
      return svg;
    }
    var xName = enc.x.field, yName = enc.y.field, colorName = enc.color ? enc.color.field : null;
    var pad = {left: 64, right: 32, top: 16, bottom: 56};
    var innerW = width - pad.left - pad.right, innerH = height - pad.top - pad.bottom;
    var ys = rows.map(function (r) { return num(cell(r, yName)); });
    var finite = ys.filter(function (v) { return v !== null; });
    if (!finite.length) {
      text({x: width / 2, y: height / 2, "text-anchor": "middle"}, "no numeric values in " + yName);
      svg.setAttribute("aria-label", "empty chart");
      return svg;
    }
    var yLow = Math.min.apply(null, finite), yHigh = Math.max.apply(null, finite);
    if (mark === "bar") { yLow = Math.min(0, yLow); yHigh = Math.max(0, yHigh); }
    var yTicks = niceTicks(yLow, yHigh);
    var yMin = Math.min(yTicks[0], yLow), yMax = Math.max(yTicks[yTicks.length - 1], yHigh);
    var yPos = function (v) { return pad.top + innerH - (v - yMin) / ((yMax - yMin) || 1) * innerH; };
    yTicks.forEach(function (t) {
      var y = yPos(t);
      svg.appendChild(el("line", {x1: pad.left, x2: pad.left + innerW, y1: y, y2: y, stroke: "#e5e5e5"}));
      text({x: pad.left - 6, y: y, "text-anchor": "end", "dominant-baseline": "middle"}, label(t));
    });
    var axisY = pad.top + innerH;
    svg.appendChild(el("line", {x1: pad.left, x2: pad.left + innerW, y1: axisY, y2: axisY, stroke: "#888"}));
    svg.appendChild(el("line", {x1: pad.left, x2: pad.left, y1: pad.top, y2: axisY, stroke: "#888"}));
    text({x: pad.left + innerW / 2, y: height - 8, "text-anchor": "middle"}, xName);
    text({transform: "translate(12 " + (pad.top + innerH / 2) + ") rotate(-90)", "text-anchor": "middle"}, yName);
    var xLabel = function (x, t) { text({x: x, y: axisY + 16, "text-anchor": "middle"}, short(t)); };

    if (mark === "bar") {
      var band = innerW / Math.max(rows.length, 1), base = yPos(0);
      var every = Math.max(1, Math.ceil(rows.length / Math.max(1, Math.floor(innerW / 60))));
      rows.forEach(function (row, i) {
        var lab = label(cell(row, xName)), x = pad.left + i * band, v = ys[i];
        if (v !== null) {
          var y = yPos(v), rect = el("rect", {"class": "mark", x: x + band * 0.1, y: Math.min(y, base),
            width: Math.max(band * 0.8, 0.5), height: Math.abs(base - y), fill: COLORS[0]});
          rect.appendChild(el("title", {}, lab + ": " + label(v)));
          svg.appendChild(rect);
        }
        if (i % every === 0) xLabel(x + band / 2, lab);
      });
      svg.setAttribute("aria-label", "bar chart of " + yName + " by " + xName);
      return svg;
    }
    var temporal = enc.x.type === "temporal", discrete = !temporal && enc.x.type !== "quantitative";
    var categories = [], position = {}, points = [];
    if (discrete) rows.forEach(function (r) {  // a point scale, in the result's order
      var k = label(cell(r, xName));
      if (!(k in position)) { position[k] = categories.length; categories.push(k); }
    });
    rows.forEach(function (r, i) {
      var x = discrete ? position[label(cell(r, xName))] : temporal ? timestamp(cell(r, xName)) : num(cell(r, xName));
      if (x !== null && ys[i] !== null) points.push([x, ys[i], r]);
    });
    if (!points.length) {
      text({x: width / 2, y: height / 2, "text-anchor": "middle"}, "no values to plot");
      return svg;
    }
    var xs = points.map(function (p) { return p[0]; });
    var xLo = Math.min.apply(null, xs), xHi = Math.max.apply(null, xs), xMin, xMax, xTicks;
    if (discrete) { xMin = -0.5; xMax = categories.length - 0.5; }
    else if (temporal) { xMin = xLo; xMax = xHi > xLo ? xHi : xLo + 1; }
    else { xTicks = niceTicks(xLo, xHi); xMin = Math.min(xTicks[0], xLo); xMax = Math.max(xTicks[xTicks.length - 1], xHi); }
    var xPos = function (v) { return pad.left + (v - xMin) / ((xMax - xMin) || 1) * innerW; };
    if (discrete) {
      var every = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor(innerW / 60))));
      categories.forEach(function (k, i) { if (i % every === 0) xLabel(xPos(i), k); });
    } else if (temporal) {
      var seen = {}, distinct = [];
      points.slice().sort(function (a, b) { return a[0] - b[0]; }).forEach(function (p) {
        var t = String(cell(p[2], xName));
        if (!seen[p[0] + "|" + t]) { seen[p[0] + "|" + t] = 1; distinct.push([p[0], t]); }
      });
      var step = Math.max(1, Math.ceil(distinct.length / 6));
      distinct.forEach(function (d, i) { if (i % step === 0) xLabel(xPos(d[0]), d[1]); });
    } else {
      xTicks.forEach(function (t) { xLabel(xPos(t), label(t)); });
    }
    if (mark === "line") {
      var groups = [], byKey = {};
      points.forEach(function (p) {
        var key = colorName ? label(cell(p[2], colorName)) : "";
        if (!(key in byKey)) { byKey[key] = []; groups.push(key); }
        byKey[key].push(p);
      });
      groups.forEach(function (key, n) {
        var pts = byKey[key].sort(function (a, b) { return a[0] - b[0]; }), color = COLORS[n % COLORS.length];
        var d = pts.map(function (p, i) { return (i ? "L" : "M") + xPos(p[0]).toFixed(1) + "," + yPos(p[1]).toFixed(1); }).join(" ");
        var path = el("path", {"class": "mark", d: d, fill: "none", stroke: color, "stroke-width": 2});
        path.appendChild(el("title", {}, colorName ? key : yName));
        svg.appendChild(path);
        pts.forEach(function (p) {
          var c = el("circle", {cx: xPos(p[0]), cy: yPos(p[1]), r: 3, fill: color});
          c.appendChild(el("title", {}, label(cell(p[2], xName)) + ": " + label(p[1])));
          svg.appendChild(c);
        });
        if (colorName && n < 10) {
          svg.appendChild(el("rect", {x: pad.left + innerW - 110, y: pad.top + n * 16, width: 10, height: 10, fill: color}));
          text({x: pad.left + innerW - 96, y: pad.top + n * 16 + 9}, short(key));
        }
      });
      svg.setAttribute("aria-label", "line chart of " + yName + " over " + xName);
      return svg;
    }
    points.forEach(function (p) {
      var c = el("circle", {"class": "mark", cx: xPos(p[0]), cy: yPos(p[1]), r: 4, fill: COLORS[0], "fill-opacity": 0.7});
      c.appendChild(el("title", {}, label(cell(p[2], xName)) + ", " + label(p[1])));
      svg.appendChild(c);
    });
    svg.setAttribute("aria-label", "scatter plot of " + yName + " against " + xName);
    return svg;
  }

  window.nlqChart = {infer: infer, build: build, columnTypes: columnTypes, render: render, MARKS: MARKS};
})();

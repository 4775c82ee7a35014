/* tracer report: interactive graph and flag details. Hand-written, no dependencies, no network.
 *
 * Reads the trace from the JSON block #tracer-data (type application/json) and draws it into the
 * SVG #graph at the positions computed by tracer/report.py (a deterministic layered
 * layout: one column per hop). Pan: drag the background; zoom: mouse wheel or the +/-/fit
 * buttons (keys + - 0); click a node to see its labels, amounts, flags and evidence paths; click
 * a flag (in the panel or the flags table) to highlight its path from the theft.
 *
 * Every string from the trace is inserted with textContent (never innerHTML), links only get
 * https:// URLs, and class names come from a fixed list: the data cannot inject markup.
 */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var ROLES = ["seed", "deposit", "exchange", "holder", "mixer", "bridge", "swap"];
  var RADIUS = { seed: 14, deposit: 11, exchange: 11, holder: 11, mixer: 10, bridge: 10, swap: 9 };

  var data = JSON.parse(document.getElementById("tracer-data").textContent);
  var svg = document.getElementById("graph");
  var viewport = document.getElementById("viewport");
  var panel = document.getElementById("panel");
  var view = { x: 0, y: 0, k: 1 };
  var nodes = {};
  var nodeEls = {};
  var edgeEls = [];
  var edgeByKey = {};
  var selected = null;

  function roleClass(role) {
    return "role-" + (ROLES.indexOf(role) >= 0 ? role : "other");
  }

  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var name in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, name)) e.setAttribute(name, String(attrs[name]));
    }
    return e;
  }

  function h(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function link(url, text, cls) {
    var a = h("a", cls || "mono", text);
    if (typeof url === "string" && /^https:\/\/[^\s"'<>]+$/.test(url)) {
      a.href = url;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
    }
    return a;
  }

  function shortAddress(a) {
    a = String(a || "");
    return a.length > 16 ? a.slice(0, 8) + "\u2026" + a.slice(-6) : a;
  }

  // ------------------------------------------------------------------ drawing

  function draw() {
    var edgeLayer = svgEl("g", { "class": "edges" });
    var nodeLayer = svgEl("g", { "class": "nodes" });
    viewport.appendChild(edgeLayer);
    viewport.appendChild(nodeLayer);
    data.nodes.forEach(function (n) { nodes[n.id] = n; });
    var pairs = {};
    data.edges.forEach(function (e) { pairs[e.from + "\u0000" + e.to] = true; });
    data.edges.forEach(function (e, i) {
      var a = nodes[e.from], b = nodes[e.to];
      if (!a || !b || a === b) return;
      var dx = b.x - a.x, dy = b.y - a.y, len = Math.sqrt(dx * dx + dy * dy) || 1;
      var ra = (RADIUS[a.role] || 8) + 2, rb = (RADIUS[b.role] || 8) + 6;
      var x1 = a.x + dx / len * ra, y1 = a.y + dy / len * ra;
      var x2 = b.x - dx / len * rb, y2 = b.y - dy / len * rb;
      var bend = pairs[e.to + "\u0000" + e.from] ? 24 : 0;
      var cx = (x1 + x2) / 2 - dy / len * bend, cy = (y1 + y2) / 2 + dx / len * bend;
      var path = svgEl("path", {
        "class": e.bridge ? "edge bridge" : "edge",
        d: "M" + x1.toFixed(1) + " " + y1.toFixed(1) + " Q" + cx.toFixed(1) + " " + cy.toFixed(1) +
          " " + x2.toFixed(1) + " " + y2.toFixed(1),
        "marker-end": "url(#arrow)",
        "data-index": i
      });
      var title = svgEl("title", {});
      title.textContent = e.text;
      path.appendChild(title);
      edgeLayer.appendChild(path);
      edgeEls.push({ el: path, edge: e });
      e.keys.forEach(function (k) { edgeByKey[k] = path; });
    });
    data.nodes.forEach(function (n) {
      var g = svgEl("g", {
        "class": "node " + roleClass(n.role) + (n.flags.length ? " flagged" : ""),
        transform: "translate(" + n.x + " " + n.y + ")",
        "data-id": n.id,
        tabindex: 0
      });
      g.appendChild(svgEl("circle", { r: RADIUS[n.role] || 8 }));
      var label = svgEl("text", { y: (RADIUS[n.role] || 8) + 13 });
      label.textContent = n.entity ? n.entity.slice(0, 28) : shortAddress(n.address);
      g.appendChild(label);
      var title = svgEl("title", {});
      title.textContent = n.address + (n.entity ? " (" + n.entity + ")" : "") + " \u2013 " + n.role;
      g.appendChild(title);
      g.addEventListener("click", function (ev) { ev.stopPropagation(); select(n.id); });
      g.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(n.id); }
      });
      nodeLayer.appendChild(g);
      nodeEls[n.id] = g;
    });
  }

  // ------------------------------------------------------------------ pan and zoom

  function apply() {
    viewport.setAttribute("transform",
      "translate(" + view.x.toFixed(2) + " " + view.y.toFixed(2) + ") scale(" + view.k.toFixed(4) + ")");
  }

  function fit() {
    var w = svg.clientWidth || 800, hgt = svg.clientHeight || 600;
    var b = data.bounds;
    var k = Math.min((w - 60) / Math.max(b.w, 1), (hgt - 80) / Math.max(b.h, 1), 2);
    view.k = Math.max(k, 0.05);
    view.x = (w - b.w * view.k) / 2 - b.x * view.k;
    view.y = (hgt - b.h * view.k) / 2 - b.y * view.k;
    apply();
  }

  function zoomAt(px, py, factor) {
    var k = Math.min(Math.max(view.k * factor, 0.05), 8);
    factor = k / view.k;
    view.x = px - (px - view.x) * factor;
    view.y = py - (py - view.y) * factor;
    view.k = k;
    apply();
  }

  function center() {
    return { x: (svg.clientWidth || 800) / 2, y: (svg.clientHeight || 600) / 2 };
  }

  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0 || (ev.target.closest && ev.target.closest(".node"))) return;
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, moved: false };
    svg.classList.add("panning");
    if (svg.setPointerCapture) svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
    view.x = drag.vx + dx;
    view.y = drag.vy + dy;
    apply();
  });
  function endDrag() { drag = null; svg.classList.remove("panning"); }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect();
    zoomAt(ev.clientX - r.left, ev.clientY - r.top, Math.exp(-ev.deltaY * 0.0015));
  }, { passive: false });
  document.getElementById("zoom-in").addEventListener("click", function () { var c = center(); zoomAt(c.x, c.y, 1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { var c = center(); zoomAt(c.x, c.y, 0.8); });
  document.getElementById("zoom-fit").addEventListener("click", fit);
  document.addEventListener("keydown", function (ev) {
    if (ev.target && /input|textarea|select/i.test(ev.target.tagName)) return;
    var c = center();
    if (ev.key === "+" || ev.key === "=") zoomAt(c.x, c.y, 1.25);
    else if (ev.key === "-") zoomAt(c.x, c.y, 0.8);
    else if (ev.key === "0") fit();
  });

  // ------------------------------------------------------------------ selection and panel

  function highlight(keys) {
    edgeEls.forEach(function (x) { x.el.classList.remove("hl"); });
    (keys || []).forEach(function (k) { if (edgeByKey[k]) edgeByKey[k].classList.add("hl"); });
  }

  function pathList(hops) {
    var list = h("ol", "hops");
    hops.forEach(function (x) {
      var li = h("li");
      li.appendChild(h("div", "note", "hop " + x.hop + " \u00b7 block " + x.block + " \u00b7 " + x.time +
        (x.swap ? " \u00b7 swap " + x.swap : "")));
      var tx = h("div", null, "tx ");
      tx.appendChild(link(x.tx_url, shortAddress(x.tx_hash)));
      li.appendChild(tx);
      var ft = h("div");
      ft.appendChild(link(x.from_url, shortAddress(x.from)));
      ft.appendChild(document.createTextNode(" \u2192 "));
      ft.appendChild(link(x.to_url, shortAddress(x.to)));
      li.appendChild(ft);
      li.appendChild(h("div", null, x.amount_display + " " + x.symbol + " (tainted " + x.tainted_display + " " + x.symbol + ")"));
      list.appendChild(li);
    });
    return list;
  }

  function flagCard(f) {
    var card = h("div", "flag-card state-" + (["act", "investigate", "closed"].indexOf(f.state) >= 0 ? f.state : "closed"));
    card.setAttribute("data-flag", f.flag_id);
    var top = h("p");
    top.appendChild(h("span", "badge " + (["act", "investigate", "closed"].indexOf(f.state) >= 0 ? f.state : ""), "#" + f.rank + " " + f.state));
    top.appendChild(h("b", null, f.kind));
    top.appendChild(document.createTextNode(" " + f.flag_id));
    card.appendChild(top);
    card.appendChild(h("p", null, "tainted " + f.tainted_amount + " " + f.symbol + " (" + f.policy +
      "), recoverable " + f.recoverable_display + " " + f.symbol + ", confidence " + f.confidence));
    card.appendChild(h("p", null, "first tainted " + f.first_tainted_at + "; review: " + f.review +
      (f.freeze ? "; issuer: " + f.freeze.status + " (" + f.freeze.certainty + ")" : "")));
    if (f.action) card.appendChild(h("p", "note", f.action));
    card.appendChild(h("p", null, f.evidence));
    if (f.freeze) card.appendChild(h("p", "note", f.freeze.summary));
    (f.onward || []).forEach(function (x) {
      var p = h("p", "note", "swept " + x.amount_display + " " + x.symbol + " to exchange wallet ");
      p.appendChild(link(x.to_url, shortAddress(x.to)));
      p.appendChild(document.createTextNode(" in "));
      p.appendChild(link(x.tx_url, shortAddress(x.tx_hash)));
      card.appendChild(p);
    });
    if (f.path_note) card.appendChild(h("p", "note", f.path_note));
    (f.review_history || []).forEach(function (r) {
      card.appendChild(h("p", "note", "review " + r.at + ": " + r.previous + " \u2192 " + r.status +
        " by " + r.reviewer + (r.note ? ": " + r.note : "")));
    });
    card.appendChild(h("h4", null, f.evidence_path.length ? "Path from the theft (" + f.evidence_path.length + " transfers)" : "The theft address itself"));
    if (f.evidence_path.length) card.appendChild(pathList(f.evidence_path));
    card.addEventListener("click", function () { showFlag(f.flag_id); });
    return card;
  }

  function showFlag(id) {
    var f = data.flags[id];
    if (!f) return;
    highlight(f.evidence_path.map(function (x) { return x.key; }).concat((f.onward || []).map(function (x) { return x.key; })));
    Array.prototype.forEach.call(document.querySelectorAll(".flag-card, #flags-table tbody tr"), function (e) {
      e.classList.toggle("active", e.getAttribute("data-flag") === id);
    });
  }

  function amounts(map) {
    var keys = Object.keys(map || {}).sort();
    return keys.length ? keys.map(function (k) { return map[k]; }).join(", ") : "\u2013";
  }

  function select(id) {
    var n = nodes[id];
    if (!n) return;
    selected = id;
    Object.keys(nodeEls).forEach(function (k) { nodeEls[k].classList.toggle("selected", k === id); });
    while (panel.firstChild) panel.removeChild(panel.firstChild);
    panel.appendChild(h("h3", null, n.entity ? n.entity : shortAddress(n.address)));
    var dl = h("dl");
    function row(k, v) { dl.appendChild(h("dt", null, k)); var dd = h("dd"); if (v instanceof Node) dd.appendChild(v); else dd.textContent = v; dl.appendChild(dd); }
    row("address", link(n.url, n.address));
    row("role", n.role + (n.stop_reason ? " (stopped: " + n.stop_reason + ")" : ""));
    row("hop", n.hop);
    row("received", amounts(n.received));
    row("still holds", amounts(n.held));
    row("transfers seen", n.degree_seen);
    panel.appendChild(dl);
    panel.appendChild(h("h4", null, "Labels (" + n.labels.length + ")"));
    if (!n.labels.length) panel.appendChild(h("p", "hint", "No label: found by behaviour only."));
    n.labels.forEach(function (l) {
      panel.appendChild(h("p", null, l.label + (l.entity ? " \u2013 " + l.entity : "") + " [" + l.category + ", confidence " + l.confidence + "]"));
      panel.appendChild(h("p", "note", "source: " + l.source + (l.origin ? " (" + l.origin + ")" : "")));
    });
    panel.appendChild(h("h4", null, "Flags (" + n.flags.length + ")"));
    if (!n.flags.length) panel.appendChild(h("p", "hint", "No flag at this address."));
    n.flags.forEach(function (fid) { if (data.flags[fid]) panel.appendChild(flagCard(data.flags[fid])); });
    [["Tainted transfers in", n.inflows], ["Tainted transfers out", n.outflows]].forEach(function (pair) {
      if (!pair[1].length) return;
      var box = h("details");
      box.appendChild(h("summary", null, pair[0] + " (" + pair[1].length + ")"));
      var t = h("ol", "hops");
      pair[1].forEach(function (x) {
        var li = h("li");
        li.appendChild(h("div", "note", x.time + " \u00b7 block " + x.block));
        var c = h("div", null, pair[0].indexOf(" in") > 0 ? "from " : "to ");
        c.appendChild(link(x.other_url, shortAddress(x.other)));
        li.appendChild(c);
        li.appendChild(h("div", null, x.amount + " " + x.symbol + " (tainted " + x.tainted + ")"));
        t.appendChild(li);
      });
      box.appendChild(t);
      panel.appendChild(box);
    });
    if (n.flags.length) showFlag(n.flags[0]); else highlight([]);
    panel.setAttribute("data-node", id);
  }

  Array.prototype.forEach.call(document.querySelectorAll("#flags-table tbody tr"), function (tr) {
    tr.addEventListener("click", function () {
      var node = tr.getAttribute("data-node");
      if (nodes[node]) {
        select(node);
        document.getElementById("explorer").scrollIntoView({ behavior: "auto", block: "start" });
      }
      showFlag(tr.getAttribute("data-flag"));
    });
  });

  draw();
  fit();
  window.addEventListener("resize", fit);
  window.tracerReport = {
    select: select,
    showFlag: showFlag,
    view: view,
    nodeCount: data.nodes.length,
    edgeCount: edgeEls.length
  };
  document.body.setAttribute("data-ready", "1");
})();

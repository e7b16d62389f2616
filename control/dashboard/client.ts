/**
 * The dashboard's script, served as is at `/__mesh/dashboard.js` (no build step): plain ES2017
 * for any current browser. It takes the token (URL fragment, else sessionStorage, else a form),
 * fetches `GET /v1/dashboard` every `?interval=` seconds (default 2), and draws the graph as SVG
 * in four columns with bezier edges. Every string from the config is set with textContent, never
 * parsed as HTML. Rates are computed here, between two answers: the server's counts are
 * cumulative (Prometheus counters), and a count that went down (a gateway restarted) has no rate.
 *
 * Kept in a TypeScript module as a string so the worker serves it without a bundler rule; it is
 * exercised by test/browser/dashboard.test.ts in Chromium.
 */
export const DASHBOARD_SCRIPT = String.raw`(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var TOKEN_KEY = "mesh-dashboard-token";
  var KINDS = ["gateway", "host", "route", "destination"];
  var COLUMN_X = [10, 300, 590, 900];
  var WIDTH = 250, LINE = 15, PAD = 8, GAP = 16, TOP = 14;
  var requested = Number(new URLSearchParams(location.search).get("interval"));
  var interval = (requested >= 0.5 ? requested : 2) * 1000;
  var previous = null;
  var timer = null;

  function el(id) { return document.getElementById(id); }

  function takeTokenFromFragment() {
    var fragment = new URLSearchParams(location.hash.slice(1));
    var given = fragment.get("token");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function askForToken(message) {
    el("login").hidden = false;
    el("login-message").textContent = message;
    el("summary").textContent = "not signed in";
    el("token").focus();
  }

  function refresh() {
    clearTimeout(timer);
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      askForToken("Paste a control API token: the reader token is enough (npm start prints it and keeps it in .mesh/reader-token).");
      return;
    }
    fetch("/v1/dashboard", { headers: { authorization: "Bearer " + token, accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          askForToken("The control API refused that token (401). Paste a valid reader or admin token.");
          return null;
        }
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body && body.error && body.error.message) || "HTTP " + response.status);
          return body;
        });
      })
      .then(function (data) {
        if (!data) return;
        el("login").hidden = true;
        render(data);
        timer = setTimeout(refresh, interval);
      })
      .catch(function (error) {
        el("summary").textContent = "cannot load the mesh: " + error.message;
        document.body.setAttribute("data-state", "error");
        timer = setTimeout(refresh, interval * 2);
      });
  }

  function rates(data) {
    var now = Date.parse(data.generatedAt);
    var result = {};
    var counts = {};
    Object.keys(data.traffic.destinations).forEach(function (id) { counts[id] = data.traffic.destinations[id].requests; });
    if (previous && now > previous.at) {
      Object.keys(counts).forEach(function (id) {
        var before = previous.counts[id] || 0;
        if (counts[id] >= before) result[id] = (counts[id] - before) / ((now - previous.at) / 1000);
      });
    }
    previous = { at: now, counts: counts };
    return result;
  }

  function render(data) {
    var traffic = data.traffic;
    var perSecond = rates(data);
    var total = traffic.total;
    var summary = data.version === null ? "nothing applied yet" : "version " + data.version + " · " + data.graph.nodes.length + " nodes";
    if (traffic.configured) {
      summary += " · " + total.requests + " requests since the gateways started, " + percent(total.errorRatio) + " 5xx";
      if (traffic.unattributed.requests > 0) summary += " · " + traffic.unattributed.requests + " to no destination shown (e.g. no route)";
    } else {
      summary += " · live counts off: the control worker knows no gateway (MESH_GATEWAY_URLS or a MESH_GATEWAY service binding)";
    }
    summary += " · updated " + new Date(data.generatedAt).toLocaleTimeString();
    el("summary").textContent = summary;
    var list = el("sources");
    list.textContent = "";
    traffic.sources.forEach(function (source) {
      var item = document.createElement("li");
      if (!source.ok) {
        item.className = "bad";
        item.textContent = "gateway " + source.name + ": " + source.error;
      } else {
        item.className = source.inSync ? "ok" : "stale";
        item.textContent = "gateway " + source.name + ": serves " + (source.configVersion || "nothing") + (source.inSync ? " (in sync)" : " (not the current version)") +
          (source.sinceSeconds !== null ? ", counting for " + Math.round(source.sinceSeconds) + "s" : "");
      }
      list.appendChild(item);
    });
    el("empty").hidden = data.graph.nodes.length > 0;
    draw(data.graph, traffic, perSecond);
    document.body.setAttribute("data-state", "ready");
    document.body.setAttribute("data-version", data.version || "");
  }

  function lines(node, traffic, perSecond) {
    var result = [{ text: node.label, cls: "label" }];
    node.detail.forEach(function (line) { result.push({ text: line, cls: "detail" }); });
    if (node.kind === "destination") {
      var stats = traffic.destinations[node.id];
      if (!traffic.configured) result.push({ text: "no live counts", cls: "traffic idle" });
      else if (!stats || stats.requests === 0) result.push({ text: "no requests yet", cls: "traffic idle", requests: 0 });
      else {
        var rate = perSecond[node.id];
        result.push({
          text: stats.requests + " req" + (rate !== undefined ? " · " + rate.toFixed(rate < 10 ? 2 : 1) + "/s" : "") + " · " + percent(stats.errorRatio) + " 5xx",
          cls: "traffic",
          requests: stats.requests
        });
        result.push({ text: "p50 " + ms(stats.p50Ms) + " · p99 " + ms(stats.p99Ms), cls: "traffic" });
      }
    }
    return result;
  }

  function draw(graph, traffic, perSecond) {
    var svg = el("graph");
    svg.textContent = "";
    var columns = [[], [], [], []];
    var placed = {};
    graph.nodes.forEach(function (node) {
      var content = lines(node, traffic, perSecond);
      var item = { node: node, lines: content, height: PAD * 2 + content.length * LINE };
      columns[KINDS.indexOf(node.kind)].push(item);
    });
    var heights = columns.map(function (column) {
      return column.reduce(function (sum, item) { return sum + item.height; }, 0) + GAP * Math.max(0, column.length - 1);
    });
    var tallest = Math.max.apply(null, heights.concat([40]));
    columns.forEach(function (column, index) {
      var y = TOP + (tallest - heights[index]) / 2;
      column.forEach(function (item) {
        item.x = COLUMN_X[index];
        item.y = y;
        placed[item.node.id] = item;
        y += item.height + GAP;
      });
    });
    svg.setAttribute("viewBox", "0 0 " + (COLUMN_X[3] + WIDTH + 10) + " " + (tallest + TOP * 2));
    graph.edges.forEach(function (edge) {
      var from = placed[edge.from], to = placed[edge.to];
      if (!from || !to) return;
      var x1 = from.x + WIDTH, y1 = from.y + from.height / 2, x2 = to.x, y2 = to.y + to.height / 2, bend = (x2 - x1) / 2;
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", "M" + x1 + " " + y1 + " C" + (x1 + bend) + " " + y1 + " " + (x2 - bend) + " " + y2 + " " + x2 + " " + y2);
      path.setAttribute("class", "edge edge-" + edge.kind);
      path.setAttribute("data-from", edge.from);
      path.setAttribute("data-to", edge.to);
      path.setAttribute("data-kind", edge.kind);
      path.setAttribute("stroke-width", edge.share !== undefined ? String(1.5 + 6 * edge.share) : "1.2");
      svg.appendChild(path);
      if (edge.kind === "weight" || edge.kind === "mirror") {
        // On the curve, a third of the way from the route: labels of one route's edges stay apart.
        var t = 0.35, u = 1 - t;
        var lx = u * u * u * x1 + 3 * u * u * t * (x1 + bend) + 3 * u * t * t * (x2 - bend) + t * t * t * x2;
        var ly = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2;
        var label = text(lx - 10, ly - 5, edge.label, "edge-label");
        label.setAttribute("data-edge-label", edge.from + " " + edge.to);
        svg.appendChild(label);
      }
    });
    Object.keys(placed).forEach(function (id) {
      var item = placed[id];
      var group = document.createElementNS(SVG, "g");
      var errors = item.node.kind === "destination" && traffic.destinations[id] && traffic.destinations[id].errors > 0;
      group.setAttribute("class", "node node-" + item.node.kind + (errors ? " errors" : ""));
      group.setAttribute("data-node-id", id);
      group.setAttribute("data-kind", item.node.kind);
      group.setAttribute("transform", "translate(" + item.x + "," + item.y + ")");
      var title = document.createElementNS(SVG, "title");
      title.textContent = [item.node.label].concat(item.node.detail).join("\n");
      group.appendChild(title);
      var box = document.createElementNS(SVG, "rect");
      box.setAttribute("width", String(WIDTH));
      box.setAttribute("height", String(item.height));
      box.setAttribute("rx", "6");
      group.appendChild(box);
      item.lines.forEach(function (line, index) {
        var node = text(PAD, PAD + (index + 1) * LINE - 3, line.text, line.cls);
        if (line.requests !== undefined) {
          node.setAttribute("data-traffic-for", id);
          node.setAttribute("data-requests", String(line.requests));
        }
        group.appendChild(node);
      });
      svg.appendChild(group);
    });
  }

  function text(x, y, content, cls) {
    var node = document.createElementNS(SVG, "text");
    node.setAttribute("x", String(x));
    node.setAttribute("y", String(y));
    node.setAttribute("class", cls);
    node.textContent = content.length > 36 ? content.slice(0, 35) + "…" : content;
    return node;
  }

  function percent(ratio) { return ratio === null || ratio === undefined ? "-" : (ratio * 100).toFixed(1) + "%"; }
  function ms(value) { return value === null ? "-" : value >= 1000 ? (value / 1000).toFixed(2) + "s" : value >= 10 ? value.toFixed(0) + "ms" : value.toFixed(2) + "ms"; }

  el("login").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = el("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    el("token").value = "";
    refresh();
  });
  takeTokenFromFragment();
  refresh();
})();
`;

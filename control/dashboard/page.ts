/**
 * The dashboard page, `/__mesh/dashboard`: static HTML and CSS, and a small script
 * (`client.ts`) that fetches `GET /v1/dashboard` with a bearer token and draws it as SVG. Nothing
 * here holds config: the page is public, the data is not (the same token rules as every `/v1/`
 * call). The token comes from the URL fragment (`#token=...`, which browsers never send to a
 * server), is kept in the tab's sessionStorage and removed from the address bar; without one the
 * page asks for it.
 *
 * The Content-Security-Policy allows only this origin's script, style and API: no inline script,
 * no third-party asset, no framing.
 */

export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mesh dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/__mesh/dashboard.css">
<script src="/__mesh/dashboard.js" defer></script>
</head><body>
<header>
  <h1>Mesh</h1>
  <p id="summary">loading…</p>
  <ul id="sources"></ul>
</header>
<form id="login" hidden>
  <p id="login-message"></p>
  <label>Token <input id="token" type="password" autocomplete="off" size="48"></label>
  <button type="submit">Show the mesh</button>
</form>
<main>
  <svg id="graph" role="img" aria-label="The mesh: gateways, hosts, routes and destinations" xmlns="http://www.w3.org/2000/svg"></svg>
  <p id="empty" hidden>Nothing has been applied yet: <code>meshctl apply -f FILE</code>.</p>
</main>
<footer>Columns: Gateways → hosts (VirtualServices) → routes, in the order they are tried → destinations (service and subset), edges labelled with each destination's share of its route.
Counts are the gateways' since they started (<code>reporter="source"</code>); the rate is measured between two refreshes.
Data: <code>GET /v1/dashboard</code>. <a href="/docs">API reference</a>.</footer>
</body></html>
`;

export const DASHBOARD_CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{padding:.75rem 1.25rem;border-bottom:1px solid #dde2ea;background:#fff}
h1{font-size:1.2rem;margin:0 0 .25rem}
#summary{margin:0;color:#445}
#sources{margin:.25rem 0 0;padding:0;list-style:none;color:#556;font-size:13px}
#sources .bad{color:#b3261e}
#sources .stale{color:#9a6700}
form{padding:1rem 1.25rem;background:#fff8e1;border-bottom:1px solid #e8d9a8}
main{padding:1rem}
svg{width:100%;height:auto;display:block}
footer{padding:.5rem 1.25rem 1.5rem;color:#667;font-size:12px}
code{font:12px ui-monospace,monospace;background:#eef0f3;padding:0 .2em}
.node rect{stroke-width:1.2}
.node-gateway rect{fill:#e7efff;stroke:#3d63c9}
.node-host rect{fill:#e9f6ec;stroke:#2f8a47}
.node-route rect{fill:#fff5e0;stroke:#b7791f}
.node-destination rect{fill:#f3ecfb;stroke:#7b4bb7}
.node-destination.errors rect{stroke:#c62828;stroke-width:2.5}
.node text{font-size:12px;fill:#334}
.node text.label{font-weight:600;font-size:13px;fill:#111}
.node text.traffic{fill:#0b5d1e;font-weight:600}
.node text.traffic.idle{fill:#889;font-weight:400}
.node-destination.errors text.traffic{fill:#c62828}
.edge{fill:none;stroke:#9aa5b5}
.edge-weight{stroke:#7b4bb7;stroke-opacity:.7}
.edge-mirror{stroke:#7b4bb7;stroke-dasharray:6 4;stroke-opacity:.6}
.edge-label{font-size:11px;fill:#4b2a7a;font-weight:600}
.edge-label.minor{fill:#778;font-weight:400}
`;

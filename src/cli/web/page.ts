// The web dashboard's static parts: the page, its style sheet and its script (app.ts), and the
// headers every answer carries. Every URL in them is relative, so the dashboard works behind a
// reverse proxy under a path prefix (proxied at /dopq/, the page asks for /dopq/events).
import { dashboardApp } from './app.js';

/** No script or style but our own files, nothing from elsewhere, never in a frame. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

const table = (id: string, title: string, columns: string[]): string =>
  `<section class="pane" id="${id}"><h2>${title}</h2><table><thead><tr>${columns.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody id="${id}-body"></tbody></table></section>`;

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dopq</title>
<link rel="stylesheet" href="style.css">
<link rel="icon" href="favicon.svg">
<script src="app.js" defer></script>
</head>
<body>
<header><h1>dopq</h1><span id="live">connecting…</span></header>
<main>
<section class="pane" id="status"><h2>Status</h2><dl id="status-list"></dl></section>
${table('users', 'Users', ['user', 'share', 'usage (GPU-h)', 'penalty', 'running', 'queued', 'GPUs held'])}
${table('running', 'Running', ['id', 'name', 'user', 'GPUs', 'started', 'CPU', 'memory', 'GPU util', 'GPU memory'])}
${table('queued', 'Queued, in start order', ['#', 'id', 'name', 'user', 'GPUs', 'estimated start', 'waiting for'])}
${table('finished', 'Finished', ['id', 'name', 'user', 'state', 'reason', 'exit', 'ended'])}
<section class="pane" id="charts"><h2>Last 24 h</h2>
<figure><figcaption>GPU utilization</figcaption><div id="chart-gpu"></div></figure>
<figure><figcaption>GPUs held per user</figcaption><div id="chart-users"></div></figure>
</section>
</main>
</body>
</html>
`;

/** The charts' colours, c0..c9 (app.ts picks them by class). */
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export const STYLE_CSS = `:root { color-scheme: light dark; font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0; background: Canvas; color: CanvasText; }
header { display: flex; align-items: baseline; gap: 1em; padding: .5em 1em; border-bottom: 1px solid #8884; }
h1 { font-size: 1.3em; margin: 0; }
h2 { font-size: 1.05em; margin: 0 0 .4em; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1em; padding: 1em; }
#running, #charts { grid-column: 1 / -1; }
.pane { border: 1px solid #8884; border-radius: 6px; padding: .6em .8em; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .15em .5em; border-bottom: 1px solid #8882; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.empty { color: GrayText; font-style: italic; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; }
.ok { color: #2a8a3e; }
.bad, tr.failed td, tr.idle td { color: #c0392b; }
figure { margin: 0 0 .8em; }
#charts figure { display: inline-block; vertical-align: top; width: calc(50% - 1em); min-width: 320px; margin-right: 1em; }
figcaption { font-weight: 600; }
svg.chart { width: 100%; height: auto; }
svg .grid { stroke: #8884; }
svg .axis { font-size: 10px; fill: GrayText; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: .3em 1em; margin: .2em 0 0; padding: 0; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .3em; border-radius: 2px; }
svg path.line { fill: none; stroke-width: 1.5; }
${PALETTE.map((color, i) => `.swatch.c${i} { background: ${color}; }\nsvg path.c${i} { stroke: ${color}; }`).join('\n')}
`;

/** The browser asks for an icon: a GPU-ish square, so no request ends in a 404. */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="3" width="14" height="10" rx="2" fill="#4e79a7"/><rect x="4" y="6" width="8" height="4" fill="#fff"/></svg>\n';

/** The script: the function's own text, called once the page is parsed (the tag says defer). */
export const APP_JS = `'use strict';\n(${dashboardApp.toString()})();\n`;

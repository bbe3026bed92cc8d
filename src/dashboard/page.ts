import { html, raw } from "hono/html";

/** The page shell: styles, the sections rendered now, and the static live-update script. */
export function renderPage(sections: Record<string, string>, allowWrites: boolean): string {
  const section = (id: string, title: string) =>
    html`<section><h2>${title}</h2><div id="${id}">${raw(sections[id] ?? "")}</div></section>`;
  return String(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>waymark</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${raw(STYLE)}</style></head>
<body><header><h1>waymark</h1><span id="updated">live</span>
<span class="mode">${allowWrites ? "writes allowed" : "read-only (start with --allow-writes to reset or gc)"}</span>
<output id="message"></output></header>
${section("status", "Active checkpoints")}
${section("advice", "Advisor")}
${section("stats", "Work saved (7 days)")}
${section("stale", "Stale")}
${section("runs", "Recent runs")}
<script>${raw(SCRIPT)}</script></body></html>`);
}

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0 24px 24px;color:#222}
header{display:flex;gap:16px;align-items:baseline;border-bottom:1px solid #ddd}
h2{font-size:16px;margin:20px 0 6px}h3{font-size:13px;margin:10px 0 4px;color:#555}
table{border-collapse:collapse}td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{font-weight:600;border-bottom:1px solid #ccc}.empty{color:#777}.split-note{color:#777;font-size:12px}
.bar{width:160px;height:10px;background:#eee;border-radius:5px;overflow:hidden}
.bar div{height:100%;background:#3b82f6;transition:width .3s}
.run.failed td:nth-child(4){color:#b91c1c}.warn,.quota.paused td:nth-child(5){color:#b45309}
.advice{margin-bottom:10px}#updated,.mode{color:#777;font-size:12px}#message{color:#b91c1c}`;

// Static: it only moves server-rendered (already escaped) markup into place and posts forms.
const SCRIPT = `
const events = new EventSource("events");
events.addEventListener("update", (event) => {
  const sections = JSON.parse(event.data);
  for (const [id, markup] of Object.entries(sections)) {
    const target = document.getElementById(id);
    if (target) target.innerHTML = markup;
  }
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
});
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.write");
  if (!button) return;
  const { action, ...fields } = button.dataset;
  const response = await fetch("actions/" + action, { method: "POST", body: new URLSearchParams(fields) });
  document.getElementById("message").textContent = response.status + ": " + (await response.text());
});`;

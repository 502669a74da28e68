# ruff: noqa: E501  (the page's HTML, CSS and JavaScript, kept as written)
"""The studio's one page: plain HTML, CSS and JavaScript, nothing fetched from
elsewhere (it works offline). It calls server.py's JSON API and polls /api/state."""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dreamreel studio</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#15161a;color:#e6e6e6}
header{padding:10px 16px;background:#23242b;font-weight:600}
main{display:grid;grid-template-columns:minmax(300px,420px) 1fr;gap:16px;padding:12px 16px}
section{background:#1d1e24;border-radius:6px;padding:10px;margin-bottom:12px}
h2{font-size:14px;margin:0 0 8px}
label{display:block;margin:4px 0 2px;color:#aab}
input[type=text],select,textarea{width:100%;box-sizing:border-box;background:#101116;
 color:#eee;border:1px solid #3a3b44;border-radius:4px;padding:4px}
textarea{height:54px;font-family:monospace}
button{background:#3d5afe;color:#fff;border:0;border-radius:4px;padding:6px 12px;margin:6px 4px 0 0;cursor:pointer}
button.quiet{background:#3a3b44}
#error{color:#ff8a80;min-height:1.2em;white-space:pre-wrap}
.knobs{display:grid;grid-template-columns:1fr 1fr;gap:0 8px}
pre{white-space:pre-wrap;word-break:break-all;background:#101116;padding:6px;max-height:220px;overflow:auto;font-size:12px}
.job,.entry{border-top:1px solid #333;padding:8px 0}
.job img,.entry img,.entry video{max-width:256px;max-height:256px;vertical-align:top;margin-right:6px}
.entry video,.entry img.look{width:256px;height:auto;image-rendering:pixelated}
progress{width:240px}
svg.loss{background:#101116;vertical-align:top}
.muted{color:#889}
</style></head><body>
<header>dreamreel studio <span class="muted" id="root"></span></header>
<main><div>
<section><h2>Recipe</h2>
 <label for="preset">preset</label><select id="preset"></select>
 <label for="recipe-path">or open a recipe: a .toml, or a render's folder, GIF, MP4, frame</label>
 <input type="text" id="recipe-path" placeholder="path on this machine">
 <input type="file" id="recipe-file">
 <button class="quiet" id="open">Open recipe</button>
 <div class="muted" id="opened"></div>
</section>
<section><h2>Inputs</h2>
 <label for="input-file">photo, clip, or several photos (a folder)</label>
 <input type="file" id="input-file" multiple accept="image/*,video/*">
 <input type="text" id="input" placeholder="none: the preset's input, else noise">
 <label for="audio-file">song</label>
 <input type="file" id="audio-file" accept="audio/*">
 <input type="text" id="audio" placeholder="no track">
 <label for="guide-file">guide image (sets the objective to guide:PATH)</label>
 <input type="file" id="guide-file" accept="image/*">
</section>
<section><h2>Knobs <span class="muted" id="mode"></span></h2>
 <div class="muted">blank: the preset's value; a schedule works: 0:(1.02), 48:(1.05)</div>
 <div class="knobs" id="knobs"></div>
 <label for="more">more settings, KEY=VALUE a line (as --set)</label>
 <textarea id="more"></textarea>
 <label for="preview-frame">preview frame</label>
 <input type="text" id="preview-frame" value="1">
 <div>
  <button id="preview">Preview</button><button id="render">Render</button>
  <button class="quiet" id="copy">Copy as TOML / CLI command</button>
 </div>
 <div id="error"></div>
</section>
</div><div>
<section><h2>Preview</h2><div class="muted" id="preview-note"></div><img id="preview-img" alt=""></section>
<section><h2>Renders</h2><div id="jobs" class="muted">none yet</div></section>
<section id="copied" hidden><h2>CLI command</h2><pre id="command"></pre><h2>TOML</h2><pre id="toml"></pre></section>
<section><h2>Gallery</h2><div id="gallery" class="muted">nothing rendered yet</div></section>
</div></main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let knobLists = {}, presetModes = {}, mode = "", groupCount = 0;
function say(text) { $("error").textContent = text || ""; }
async function call(path, body) {
  const r = await fetch(path, body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await r.json().catch(() => ({error: "the studio did not answer"}));
  if (data.error) { say(data.error); throw new Error(data.error); }
  say(""); return data;
}
function knobKeys() { return [...(knobLists[mode] || []), ...(knobLists.common || [])]; }
function form() {
  const knobs = {};
  for (const key of knobKeys()) { const el = $("knob-" + key); if (el) knobs[key] = el.value; }
  return {preset: $("preset").value, input: $("input").value, audio: $("audio").value,
          knobs, more: $("more").value, frame: $("preview-frame").value};
}
function showValues(values) {  // a blank knob shows the preset's (or recipe's) value
  for (const key of knobKeys()) { const el = $("knob-" + key); if (el) el.placeholder = (values || {})[key] || ""; }
}
function drawKnobs(newMode) {
  if (newMode === mode && $("knobs").children.length) return;
  const kept = form().knobs; mode = newMode; $("mode").textContent = "(" + mode + ")";
  const box = $("knobs"); box.innerHTML = "";
  for (const key of knobKeys()) {
    const wrap = document.createElement("div");
    const label = document.createElement("label"); label.textContent = key;
    const input = document.createElement("input"); input.type = "text";
    input.id = "knob-" + key; label.htmlFor = input.id; input.value = kept[key] || "";
    wrap.append(label, input); box.append(wrap);
  }
}
async function checkForm() {
  const data = await call("/api/spec", form());
  drawKnobs(data.mode); showValues(data.values);
  return data;
}
async function upload(file, group) {
  const q = "name=" + encodeURIComponent(file.name) + (group ? "&group=" + group : "");
  const r = await fetch("/api/upload?" + q, {method: "POST", body: file});
  const data = await r.json();
  if (data.error) { say(data.error); throw new Error(data.error); }
  return data;
}
$("input-file").onchange = async (e) => {
  const files = [...e.target.files]; if (!files.length) return;
  const group = files.length > 1 ? Date.now() + "-" + (groupCount++) : "";
  let last; for (const f of files) last = await upload(f, group);
  $("input").value = files.length > 1 ? last.folder : last.path;
  checkForm().catch(() => {});
};
$("audio-file").onchange = async (e) => {
  const f = e.target.files[0]; if (!f) return;
  $("audio").value = (await upload(f, "")).path; checkForm().catch(() => {});
};
$("guide-file").onchange = async (e) => {
  const f = e.target.files[0]; if (!f) return;
  $("knob-objective").value = "guide:" + (await upload(f, "")).path; checkForm().catch(() => {});
};
$("recipe-file").onchange = async (e) => {  // chosen: opened at once
  const f = e.target.files[0]; if (!f) return;
  $("recipe-path").value = (await upload(f, "")).path;
  await openRecipe($("recipe-path").value).catch(() => {});
};
async function openRecipe(path) {
  const data = await call("/api/open", {path});
  let option = [...$("preset").options].find((o) => o.value === data.preset);
  if (!option) { option = new Option("recipe: " + data.preset, data.preset); $("preset").add(option); }
  $("preset").value = data.preset; drawKnobs(data.mode);
  for (const key of knobKeys()) $("knob-" + key).value = "";
  showValues(data.values);
  $("more").value = ""; $("opened").textContent = "opened " + data.preset + " (its settings show in the blank knobs)";
  return data;
}
$("open").onclick = () => openRecipe($("recipe-path").value).catch(() => {});
$("preset").onchange = () => {
  if (presetModes[$("preset").value]) drawKnobs(presetModes[$("preset").value]);
  $("opened").textContent = ""; checkForm().catch(() => {});
};
$("copy").onclick = async () => {
  const data = await checkForm().catch(() => null); if (!data) return;
  $("command").textContent = data.command; $("toml").textContent = data.toml;
  $("copied").hidden = false;
  if (navigator.clipboard) navigator.clipboard.writeText(data.command).catch(() => {});
};
$("preview").onclick = async () => {
  $("preview-note").textContent = "dreaming (the first preview loads the model)...";
  const started = performance.now();
  try {
    const data = await call("/api/preview", form());
    $("preview-img").src = data.image;
    $("preview-note").textContent = "frame " + data.frame + " of " + data.frames + " in " +
      ((performance.now() - started) / 1000).toFixed(1) + " s";
  } catch (e) { $("preview-note").textContent = ""; }
};
$("render").onclick = async () => { await call("/api/render", form()).catch(() => {}); refresh(); };
function lossCurve(losses) {
  if (losses.length < 2) return "";
  const lo = Math.min(...losses), hi = Math.max(...losses), w = 240, h = 60;
  const pts = losses.map((v, i) => (i * w / (losses.length - 1)).toFixed(1) + "," +
    (h - 4 - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (h - 8)).toFixed(1)).join(" ");
  return '<svg class="loss" width="' + w + '" height="' + h + '"><polyline fill="none" ' +
    'stroke="#7c9cff" stroke-width="1.5" points="' + pts + '"/></svg>';
}
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
const fileUrl = (folder, name) => "/files/" + encodeURIComponent(folder) + "/" + encodeURIComponent(name);
function drawJobs(jobs) {
  if (!jobs.length) return;
  $("jobs").innerHTML = jobs.map((j) => {
    const total = j.frames || 0, live = j.state === "running" || j.state === "queued";
    const again = j.state === "stopped" || j.state === "failed";
    return '<div class="job" data-id="' + j.id + '" data-state="' + j.state + '">' +
      '<b>' + esc(j.folder) + '</b> <span class="state">' + j.state + '</span> ' +
      '<span class="count">' + j.done + (total ? " / " + total : "") + ' frames</span> ' +
      (total ? '<progress max="' + total + '" value="' + j.done + '"></progress> ' : "") +
      (live ? '<button class="stop quiet" data-id="' + j.id + '">Stop</button>' : "") +
      (again ? '<button class="resume-job" data-id="' + j.id + '">Resume</button>' : "") +
      (j.error ? '<div class="job-error" style="color:#ff8a80">' + esc(j.error) + "</div>" : "") +
      "<div>" + (j.latest ? '<img class="latest" alt="latest frame" src="' +
        fileUrl(j.folder, "latest.jpg") + "?n=" + j.done + '">' : "") + lossCurve(j.losses) + "</div>" +
      '<div class="muted">' + esc(j.command) + "</div></div>";
  }).join("");
  for (const b of document.querySelectorAll("button.stop"))
    b.onclick = () => call("/api/stop", {id: Number(b.dataset.id)}).then(refresh, () => {});
  for (const b of document.querySelectorAll("button.resume-job"))
    b.onclick = () => call("/api/resume", {id: Number(b.dataset.id)}).then(refresh, () => {});
}
let galleryKey = "";
function drawGallery(entries) {
  const key = JSON.stringify(entries); if (key === galleryKey) return; galleryKey = key;
  if (!entries.length) return;
  $("gallery").innerHTML = entries.map((e, i) =>
    '<div class="entry" data-folder="' + esc(e.folder) + '" data-finished="' + e.finished +
    '" data-rendering="' + e.rendering + '">' +
    "<b>" + esc(e.folder) + "</b> " + esc(e.mode) + ", " + e.stored + (e.frames ? " / " + e.frames : "") +
    " frames" + (e.rendering ? " (rendering)" : e.finished ? "" : " (stopped: resumable)") + "<div>" +
    (e.mp4 ? '<video controls loop muted preload="metadata" src="' + fileUrl(e.folder, e.mp4) + '"></video>'
      : e.gif ? '<img class="look" src="' + fileUrl(e.folder, e.gif) + '">'
      : e.latest ? '<img class="look" src="' + fileUrl(e.folder, "latest.jpg") + '">' : "") +
    (e.losses_png ? '<img alt="losses" src="' + fileUrl(e.folder, "losses.png") + '">' : "") + "</div>" +
    (e.stability ? '<div class="stability">' + esc(e.stability) + "</div>" : "") +
    '<details><summary>recipe</summary><pre>' + esc(e.recipe) + "</pre></details>" +
    '<button class="quiet reopen" data-i="' + i + '">Reopen (re-render with changes)</button>' +
    (e.finished || e.rendering ? "" : '<button class="resume" data-i="' + i + '">Resume</button>') + "</div>").join("");
  for (const b of document.querySelectorAll("button.reopen"))
    b.onclick = () => openRecipe(entries[b.dataset.i].path).catch(() => {});
  for (const b of document.querySelectorAll("button.resume"))
    b.onclick = async () => {
      await openRecipe(entries[b.dataset.i].path).catch(() => null);
      await call("/api/render", form()).catch(() => {}); refresh();
    };
}
async function refresh() {
  const s = await fetch("/api/state").then((r) => r.json()).catch(() => null);
  if (!s || s.error) return;
  knobLists = s.knobs; presetModes = s.modes || {}; $("root").textContent = "renders in " + s.out_root;
  drawJobs(s.jobs); drawGallery(s.gallery);
  return s;
}
(async () => {
  const s = await refresh();
  if (s) {
    for (const name of s.presets) $("preset").add(new Option(name, name));
    $("preset").value = s.presets.includes("noise-zoom") ? "noise-zoom" : s.presets[0];
    await checkForm().catch(() => {});
  }
  document.body.dataset.ready = "1";
  setInterval(refresh, 1000);
})();
</script></body></html>
"""

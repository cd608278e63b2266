"use strict";
const NS = "http://www.w3.org/2000/svg";
const W = 560, H = 220, L = 46, R = 10, T = 14, B = 40;
const COLORS = { matcher: "#2563eb", projector: "#7c3aed", mailer: "#16a34a" };
const history = [];   // [{t, values: {consumer: pending}}], newest last
const HISTORY_POINTS = 150;   // five minutes at one poll per two seconds

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}
function label(parent, x, y, s, cls, anchor) {
  const t = el("text", { x, y, class: cls || "axis", "text-anchor": anchor || "middle" }, parent);
  t.textContent = s;
  return t;
}
function clear(svg, h) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute("viewBox", `0 0 ${W} ${h || H}`);
}
function short(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + "k";
  return String(Math.round(v * 100) / 100);
}
// A round axis maximum at or above v with four whole-number ticks: the tick
// step is 1, 2 or 5 times a power of ten (or 25 times one), never a fraction
// since everything plotted is a count.
function niceMax(v) {
  const raw = Math.max(1, v) / 4;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    const step = m * p;
    if (step >= raw && Number.isInteger(step)) return 4 * step;
  }
  return 40 * p;
}
function axes(svg, max, h) {
  const plot = (h || H) - T - B;
  for (let k = 0; k <= 4; k++) {
    const y = T + plot * (1 - k / 4);
    el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }, svg);
    label(svg, L - 6, y + 4, short(max * k / 4), "axis", "end");
  }
  return plot;
}

// items: [{label, value (number or null), color, group?}]
function bars(svg, items, opts) {
  clear(svg);
  const max = niceMax(Math.max(0, ...items.map(i => i.value || 0)));
  const plot = axes(svg, max);
  const n = Math.max(items.length, 1);
  const slot = (W - L - R) / n;
  const bw = Math.max(1, slot * (opts.fill || 0.74));
  const every = Math.max(1, Math.ceil(n / (opts.maxLabels || 10)));
  let nonzero = 0, total = 0;
  items.forEach((it, i) => {
    const v = it.value;
    const h = v == null ? 0 : plot * v / max;
    const x = L + i * slot + (slot - bw) / 2;
    const r = el("rect", { x, y: T + plot - h, width: bw, height: h, rx: Math.min(3, bw / 4),
                           class: "bar", fill: it.color, "data-value": v == null ? "" : v }, svg);
    el("title", {}, r).textContent = `${it.title || it.label}: ${v == null ? "unknown" : v}`;
    if (v == null) label(svg, x + bw / 2, T + plot - 4, "?", "value");
    else if (opts.values && v > 0) label(svg, x + bw / 2, T + plot - h - 4, short(v), "value");
    if (v > 0) nonzero++;
    total += v || 0;
    if (it.label && i % every === 0) label(svg, x + bw / 2, H - B + 15, it.label);
    if (it.group) label(svg, L + (i + 0.5 + (it.groupSpan - 1) / 2) * slot, H - B + 30, it.group, "value");
  });
  svg.dataset.bars = nonzero;
  svg.dataset.total = total;
}

// Every UTC day from the first to the last registration, gaps as zero, at
// most the last 90 days.
function days(perDay) {
  const keys = Object.keys(perDay).sort();
  if (!keys.length) return [];
  const out = [];
  const end = Date.parse(keys[keys.length - 1] + "T00:00:00Z");
  let t = Math.max(Date.parse(keys[0] + "T00:00:00Z"), end - 89 * 86400000);
  for (; t <= end; t += 86400000) {
    const d = new Date(t).toISOString().slice(0, 10);
    out.push({ label: d.slice(5), title: d, value: perDay[d] || 0, color: "#2563eb" });
  }
  return out;
}

function lagHistory(svg, consumers) {
  const h = 150;
  history.push({ t: Date.now(), values: Object.fromEntries(consumers.map(c => [c.consumer, c.pending])) });
  while (history.length > HISTORY_POINTS) history.shift();
  clear(svg, h);
  const all = history.flatMap(p => Object.values(p.values).filter(v => v != null));
  const max = niceMax(Math.max(0, ...all));
  const plot = axes(svg, max, h);
  const span = Math.max(1, HISTORY_POINTS - 1);
  let points = 0;
  for (const c of consumers) {
    const pts = [];
    history.forEach((p, i) => {
      const v = p.values[c.consumer];
      if (v == null) return;
      const x = L + (W - L - R) * (HISTORY_POINTS - history.length + i) / span;
      pts.push(`${x.toFixed(1)},${(T + plot - plot * v / max).toFixed(1)}`);
    });
    points += pts.length;
    if (!pts.length) continue;
    const color = COLORS[c.consumer] || "#111";
    el("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2,
                     "data-consumer": c.consumer }, svg);
    // The latest value as a dot, visible even before there is a line.
    const [x, y] = pts[pts.length - 1].split(",");
    el("circle", { cx: x, cy: y, r: 3, fill: color }, svg);
  }
  label(svg, W - R, h - B + 15, "now", "axis", "end");
  label(svg, L, h - B + 15, "−5 min", "axis", "start");
  let x = L + 60;
  for (const c of consumers) {
    el("rect", { x, y: h - B + 24, width: 10, height: 10, rx: 2, fill: COLORS[c.consumer] || "#111" }, svg);
    label(svg, x + 14, h - B + 33, c.consumer, "axis", "start");
    x += 90;
  }
  svg.dataset.points = points;
}

function render(s) {
  bars(document.getElementById("chart-registrations"), days(s.registrations_per_day || {}),
       { maxLabels: 8, fill: 0.8 });
  const decided = (s.matched || 0) + (s.new || 0);
  const pct = v => decided ? ` (${Math.round(100 * v / decided)}%)` : "";
  bars(document.getElementById("chart-outcomes"), [
    { label: "matched" + pct(s.matched || 0), value: s.matched || 0, color: "#16a34a" },
    { label: "new" + pct(s.new || 0), value: s.new || 0, color: "#d97706" },
  ], { values: true, fill: 0.5 });
  bars(document.getElementById("chart-scores"), (s.score_histogram || []).map((v, i) => ({
    label: i === 9 ? "90–100" : `${i * 10}–${i * 10 + 10}`, value: v, color: "#7c3aed" })), { values: true });
  const consumers = s.consumers || [];
  bars(document.getElementById("chart-lag"), consumers.flatMap(c => [
    { label: "", title: `${c.consumer} pending`, value: c.pending, color: "#2563eb", group: c.consumer, groupSpan: 3 },
    { label: "", title: `${c.consumer} ack pending`, value: c.ack_pending, color: "#d97706" },
    { label: "", title: `${c.consumer} dead letters`, value: c.dead_letters, color: "#dc2626" },
  ]), { values: true });
  lagHistory(document.getElementById("chart-lag-history"), consumers);

  document.getElementById("last-seq").textContent = String(s.last_applied_seq ?? "–");
  const age = s.seconds_since_last_applied_event;
  document.getElementById("age").textContent = age == null ? "–" : age < 120 ? `${Math.round(age)} s` :
    age < 7200 ? `${Math.round(age / 60)} min` : age < 172800 ? `${Math.round(age / 3600)} h` : `${Math.round(age / 86400)} d`;
  document.getElementById("mail-sent").textContent = String(s.mail_sent ?? "–");
  document.getElementById("mail-failed").textContent = String(s.mail_failed ?? "–");
  document.getElementById("generation").textContent = s.generation || "–";
  const total = Object.values(s.registrations_per_day || {}).reduce((a, b) => a + b, 0);
  document.getElementById("reg-sub").textContent = `UTC days · ${total} in total`;
  document.getElementById("outcome-sub").textContent = `${decided} decided`;
}

function status(text, error) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

let signedOut = false;
async function poll() {
  try {
    const r = await fetch("/api/v1/stats", { headers: { accept: "application/json" }, cache: "no-store" });
    const body = await r.json().catch(() => null);
    if (r.status === 401) {
      // The session ended (the token expired): offer to sign in again.
      const el = document.getElementById("status");
      el.textContent = "signed out: ";
      el.className = "error";
      const link = el.appendChild(document.createElement("a"));
      link.href = "/sign-in?next=" + encodeURIComponent(location.pathname);
      link.textContent = "sign in again";
      signedOut = true;
      return;
    }
    if (!r.ok) {
      status(`stats unavailable: ${(body && body.error && body.error.message) || r.status}`, true);
    } else {
      render(body);
      document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
      status(`updated ${new Date().toLocaleTimeString()}`, false);
    }
  } catch (e) {
    status("cannot reach the API", true);
  } finally {
    // After the answer, not on a fixed interval: a slow API is never asked twice at once.
    if (!signedOut) setTimeout(poll, 2000);
  }
}
poll();

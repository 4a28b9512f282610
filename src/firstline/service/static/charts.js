// Small inline-SVG charts for the analytics page (no chart library). Labels go in via textContent.

const NS = "http://www.w3.org/2000/svg";
// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function frame(width, height, label) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img", "aria-label": label });
  root.append(svg("title", {}, label));
  return root;
}

function shorten(text, max) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** Horizontal bars: items [{label, value}], format(value) → text. */
export function barChart(items, { label, format = String, color = PALETTE[0] } = {}) {
  const rowHeight = 28;
  const labelWidth = 210;
  const width = 680;
  const barSpace = width - labelWidth - 90;
  const height = Math.max(1, items.length) * rowHeight + 10;
  const root = frame(width, height, label);
  const max = Math.max(0, ...items.map((i) => Number(i.value) || 0)) || 1;
  items.forEach((item, index) => {
    const y = 5 + index * rowHeight;
    const value = Number(item.value) || 0;
    const w = Math.max(value > 0 ? 2 : 0, (value / max) * barSpace);
    const group = svg("g", {}, svg("title", {}, `${item.label}: ${format(value)}`));
    group.append(
      svg("text", { x: labelWidth - 8, y: y + rowHeight / 2 + 5, "text-anchor": "end", "font-size": 13, fill: "#17202b" }, shorten(item.label, 30)),
      svg("rect", { x: labelWidth, y: y + 4, width: w, height: rowHeight - 8, rx: 3, fill: color }),
      svg("text", { x: labelWidth + w + 6, y: y + rowHeight / 2 + 5, "font-size": 13, fill: "#17202b" }, format(value)),
    );
    root.append(group);
  });
  return root;
}

/** Stacked bars per day: rows [{day, series, value}] → {chart, legend: [{name, color}]}. */
export function stackedDays(rows, { label } = {}) {
  const days = [...new Set(rows.map((r) => String(r.day)))].sort();
  const series = [...new Set(rows.map((r) => String(r.series)))].sort();
  const colors = new Map(series.map((s, i) => [s, PALETTE[i % PALETTE.length]]));
  const totals = new Map(days.map((d) => [d, 0]));
  for (const r of rows) totals.set(String(r.day), totals.get(String(r.day)) + (Number(r.value) || 0));
  const max = niceMax(Math.max(0, ...totals.values()));
  const left = 40;
  const top = 10;
  const plotHeight = 200;
  const slot = Math.max(14, Math.min(40, 640 / Math.max(1, days.length)));
  const width = left + slot * days.length + 20;
  const height = top + plotHeight + 40;
  const root = frame(Math.max(width, 320), height, label);
  for (const tick of [0, max / 2, max]) {
    const y = top + plotHeight - (tick / max) * plotHeight;
    root.append(
      svg("line", { x1: left, x2: width - 10, y1: y, y2: y, stroke: "#c9d1dc", "stroke-width": 1 }),
      svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#4a5563" }, String(Math.round(tick * 10) / 10)),
    );
  }
  const labelEvery = Math.ceil(days.length / 10);
  days.forEach((day, index) => {
    const x = left + index * slot + 3;
    let y = top + plotHeight;
    for (const name of series) {
      const value = rows.filter((r) => String(r.day) === day && String(r.series) === name).reduce((a, r) => a + (Number(r.value) || 0), 0);
      if (!value) continue;
      const h = (value / max) * plotHeight;
      y -= h;
      root.append(
        svg("rect", { x, y, width: slot - 6, height: h, fill: colors.get(name) }, svg("title", {}, `${day} · ${name}: ${value}`)),
      );
    }
    if (index % labelEvery === 0) {
      root.append(
        svg("text", { x: x + (slot - 6) / 2, y: top + plotHeight + 16, "text-anchor": "middle", "font-size": 11, fill: "#4a5563" }, day.slice(5)),
      );
    }
  });
  return { chart: root, legend: series.map((name) => ({ name, color: colors.get(name) })) };
}

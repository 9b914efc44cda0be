// Two small charts drawn as SVG, each with its numbers in the markup (`data-values`, and a title
// per bar or point) so that a screen reader, a test and a curious reader can read them.
import { el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** Horizontal bars: `entries` is [{name, count}], as /statistics lists them. */
export function barChart(id, title, entries) {
  const max = Math.max(1, ...entries.map((e) => e.count));
  const rowHeight = 22;
  const chart = svg("svg", { viewBox: `0 0 400 ${Math.max(1, entries.length) * rowHeight}`, role: "img",
    "aria-labelledby": `${id}-title` });
  entries.forEach((entry, index) => {
    const y = index * rowHeight;
    chart.append(svg("g", { class: "bar" },
      svg("title", {}, `${entry.name}: ${entry.count}`),
      svg("rect", { x: 150, y: y + 3, width: Math.max(1, (entry.count / max) * 200), height: rowHeight - 6 }),
      svg("text", { x: 145, y: y + rowHeight / 2 + 4, "text-anchor": "end" }, entry.name.length > 22 ? `${entry.name.slice(0, 21)}…` : entry.name),
      svg("text", { x: 150 + (entry.count / max) * 200 + 4, y: y + rowHeight / 2 + 4 }, String(entry.count))));
  });
  return el("figure", { id, class: "chart", dataset: { values: JSON.stringify(entries.map((e) => [e.name, e.count])) } },
    el("figcaption", { id: `${id}-title` }, title), entries.length ? chart : el("p", {}, "No data yet."));
}

/** A line over time: `xs` are Unix seconds (bin centres), `ys` the values. */
export function lineChart(id, title, xs, ys) {
  const width = 400;
  const height = 140;
  const max = Math.max(...ys.map((y) => y || 0), 1e-9);
  const x = (i) => (xs.length > 1 ? 30 + (i / (xs.length - 1)) * (width - 40) : width / 2);
  const y = (value) => height - 20 - ((value || 0) / max) * (height - 40);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-title` },
    svg("polyline", { points: ys.map((v, i) => `${x(i)},${y(v)}`).join(" "), fill: "none" }),
    ...ys.map((v, i) => svg("circle", { cx: x(i), cy: y(v), r: 3 },
      svg("title", {}, `${new Date(xs[i] * 1000).toISOString().slice(0, 16).replace("T", " ")}: ${round(v)}`))),
    svg("text", { x: 2, y: 14 }, String(round(max))), svg("text", { x: 2, y: height - 20 }, "0"));
  return el("figure", { id, class: "chart", dataset: { values: JSON.stringify(ys) } },
    el("figcaption", { id: `${id}-title` }, title), chart);
}

function round(value) {
  return Math.round((value || 0) * 100) / 100;
}

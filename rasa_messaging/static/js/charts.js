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

/** Horizontal bars: `entries` is [{name, count}], as /statistics lists them; `href(name)` the
 * inbox filtered to one. An HTML list, so that a name is shown whole (wrapped), read out, and a link. */
export function barChart(id, title, entries, href) {
  const max = Math.max(1, ...entries.map((e) => e.count));
  const rows = entries.map((entry) => {
    const bar = el("span", { class: "bar", "aria-hidden": "true" });
    bar.style.width = `${Math.max(0.5, (entry.count / max) * 100)}%`;  // the CSSOM: the page's policy allows no style attribute
    return el("li", { class: "bar" }, el("a", { href: href(entry.name) }, entry.name),
      el("span", { class: "track" }, bar, el("span", { class: "count" }, entry.count.toLocaleString("en"))));
  });
  return el("figure", { id, class: "chart", dataset: { values: JSON.stringify(entries.map((e) => [e.name, e.count])) } },
    el("figcaption", { id: `${id}-title` }, title),
    entries.length ? el("ol", { class: "bars", "aria-labelledby": `${id}-title` }, rows) : el("p", {}, "No data yet."));
}

const utc = (seconds, length = 16) => new Date(seconds * 1000).toISOString().slice(0, length).replace("T", " ");

/** A line over time: `xs` are Unix seconds (bin centres), `ys` the values, `width` of a bin in
 * seconds. A date axis (UTC) below; each bin is a link to the inbox of that time range, its value
 * on hover; points are drawn while there are few enough to tell apart. */
export function lineChart(id, title, xs, ys, binWidth) {
  const width = 400;
  const height = 150;
  const bottom = height - 30;
  const max = Math.max(...ys.map((y) => y || 0), 1e-9);
  const x = (i) => (xs.length > 1 ? 30 + (i / (xs.length - 1)) * (width - 40) : width / 2);
  const y = (value) => bottom - ((value || 0) / max) * (bottom - 20);
  const step = xs.length > 1 ? x(1) - x(0) : width - 40;
  const days = binWidth >= 86400;
  const ticks = [...new Set([0, Math.floor((xs.length - 1) / 2), xs.length - 1])].filter((i) => i >= 0);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "group", "aria-labelledby": `${id}-title` },
    svg("polyline", { points: ys.map((v, i) => `${x(i)},${y(v)}`).join(" "), fill: "none" }),
    ...(xs.length <= 60 ? ys.map((v, i) => svg("circle", { cx: x(i), cy: y(v), r: 3 })) : []),
    ...ys.map((v, i) => {
      const start = xs[i] - binWidth / 2;
      const link = svg("a", { href: `/?start=${start}&until=${start + binWidth}`, class: "bin" },
        svg("title", {}, `${utc(start, days ? 10 : 16)} – ${utc(start + binWidth, days ? 10 : 16)} UTC: ${round(v)}`),
        svg("rect", { x: x(i) - step / 2, y: 0, width: Math.max(step, 1), height: bottom }));
      return link;
    }),
    svg("line", { x1: 30, y1: bottom, x2: width - 10, y2: bottom, class: "axis" }),
    ...ticks.map((i) => svg("text", { x: x(i), y: height - 12, "text-anchor": i === 0 ? "start" : i === xs.length - 1 ? "end" : "middle",
      class: "tick" }, utc(xs[i], days ? 10 : 16))),
    svg("text", { x: 2, y: 14 }, String(round(max))), svg("text", { x: 2, y: bottom }, "0"));
  return el("figure", { id, class: "chart", dataset: { values: JSON.stringify(ys) } },
    el("figcaption", { id: `${id}-title` }, title, el("small", {}, " (UTC; a point or bin opens its conversations)")), chart);
}

function round(value) {
  return Math.round((value || 0) * 100) / 100;
}

/** A flow's funnel: its steps in the order users reach them (/flows/{id}/funnel), each a bar of the
 * episodes that reached it, and the episodes that ended there by outcome; `inbox(status)` is the
 * inbox of the flow's episodes with that outcome (any, for none). */
export function funnelChart(id, funnel, inbox) {
  const max = Math.max(1, funnel.episodes);
  const rows = funnel.steps.map((step) => {
    const bar = el("span", { class: "bar", "aria-hidden": "true" });
    bar.style.width = `${Math.max(0.5, (step.reached / max) * 100)}%`;
    const ended = Object.entries(step.ended_here).filter(([, n]) => n);
    return el("li", { class: "bar", dataset: { step: step.step_id } }, el("code", {}, step.step_id),
      el("span", { class: "track" }, bar, el("a", { class: "count", href: inbox(null) }, `${step.reached.toLocaleString("en")} reached`)),
      ended.length ? el("small", { class: "ended" }, "ended here: ", ended.map(([outcome, n], at) =>
        [at ? ", " : "", el("a", { href: inbox(outcome) }, `${n} ${outcome}`)])) : null);
  });
  return el("figure", { id, class: "chart funnel", dataset: { values: JSON.stringify(funnel.steps.map((s) => [s.step_id, s.reached])) } },
    el("figcaption", { id: `${id}-title` }, "Funnel of ", el("code", {}, funnel.flow_id), ` (${funnel.episodes} episodes)`),
    rows.length ? el("ol", { class: "bars", "aria-labelledby": `${id}-title` }, rows) : el("p", {}, "No episodes in this range."));
}

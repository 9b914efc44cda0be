// The dashboard: /statistics as bar charts and /analytics as time series, with the API's start,
// end and window in the URL.
import { getJson } from "./api.js";
import { barChart, funnelChart, lineChart } from "./charts.js";
import { el, percent, say } from "./ui.js";

// Each list of /statistics, its title, and the inbox filter of one of its names.
const TOP = { top_intents: ["Top intents", "intent"], top_entities: ["Top entities", "entity"],
              top_actions: ["Top actions", "action"], top_policies: ["Top policies", "policies"],
              top_flows: ["Top flows (episodes)", "flow"], top_commands: ["Top commands", "command"],
              top_patterns: ["Top patterns", "pattern"] };
// The flows table's columns: its title, the /flows field, and the inbox's flow_status of it.
const FLOW_COLUMNS = [["Started", "started", null], ["Completed", "completed", "completed"],
                      ["Cancelled", "cancelled", "cancelled"], ["Abandoned", "abandoned", "abandoned"],
                      ["Interrupted", "interrupted", "interrupted"]];
const METRICS = { newUsers: "New users", conversations: "Conversations", total_messages: "Messages",
                  sessions_per_user: "Sessions per user", conversation_length: "Session length (s)",
                  conversation_steps: "User messages per session" };

export async function render(main) {
  document.title = "Dashboard · rasa-messaging";
  const params = new URLSearchParams(location.search);
  const query = Object.fromEntries(["start", "end", "window"].filter((n) => params.get(n)).map((n) => [n, params.get(n)]));
  const field = (name, label, hint) => el("p", {}, el("label", { for: `d-${name}` }, label),
    el("input", { id: `d-${name}`, name, value: params.get(name) ?? "", "aria-describedby": `d-${name}-hint` }),
    el("small", { id: `d-${name}-hint` }, hint));
  const form = el("form", { id: "range", "aria-label": "Time range" },
    field("start", "Start", "ISO-8601 or Unix seconds; empty: the first session"),
    field("end", "End", "as start; empty: the latest event"),
    field("window", "Bin width", "1d, 6h, P1W; empty: 10 bins"),
    el("p", { class: "buttons" }, el("button", { type: "submit" }, "Show")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
    history.pushState(null, "", `/dashboard?${next}`);
    window.dispatchEvent(new Event("popstate"));
  });
  const range = Object.fromEntries(["start", "end"].filter((n) => params.get(n)).map((n) => [n, params.get(n)]));
  const [{ data: statistics }, analytics, flows] = await Promise.all([
    getJson("/statistics"),
    getJson("/analytics", query).catch((error) => ({ error })),
    getJson("/flows", range).catch((error) => ({ error })),
  ]);
  const series = analytics.error ? [el("p", { role: "alert" }, analytics.error.message)]
    : Object.entries(METRICS).map(([metric, title]) => lineChart(`chart-${metric}`, title,
      analytics.data.bin_centers, analytics.data[metric], analytics.data.bin_width));
  main.replaceChildren(
    el("h1", {}, "Dashboard"),
    el("p", { id: "totals" }, `${statistics.user_messages} user messages, ${statistics.bot_messages} bot messages`),
    el("div", { class: "charts" }, Object.entries(TOP).map(([key, [title, filter]]) => barChart(`chart-${key}`, title,
      statistics[key], (name) => `/?${new URLSearchParams({ [filter]: name })}`))),
    el("h2", {}, "Over time"),
    form,
    el("div", { class: "charts" }, series),
    flows.error ? el("p", { role: "alert" }, flows.error.message) : flowsSection(flows.data, params, range));
  say("Dashboard loaded");
}

/** CALM flows: a table of how each went (sorted by completion rate on request, `flows_order` in
 * the URL), every number a link to the inbox filtered to it, and each flow's funnel on demand. */
function flowsSection(flows, params, range) {
  if (!flows.length) return el("section", { id: "flows" }, el("h2", {}, "Flows"), el("p", {}, "No CALM flows in this range."));
  const byRate = params.get("flows_order") === "completion_rate";
  const rows = byRate ? [...flows].sort((a, b) => a.completion_rate - b.completion_rate || a.flow_id.localeCompare(b.flow_id)) : flows;
  const order = new URLSearchParams(params);
  if (byRate) order.delete("flows_order"); else order.set("flows_order", "completion_rate");
  const inbox = (flow, status) => `/?${new URLSearchParams({ flow, ...(status ? { flow_status: status } : {}) })}`;
  const table = el("table", { id: "flows-table" },
    el("caption", {}, "Episodes of each user flow started in the range"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Flow"),
      FLOW_COLUMNS.map(([title]) => el("th", { scope: "col", class: "number" }, title)),
      el("th", { scope: "col", class: "number", "aria-sort": byRate ? "ascending" : "none" },
        el("a", { href: `/dashboard?${order}`, id: "sort-completion" }, "Completion rate", byRate ? " ▲" : "")),
      el("th", { scope: "col", class: "number" }, "Median user messages to completion"))),
    el("tbody", {}, rows.map((flow) => el("tr", { dataset: { flow: flow.flow_id } },
      el("th", { scope: "row" }, el("code", {}, flow.flow_id)),
      FLOW_COLUMNS.map(([, field, status]) => el("td", { class: "number" },
        el("a", { href: inbox(flow.flow_id, status) }, flow[field].toLocaleString("en")))),
      el("td", { class: "number" }, percent(flow.completion_rate)),
      el("td", { class: "number" }, flow.median_user_messages_to_completion ?? "–")))));
  const funnels = rows.map((flow) => {
    const details = el("details", { class: "funnel", dataset: { flow: flow.flow_id } },
      el("summary", {}, "Funnel of ", el("code", {}, flow.flow_id)));
    details.addEventListener("toggle", async () => {
      if (!details.open || details.querySelector("figure")) return;
      const { data } = await getJson(`/flows/${encodeURIComponent(flow.flow_id)}/funnel`, range);
      details.append(funnelChart(`funnel-${flow.flow_id}`, data, (status) => inbox(flow.flow_id, status)));
    });
    return details;
  });
  return el("section", { id: "flows" }, el("h2", {}, "Flows"), el("div", { class: "table-scroll" }, table), funnels);
}

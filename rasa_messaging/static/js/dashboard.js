// The dashboard: /statistics as bar charts and /analytics as time series, with the API's start,
// end and window in the URL.
import { getJson } from "./api.js";
import { barChart, lineChart } from "./charts.js";
import { el, say } from "./ui.js";

// Each list of /statistics, its title, and the inbox filter of one of its names.
const TOP = { top_intents: ["Top intents", "intent"], top_entities: ["Top entities", "entity"],
              top_actions: ["Top actions", "action"], top_policies: ["Top policies", "policies"] };
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
  const [{ data: statistics }, analytics] = await Promise.all([
    getJson("/statistics"),
    getJson("/analytics", query).catch((error) => ({ error })),
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
    el("div", { class: "charts" }, series));
  say("Dashboard loaded");
}

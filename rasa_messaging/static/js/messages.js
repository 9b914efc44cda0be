// The message inbox: user messages not yet annotated, across conversations, grouped by their
// text (GET /core/messages). An annotator works down it by keyboard: `j` / `k` move, `c` confirms
// the predicted intent of the group, `e` opens the intent picker; a selection of groups can be
// confirmed at once. Each annotation applies to every message of the group's text.
import { session, may } from "./app.js";
import { call, conversationPath, getJson } from "./api.js";
import { el, handle, pager, percent, say } from "./ui.js";

const PAGE_SIZE = 50;
const FILTERS = [["intent", "Predicted intents", "comma-separated, any of"], ["maximum_confidence", "Confidence at most", ""],
                 ["model_id", "Model ids", "comma-separated, any of"], ["input_channel", "Input channels", "comma-separated"],
                 ["command", "Commands (CALM)", "comma-separated, any of"], ["text", "Text contains", ""]];

function filterForm(params) {
  const form = el("form", { id: "message-filters", role: "search", "aria-label": "Filter messages" },
    FILTERS.map(([name, label, hint]) => el("p", {}, el("label", { for: `m-${name}` }, label),
      el("input", { id: `m-${name}`, name, value: params.get(name) ?? "", list: name === "intent" ? "known-intents" : null,
        type: name === "maximum_confidence" ? "number" : "text", min: 0, max: 1, step: 0.05 }),
      hint ? el("small", {}, ` ${hint}`) : null)),
    el("p", {}, el("label", { for: "m-order" }, "Order"), el("select", { id: "m-order", name: "order" },
      [["lowest_confidence", "Lowest confidence first"], ["most_frequent", "Most frequent first"]].map(([value, text]) =>
        el("option", { value, selected: params.get("order") === value }, text)))),
    el("p", { class: "buttons" }, el("button", { type: "submit" }, "Filter"), el("a", { href: "/messages", class: "button" }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const field of form.elements) if (field.name && field.value.trim()) next.set(field.name, field.value.trim());
    history.pushState(null, "", `/messages?${next}`);
    window.dispatchEvent(new Event("popstate"));
  });
  return form;
}

/** Annotate groups: each {text, intent}; every message of each text not yet annotated. */
async function annotate(groups) {
  const done = await (await call("/messages/annotations", { method: "POST", body: { groups } })).json();
  say(`${done.messages} message${done.messages === 1 ? "" : "s"} in ${done.conversations} conversation`
    + `${done.conversations === 1 ? "" : "s"} annotated (${done.groups} group${done.groups === 1 ? "" : "s"})`);
}

function row(group, index, onAnnotate) {
  const picker = el("input", { class: "intent-picker", name: "intent", list: "known-intents", value: group.intent ?? "",
    "aria-label": `Intent of “${group.text}”` });
  return el("tr", { tabindex: "0", dataset: { index: String(index) } },
    may("annotate") ? el("td", { class: "select" }, el("input", { type: "checkbox", class: "select",
      "aria-label": `Select “${group.text}”` })) : null,
    el("th", { scope: "row", class: "message" }, group.text),
    el("td", { class: "number", "data-label": "Messages" }, String(group.count)),
    el("td", { "data-label": "Predicted" }, group.intent ? el("code", {}, group.intent) : "–",
      group.commands.length ? el("small", { class: "commands" }, ` ${group.commands.join(", ")}`) : null),
    el("td", { class: group.confidence !== null && group.confidence < 0.5 ? "number low" : "number", "data-label": "Confidence" },
      percent(group.confidence)),
    el("td", { "data-label": "Example" }, el("a", { href: `${conversationPath(group.example.sender_id)}#t-${group.example.timestamp}` },
      group.example.sender_id)),
    may("annotate") ? el("td", { class: "annotate-group" },
      el("button", { type: "button", class: "confirm", disabled: !group.intent,
        onclick: () => onAnnotate([{ text: group.text, intent: group.intent }]) }, "Confirm"),
      el("form", { class: "inline", onsubmit: (event) => {
        event.preventDefault();
        if (picker.value.trim()) return onAnnotate([{ text: group.text, intent: picker.value.trim() }]);
      } }, picker, el("button", { type: "submit" }, "Save"))) : null);
}

export async function render(main, _, focusIndex = 0) {
  document.title = "Messages · rasa-messaging";
  const params = new URLSearchParams(location.search);
  const offset = Number(params.get("offset") || 0);
  const query = Object.fromEntries(params);
  const { data: groups, total } = await getJson("/messages", { ...query, limit: PAGE_SIZE, offset });
  const again = (index) => render(main, _, index);
  const onAnnotate = async (chosen) => {
    const at = Number(document.activeElement?.closest?.("tr")?.dataset.index ?? 0);
    await annotate(chosen);
    await again(at);
  };
  const body = el("tbody", {}, groups.map((group, index) => row(group, index, onAnnotate)));
  const selected = () => [...body.querySelectorAll("input.select:checked")].map((box) => groups[Number(box.closest("tr").dataset.index)]);
  main.replaceChildren(
    el("h1", {}, "Messages to annotate"),
    el("p", {}, "User messages not yet annotated, grouped by their text. An annotation applies to every message of the group."),
    el("details", { open: params.size > 0 }, el("summary", {}, "Filters"), filterForm(params)),
    el("p", { id: "count", "aria-live": "polite" }, `${total} group${total === 1 ? "" : "s"}`),
    may("annotate") ? el("p", { class: "shortcuts" }, "Keys: ", el("kbd", {}, "j"), " next, ", el("kbd", {}, "k"), " previous, ",
      el("kbd", {}, "c"), " confirm the predicted intent, ", el("kbd", {}, "e"), " pick another intent, ",
      el("kbd", {}, "x"), " select.") : null,
    may("annotate") ? el("p", {}, el("button", { type: "button", id: "confirm-selected", onclick: () => {
      const chosen = selected().filter((group) => group.intent);
      if (!chosen.length) return say("Select groups with a predicted intent first");
      return onAnnotate(chosen.map((group) => ({ text: group.text, intent: group.intent })));
    } }, "Confirm selected")) : null,
    el("div", { class: "scroll" }, el("table", { id: "message-groups" },
      el("thead", {}, el("tr", {}, (may("annotate") ? ["", "Text", "Messages", "Predicted", "Lowest confidence", "Example", "Annotate"]
        : ["Text", "Messages", "Predicted", "Lowest confidence", "Example"]).map((name) => el("th", { scope: "col" }, name)))),
      body)),
    pager(offset, PAGE_SIZE, groups.length, total));
  getJson("/conversationIntents").then(({ data }) => main.append(el("datalist", { id: "known-intents" },
    data.map((name) => el("option", { value: name }))))).catch(() => {});
  body.children[Math.min(focusIndex, body.children.length - 1)]?.focus();
  say(`${total} groups of messages to annotate${session.name ? `, ${session.name}` : ""}`);
}

document.addEventListener("keydown", handle((event) => {
  const table = document.getElementById("message-groups");
  if (!table || !may("annotate") || event.ctrlKey || event.metaKey || event.altKey) return;
  if (["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName) || document.querySelector("dialog[open]")) return;
  const rows = [...table.tBodies[0].rows];
  const current = document.activeElement?.closest?.("tr");
  const at = rows.indexOf(current);
  const actions = {
    j: () => rows[Math.min(at + 1, rows.length - 1)]?.focus(),
    k: () => rows[Math.max(at - 1, 0)]?.focus(),
    c: () => current?.querySelector("button.confirm:not([disabled])")?.click(),
    e: () => { const picker = current?.querySelector("input.intent-picker"); picker?.focus(); picker?.select(); },
    x: () => { const box = current?.querySelector("input.select"); if (box) box.checked = !box.checked; },
  };
  if (actions[event.key]) {
    event.preventDefault();
    return actions[event.key]();
  }
}));

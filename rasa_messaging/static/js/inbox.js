// The inbox: conversations newest first, filtered by every filter of getConversations. The URL's
// query string is the API's own parameters, so a filtered view is a link to share.
import { conversationPath, getJson } from "./api.js";
import { el, pager, percent, say, showError, when } from "./ui.js";
import { bulkBar } from "./bulk.js";
import { remember } from "./worklist.js";
import { may } from "./app.js";

export const PAGE_SIZE = 25;
// The lists of known values each filter offers: datalist id → the API path that lists them.
const VOCABULARIES = { intents: "/conversationIntents", entities: "/conversationEntities",
                       actions: "/conversationActions", policies: "/conversationPolicies", tags: "/tags",
                       flows: "/conversationFlows", patterns: "/conversationPatterns",
                       commands: "/conversationCommands", models: "/conversationModels", people: "/users" };

function textFilter(name, label, hint, list) {
  return el("p", {}, el("label", { for: `f-${name}` }, label),
    el("input", { id: `f-${name}`, name, list, "aria-describedby": hint ? `h-${name}` : null }),
    hint ? el("small", { id: `h-${name}` }, hint) : null);
}

function choice(name, label, options) {
  return el("p", {}, el("label", { for: `f-${name}` }, label),
    el("select", { id: `f-${name}`, name }, options.map(([value, text]) => el("option", { value }, text))));
}

function filterForm() {
  const yesNo = (yes, no) => [["", "Any"], ["true", yes], ["false", no]];
  return el("form", { id: "filters", role: "search", "aria-label": "Filter conversations" },
    textFilter("intent", "Intents", "comma-separated, any of", "intents"),
    textFilter("entity", "Entities", "comma-separated, any of", "entities"),
    textFilter("action", "Actions", "comma-separated, any of", "actions"),
    textFilter("policies", "Policies", "comma-separated, any of", "policies"),
    textFilter("tags", "Tags", "comma-separated, any of", "tags"),
    textFilter("assignee", "Assigned to", "comma-separated people, any of; me: you", "people"),
    textFilter("reviewed_by", "Reviewed by", "comma-separated people, any of; me: you", "people"),
    textFilter("input_channel", "Input channels", "comma-separated, any of (rest, socketio, facebook, ...)"),
    textFilter("flow", "CALM flows", "comma-separated, any of", "flows"),
    choice("flow_status", "Flow status", [["", "Any"], ["completed", "Completed"], ["cancelled", "Cancelled"],
      ["abandoned", "Abandoned"], ["interrupted", "Interrupted"]]),
    textFilter("pattern", "Patterns", "comma-separated, any of", "patterns"),
    textFilter("command", "Commands", "comma-separated, any of (start flow, set slot, cancel flow, ...)", "commands"),
    textFilter("model_id", "Model ids", "comma-separated, any of", "models"),
    textFilter("text", "Text in a user message"),
    el("p", {}, el("label", { for: "f-maximumConfidence" }, "Lowest confidence at most"),
      el("input", { id: "f-maximumConfidence", name: "maximumConfidence", type: "number", min: 0, max: 1, step: 0.05 })),
    el("p", {}, el("label", { for: "f-minimumUserMessages" }, "At least this many user messages"),
      el("input", { id: "f-minimumUserMessages", name: "minimumUserMessages", type: "number", min: 0, step: 1 })),
    el("p", {}, el("label", { for: "f-start" }, "Active since (UTC)"),
      el("input", { id: "f-start", name: "start", type: "datetime-local", "data-unix": "" })),
    el("p", {}, el("label", { for: "f-until" }, "Active until (UTC)"),
      el("input", { id: "f-until", name: "until", type: "datetime-local", "data-unix": "" })),
    choice("in_training_data", "In training data", yesNo("In training data", "Not in training data")),
    choice("reviewed", "Reviewed", yesNo("Reviewed", "Not reviewed")),
    choice("annotated", "Annotated", yesNo("With an annotated message", "Without annotations")),
    choice("order", "Order", [["", "Latest activity first"], ["lowest_confidence", "Lowest confidence first"],
      ["sender", "By sender"]]),
    el("p", { class: "check" }, el("input", { id: "f-is_flagged", name: "is_flagged", type: "checkbox", value: "true" }),
      el("label", { for: "f-is_flagged" }, "Only conversations with a flagged message")),
    el("p", { class: "buttons" }, el("button", { type: "submit" }, "Filter"),
      el("a", { href: "/", class: "button" }, "Clear")));
}

/** The URL's parameters shown in the form (Unix seconds as a date and time in UTC, as every
 * list shows times). */
function fillForm(form, params) {
  for (const field of form.elements) {
    if (!field.name) continue;
    const value = params.get(field.name);
    if (field.type === "checkbox") field.checked = value === "true";
    else if (field.dataset.unix !== undefined) field.value = value ? new Date(Number(value) * 1000).toISOString().slice(0, 16) : "";
    else field.value = value ?? "";
  }
}

/** A `datetime-local` value read as UTC: `2026-09-01T10:00` → Unix seconds. */
const utcSeconds = (value) => Date.parse(`${value}Z`) / 1000;

/** The form as the API's parameters, without empty ones. */
function formParams(form) {
  const params = new URLSearchParams();
  for (const field of form.elements) {
    if (!field.name || (field.type === "checkbox" && !field.checked)) continue;
    const value = field.dataset.unix !== undefined && field.value ? String(utcSeconds(field.value))
      : field.value.trim();
    if (value) params.set(field.name, value);
  }
  return params;
}

// The columns, and the API's `order` each sorts by (a link in its header).
const COLUMNS = [["Sender", "sender"], ["Latest activity", "latest"], ["User messages", null],
                 ["Lowest confidence", "lowest_confidence"], ["Status", null], ["Latest user message", null]];
const SORTED = { sender: "ascending", latest: "descending", lowest_confidence: "ascending" };

function withOrder(params, order) {
  const next = new URLSearchParams(params);
  next.delete("offset");
  if (order === "latest") next.delete("order");
  else next.set("order", order);
  return `/?${next}`;
}

function row(conversation) {
  const status = [
    conversation.flagged_messages.length ? el("span", { class: "badge flag" }, `${conversation.flagged_messages.length} flagged`) : null,
    conversation.reviewed ? el("span", { class: "badge ok" },
      conversation.reviewed_by ? `reviewed by ${conversation.reviewed_by}` : "reviewed") : null,
    conversation.assignee ? el("span", { class: "badge assignee" }, `→ ${conversation.assignee}`) : null,
    ...conversation.tags.map((tag) => el("span", { class: "badge" }, tag)),
  ];
  const confidence = conversation.minimum_action_confidence;
  return el("tr", { dataset: { sender: conversation.sender_id } },
    el("th", { scope: "row" }, el("a", { href: conversationPath(conversation.sender_id) }, conversation.sender_id),
      (conversation.input_channels || []).length ? el("small", { class: "channels" }, ` ${conversation.input_channels.join(", ")}`) : null,
      (conversation.flows || []).length ? el("small", { class: "flows" }, ` flows: ${conversation.flows.join(", ")}`) : null),
    el("td", { "data-label": "Latest activity" }, when(conversation.latest_event_time)),
    el("td", { class: "number", "data-label": "User messages" }, String(conversation.n_user_messages)),
    el("td", { class: confidence !== null && confidence < 0.5 ? "number low" : "number", "data-label": "Lowest confidence" },
      percent(confidence)),
    el("td", { "data-label": "Status" }, status),
    el("td", { class: "message", "data-label": "Latest user message" }, conversation.latest_message ?? ""));
}

export async function render(main) {
  const params = new URLSearchParams(location.search);
  const offset = Number(params.get("offset") || 0);
  const limit = Number(params.get("limit") || PAGE_SIZE);
  document.title = "Inbox · rasa-messaging";
  const form = filterForm();
  fillForm(form, params);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    history.pushState(null, "", `/?${formParams(form)}`);
    window.dispatchEvent(new Event("popstate"));
  });
  const query = Object.fromEntries(params);
  const [{ data: conversations, total }, { total: reviewed }] = await Promise.all([
    getJson("/conversations", { ...query, limit, offset }),
    getJson("/conversations", { ...query, reviewed: "true", limit: 0, offset: 0 })]);
  remember(location.search, offset, limit, total, conversations);
  const shown = conversations.length ? `${offset + 1}–${offset + conversations.length} of ${total}` : `0 of ${total}`;
  const table = el("table", { id: "inbox" },
    el("caption", { class: "visually-hidden" }, `Conversations ${shown}`),
    el("thead", {}, el("tr", {}, COLUMNS.map(([name, order]) => el("th", { scope: "col",
      "aria-sort": order && (params.get("order") || "latest") === order ? SORTED[order] : null },
      order ? el("a", { href: withOrder(params, order) }, name) : name)))),
    el("tbody", {}, conversations.map(row)));
  const filter = { ...query };  // every conversation matching it, for "select all"
  delete filter.offset;
  delete filter.limit;
  const bar = conversations.length && may("review") ? bulkBar(table, filter, total, () => render(main)) : null;
  const queue = params.get("assignee") === "me";
  main.replaceChildren(
    el("h1", {}, queue ? "My queue" : "Conversations"),
    el("details", { open: params.size > 0 || window.innerWidth > 900 }, el("summary", {}, "Filters"), form),
    el("p", { id: "count", "aria-live": "polite" }, shown),
    el("p", { id: "progress" }, el("progress", { max: total || 1, value: reviewed, "aria-labelledby": "progress-text" }),
      el("span", { id: "progress-text" }, ` ${reviewed.toLocaleString("en")} of ${total.toLocaleString("en")} reviewed`),
      queue ? el("small", {}, " · ", el("kbd", {}, "r"), " in a conversation: reviewed, and on to the next of your queue") : null),
    bar,
    el("div", { class: "scroll" }, table),
    pager(offset, limit, conversations.length, total));
  say(`${total} conversations`);
  // The filters' suggestions come after the list; one that fails is said, unless the reviewer has
  // left the inbox meanwhile (leaving aborts it).
  for (const [id, path] of Object.entries(VOCABULARIES)) {
    getJson(path).then(({ data }) => main.append(el("datalist", { id },
      data.map((item) => el("option", { value: typeof item === "string" ? item : item.name })))))
      .catch((error) => { if (form.isConnected) showError(error); });
  }
}

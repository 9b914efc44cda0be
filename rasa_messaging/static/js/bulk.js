// Bulk review from the inbox: select rows, or every conversation matching the filter, then tag
// them, mark them reviewed or take the mark away. One API request per conversation, a few at a
// time, with progress on the status line; past ASK_PAST conversations the reviewer confirms first.
import { call, conversationPath, getJson } from "./api.js";
import { confirmAction, el, say } from "./ui.js";

const ASK_PAST = 300;
const AT_ONCE = 4;
const PAGE = 1000;

const ACTIONS = {
  tag: (sender, tag) => call(conversationPath(sender, `/tags/${encodeURIComponent(tag)}`), { method: "PUT" }),
  review: (sender) => call(conversationPath(sender, "/reviewed"), { method: "PUT" }),
  unreview: (sender) => call(conversationPath(sender, "/reviewed"), { method: "DELETE" }),
};
const DONE = { tag: "tagged", review: "marked reviewed", unreview: "unmarked" };

/** Every sender matching the inbox's filter, read a page of PAGE at a time. */
async function allMatching(query, total) {
  const senders = [];
  for (let offset = 0; offset < total; offset += PAGE) {
    const { data } = await getJson("/conversations", { ...query, limit: PAGE, offset });
    senders.push(...data.map((c) => c.sender_id));
  }
  return senders;
}

/** The bar above the inbox's table, and a checkbox for each row. `onDone` reloads the list. */
export function bulkBar(table, query, total, onDone) {
  let everything = false;
  const boxes = () => [...table.querySelectorAll("tbody input.select")];
  const selected = () => boxes().filter((box) => box.checked).map((box) => box.value);
  const count = el("span", { id: "selected-count" }, "0 selected");
  const all = el("button", { type: "button", id: "select-matching", hidden: true }, `Select all ${total} matching this filter`);
  const update = () => {
    everything = everything && boxes().every((box) => box.checked);
    count.textContent = everything ? `All ${total} matching selected` : `${selected().length} selected`;
    all.hidden = everything || selected().length !== boxes().length || total <= boxes().length;
  };
  all.addEventListener("click", () => { everything = true; update(); });
  const tagInput = el("input", { id: "bulk-tag", name: "tag", pattern: "[A-Za-z0-9][A-Za-z0-9_.:\\-]{0,63}",
    "aria-label": "Tag for the selected conversations" });

  /** Assign the selection (or everything matching) to the chosen people, split evenly: one request. */
  async function assign() {
    const names = [...peopleSelect.selectedOptions].map((option) => option.value).filter(Boolean);
    const body = { assignees: names };
    if (!everything) {
      if (!selected().length) return say("Select conversations first");
      body.sender_ids = selected();
    }
    const filter = { ...query };  // the list's filters; its order is the list's, not the assignment's
    for (const name of ["order", "sort_by_confidence", "sort_by_latest_event_time"]) delete filter[name];
    const done = await (await call("/assignments", { method: "POST", query: everything ? filter : {}, body })).json();
    await onDone();
    say(names.length ? `Assigned: ${Object.entries(done.assigned).map(([name, n]) => `${n} to ${name}`).join(", ") || "no change"}`
      : `${done.unassigned} unassigned`);
  }
  const peopleSelect = el("select", { id: "bulk-assignees", multiple: true, "aria-label": "Assign to (several: split evenly)" });
  getJson("/users").then(({ data }) => peopleSelect.replaceChildren(...data.map((person) =>
    el("option", { value: person.name }, person.name)))).catch(() => {});

  async function run(action, argument) {
    const senders = everything ? await allMatching(query, total) : selected();
    if (!senders.length) return say("Select conversations first");
    if (senders.length > ASK_PAST && !(await confirmAction(
      `This changes ${senders.length} conversations, one request each. Go on?`))) return;
    let done = 0;
    const queue = [...senders];
    await Promise.all(Array.from({ length: AT_ONCE }, async () => {
      while (queue.length) {
        await ACTIONS[action](queue.shift(), argument);
        done += 1;
        say(`${done} of ${senders.length} ${DONE[action]}`);
      }
    }));
    await onDone();
    say(`${senders.length} conversation${senders.length === 1 ? "" : "s"} ${DONE[action]}${action === "tag" ? ` ${argument}` : ""}`);
  }

  table.querySelector("thead tr").prepend(el("th", { scope: "col" }, el("input", {
    type: "checkbox", id: "select-page", "aria-label": "Select every conversation of this page",
    onchange: (event) => { for (const box of boxes()) box.checked = event.target.checked; update(); } })));
  for (const row of table.querySelectorAll("tbody tr")) {
    row.prepend(el("td", { class: "select" }, el("input", { type: "checkbox", class: "select", value: row.dataset.sender,
      "aria-label": `Select ${row.dataset.sender}`, onchange: update })));
  }
  return el("form", { id: "bulk", "aria-label": "Change the selected conversations",
    onsubmit: (event) => { event.preventDefault(); if (tagInput.reportValidity() && tagInput.value) return run("tag", tagInput.value); } },
    count, all,
    el("label", { for: "bulk-tag" }, "Tag"), tagInput, el("button", { type: "submit" }, "Tag them"),
    el("button", { type: "button", id: "bulk-review", onclick: () => run("review") }, "Mark reviewed"),
    el("button", { type: "button", id: "bulk-unreview", onclick: () => run("unreview") }, "Unmark reviewed"),
    el("label", { for: "bulk-assignees" }, "Assign to"), peopleSelect,
    el("button", { type: "button", id: "bulk-assign", onclick: assign }, "Assign"));
}

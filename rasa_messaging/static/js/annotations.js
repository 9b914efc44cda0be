// The annotations: every corrected or confirmed user message, newest first, and the NLU data
// they make (GET /core/training-data/nlu.yml).
import { conversationPath, download, getJson } from "./api.js";
import { el, pager, say, when } from "./ui.js";

const PAGE_SIZE = 50;

export async function render(main) {
  document.title = "Annotations · rasa-messaging";
  const offset = Number(new URLSearchParams(location.search).get("offset") || 0);
  const { data: annotations, total } = await getJson("/annotations", { limit: PAGE_SIZE, offset });
  main.replaceChildren(
    el("h1", {}, "Annotations"),
    el("p", {}, el("button", { type: "button", onclick: () => download("/training-data/nlu.yml") },
      "Download nlu.yml"), " Rasa 3 NLU data from these annotations."),
    el("p", { id: "count" }, `${total} annotated messages`),
    el("div", { class: "scroll" }, el("table", { id: "annotations" },
      el("thead", {}, el("tr", {}, ["Annotated", "By", "Conversation", "Message", "Predicted", "Annotated intent", "Entities"]
        .map((name) => el("th", { scope: "col" }, name)))),
      el("tbody", {}, annotations.map((a) => el("tr", {},
        el("td", {}, when(a.annotated_at)),
        el("td", {}, a.annotated_by ?? ""),
        el("th", { scope: "row" }, el("a", { href: `${conversationPath(a.sender_id)}#t-${a.timestamp}` }, a.sender_id)),
        el("td", { class: "message" }, a.text ?? ""),
        el("td", {}, a.predicted_intent ?? ""),
        el("td", {}, el("code", {}, a.intent)),
        el("td", {}, a.entities === null ? "as predicted"
          : a.entities.map((e) => `${e.entity}: ${(a.text || "").slice(e.start, e.end)}`).join(", "))))))),
    pager(offset, PAGE_SIZE, annotations.length, total));
  say(`${total} annotations`);
}

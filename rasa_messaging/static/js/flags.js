// The flag queue: every flagged message with its note, newest flag first, linking to its place in
// the transcript.
import { conversationPath, getJson } from "./api.js";
import { el, pager, say, when } from "./ui.js";

const PAGE_SIZE = 50;

export async function render(main) {
  document.title = "Flags · rasa-messaging";
  const params = new URLSearchParams(location.search);
  const offset = Number(params.get("offset") || 0);
  const resolved = params.get("resolved") === "true";
  const { data: flags, total } = await getJson("/flags", { limit: PAGE_SIZE, offset, resolved: String(resolved) });
  main.replaceChildren(
    el("h1", {}, resolved ? "Resolved flags" : "Flagged messages"),
    el("p", { id: "count" }, `${total} ${resolved ? "resolved" : "flagged"} · `,
      resolved ? el("a", { href: "/flags" }, "Show the open flags") : el("a", { href: "/flags?resolved=true" }, "Show the resolved ones")),
    el("div", { class: "scroll" }, el("table", { id: "flags" },
      el("thead", {}, el("tr", {}, ["Flagged", "By", "Conversation", "Message", "Intent", "Note"].map((name) =>
        el("th", { scope: "col" }, name)))),
      el("tbody", {}, flags.map((flag) => el("tr", {},
        el("td", { "data-label": "Flagged" }, when(flag.flagged_at)),
        el("td", { "data-label": "By" }, flag.flagged_by ?? ""),
        el("th", { scope: "row" }, el("a", { href: `${conversationPath(flag.sender_id)}#t-${flag.timestamp}` },
          flag.sender_id)),
        el("td", { class: "message", "data-label": "Message" }, flag.text ?? `(${flag.event})`),
        el("td", { "data-label": "Intent" }, flag.intent ?? ""),
        el("td", { "data-label": "Note" }, flag.note ?? "")))))),
    pager(offset, PAGE_SIZE, flags.length, total));
  say(`${total} flagged messages`);
}

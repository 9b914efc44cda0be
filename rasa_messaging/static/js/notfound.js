// A URL of this server that is no view of the page: said in the page, with the way back.
import { el } from "./ui.js";
import { inboxLink } from "./worklist.js";

export async function render(main) {
  document.title = "Not found · rasa-messaging";
  main.replaceChildren(el("h1", {}, "No such page"),
    el("p", {}, el("code", {}, location.pathname), " is none of this page's views. ", el("a", { href: inboxLink() }, "Go to the inbox")));
}

// The page's router: the URL says which view is shown and, for the inbox, which filters.
import { getJson, signOut } from "./api.js";
import { el, navigate, showError } from "./ui.js";
import { showInboxLink } from "./worklist.js";

const VIEWS = [
  [/^\/$/, "inbox"],
  [/^\/flags$/, "flags"],
  [/^\/annotations$/, "annotations"],
  [/^\/dashboard$/, "dashboard"],
  [/^\/messages$/, "messages"],
  [/^\/conversations\/(.+)$/, "transcript"],
];

// Who is reading (GET /session): the page offers only what their role may do (`may`).
export const session = { name: null, role: "open", scopes: ["read", "review", "annotate", "admin", "ingest"], queue: null };
export const may = (scope) => session.scopes.includes(scope);

const ROLE_WORDS = { admin: "admin", reviewer: "reviewer", annotator: "annotator", viewer: "viewer", ingest: "ingestion" };

/** The header greets the person (or says which unnamed token this is), with "My queue" for a
 * named person and a way to sign out where a token was given. */
function greet() {
  const queue = document.querySelector("nav a[data-view='queue']");
  queue.hidden = !session.name;
  const who = document.getElementById("who");
  if (session.role === "open") return who.replaceChildren();
  who.replaceChildren(...(session.name ? ["Signed in as ", el("strong", {}, session.name), ` (${ROLE_WORDS[session.role]})`]
    : [`Signed in with the server's ${session.role === "admin" ? "token" : "review token"}`]),
  " ", el("button", { type: "button", id: "sign-out", onclick: signOut }, "Sign out"));
}

async function show() {
  const main = document.getElementById("main");
  document.getElementById("status").textContent = "";  // what was said was said of the view before
  showInboxLink();
  const match = VIEWS.map(([pattern, name]) => [location.pathname.match(pattern), name]).find(([m]) => m);
  const [found, name] = match || [null, "notfound"];
  const inQueue = name === "inbox" && new URLSearchParams(location.search).get("assignee") === "me";
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === (inQueue ? "queue" : name)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    const view = await import(`./${name}.js`);
    await view.render(main, found && found[1] ? decodeURIComponent(found[1]) : null);
  } catch (error) {
    showError(error);
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='/']");
  if (!link || link.getAttribute("href").startsWith("/core") || event.ctrlKey || event.metaKey || link.download) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", show);

getJson("/session").then(({ data }) => { Object.assign(session, data); greet(); }).catch(showError).finally(show);

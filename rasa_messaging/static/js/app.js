// The page's router: the URL says which view is shown and, for the inbox, which filters.
import { getJson } from "./api.js";
import { navigate, showError } from "./ui.js";
import { showInboxLink } from "./worklist.js";

const VIEWS = [
  [/^\/$/, "inbox"],
  [/^\/flags$/, "flags"],
  [/^\/annotations$/, "annotations"],
  [/^\/dashboard$/, "dashboard"],
  [/^\/conversations\/(.+)$/, "transcript"],
];

export const session = { role: "open", scopes: ["review", "ingest"] };

async function show() {
  const main = document.getElementById("main");
  document.getElementById("status").textContent = "";  // what was said was said of the view before
  showInboxLink();
  const match = VIEWS.map(([pattern, name]) => [location.pathname.match(pattern), name]).find(([m]) => m);
  const [found, name] = match || [null, "notfound"];
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
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

getJson("/session").then(({ data }) => Object.assign(session, data)).catch(showError).finally(show);

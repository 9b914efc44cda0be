// Small helpers the views share: building elements, dates, status messages, confirmation.

/** el("a", {href: "/"}, "text", child): an element with attributes (on* become listeners, see `handle`). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), handle(value));
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined));
  return element;
}

export function when(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function percent(confidence) {
  return confidence === null || confidence === undefined ? "–" : `${Math.round(confidence * 100)}%`;
}

export function say(message) {
  document.getElementById("status").textContent = message;
}

export function showError(error) {
  say(`Error: ${error.message}`);
}

/** A listener that shows its failure (a refused or unreachable API call) on the status line: a
 * reviewer's click must never fail silently, as an unhandled rejection would. */
export function handle(listener) {
  return (event) => { new Promise((resolve) => resolve(listener(event))).catch(showError); };
}

export function confirmAction(text) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}

/** Go to another view of the page without reloading it. */
export function navigate(url) {
  history.pushState(null, "", url);
  window.dispatchEvent(new Event("popstate"));
}

/** Previous / next page links for a list whose URL holds `offset` (and its other parameters). */
export function pager(offset, limit, shown, total) {
  const link = (value, text) => {
    const next = new URLSearchParams(location.search);
    next.set("offset", String(value));
    return el("a", { href: `${location.pathname}?${next}`, class: "button" }, text);
  };
  return el("nav", { "aria-label": "Pages", class: "pages" },
    offset > 0 ? link(Math.max(0, offset - limit), "Previous page") : null,
    offset + shown < total ? link(offset + limit, "Next page") : null);
}

export const LOW_CONFIDENCE = 0.5;
export const MEMORISING_POLICIES = ["MemoizationPolicy", "AugmentedMemoizationPolicy", "RulePolicy"];

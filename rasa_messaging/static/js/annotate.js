// Correcting a user message's prediction: pick the intent from the known ones (or type a new one),
// select text to mark it as an entity, save; or confirm the prediction as it is.
import { call, conversationPath, getJson } from "./api.js";
import { el, handle, say } from "./ui.js";

let knownIntents = null;
// The API's rule for an intent (openapi.yaml, AnnotationBody), to say in words before it is sent.
const INTENT_NAME = /^[^\s\x00-\x1f\x7f-\x9f{}[\]()"'/][^\s\x00-\x1f\x7f-\x9f{}[\]()"']{0,127}$/;
const INTENT_RULE = "An intent is one word: no spaces, quotes or brackets; “/” only inside, as in faq/ask_name.";

async function intents() {
  knownIntents ??= (await getJson("/conversationIntents")).data;
  return knownIntents;
}

/** The annotation form for `event`, a user message; `annotation` is its current one, if any. */
export async function annotationForm(senderId, event, annotation, onSaved) {
  const path = conversationPath(senderId, `/messages/${event.timestamp}/annotation`);
  const text = event.text ?? "";
  const id = `a-${String(event.timestamp).replace(".", "-")}`;
  let entities = annotation?.entities ?? (event.parse_data?.entities || [])
    .filter((e) => Number.isInteger(e.start) && Number.isInteger(e.end))
    .map(({ entity, start, end, value, role, group }) => ({ entity, start, end, value, role, group }));
  const plain = el("p", { class: "annotate-text", id: `${id}-text`, "aria-describedby": `${id}-text-help` }, text);
  const list = el("ul", { class: "entities", "aria-label": "Entities" });
  const showEntities = () => list.replaceChildren(...entities.map((e, index) => el("li", {},
    `${e.entity}: “${text.slice(e.start, e.end)}”`,
    el("button", { type: "button", "aria-label": `Remove entity ${e.entity}`,
      onclick: () => { entities = entities.filter((_, i) => i !== index); showEntities(); } }, "×"))));
  showEntities();
  const intentInput = el("input", { id: `${id}-intent`, name: "intent", list: `${id}-intents`, required: true,
    value: annotation?.intent ?? event.parse_data?.intent?.name ?? "", "aria-describedby": `${id}-intent-rule` });
  const entityInput = el("input", { id: `${id}-entity`, name: "entity" });
  // The last text selected in the message: kept, since focusing the entity name or the button
  // may clear the page's selection.
  let selected = null;
  const remember = () => {
    if (!plain.isConnected) return document.removeEventListener("selectionchange", remember);
    const selection = window.getSelection();
    if (!selection.rangeCount || !plain.contains(selection.anchorNode)) return;
    const range = selection.getRangeAt(0);
    if (!range.collapsed) selected = [range.startOffset, range.endOffset];
  };
  document.addEventListener("selectionchange", remember);
  const markSelection = () => {
    const name = entityInput.value.trim();
    if (!selected || !name) {
      say("Select text of the message above and name its entity");
      return;
    }
    const [start, end] = selected;
    entities = [...entities.filter((e) => e.end <= start || e.start >= end), { entity: name, start, end }]
      .sort((a, b) => a.start - b.start);
    selected = null;
    showEntities();
  };
  const form = el("form", { class: "annotate", "aria-label": "Correct the prediction" },
    el("p", { id: `${id}-text-help`, class: "help" }, "To mark an entity, select its words in the message below, ",
      "name the entity, and press “Mark selected text”."),
    el("p", { class: "annotate-label" }, "The message:"),
    plain,
    el("p", {}, el("label", { for: `${id}-intent` }, "Correct intent"), intentInput,
      el("small", { id: `${id}-intent-rule` }, ` ${INTENT_RULE}`),
      el("datalist", { id: `${id}-intents` }, (await intents()).map((name) => el("option", { value: name })))),
    list,
    el("p", {}, el("label", { for: `${id}-entity` }, "Entity name for the selected text"), entityInput,
      el("button", { type: "button", class: "mark", onclick: markSelection }, "Mark selected text")),
    el("p", { class: "buttons" }, el("button", { type: "submit" }, "Save annotation"),
      annotation ? el("button", { type: "button", class: "danger", onclick: async () => {
        await call(path, { method: "DELETE" });
        say("Annotation removed");
        onSaved(null);
      } }, "Remove annotation") : null));
  intentInput.addEventListener("input", () => intentInput.setCustomValidity(""));
  form.addEventListener("submit", handle(async (submitted) => {
    submitted.preventDefault();
    if (!INTENT_NAME.test(intentInput.value.trim())) {  // said in words, not as the API's pattern
      intentInput.setCustomValidity(INTENT_RULE);
      intentInput.reportValidity();
      say(INTENT_RULE);
      return;
    }
    const body = { intent: intentInput.value.trim(),
      entities: entities.map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined && v !== null))) };
    const saved = await (await call(path, { method: "PUT", body })).json();
    say(`Annotated as ${saved.intent}`);
    onSaved(saved);
  }));
  return form;
}

/** Confirm the prediction of `event` as it is (its intent; its entities as predicted). */
export async function confirmPrediction(senderId, event) {
  const intent = event.parse_data?.intent?.name;
  if (!intent) return null;
  const path = conversationPath(senderId, `/messages/${event.timestamp}/annotation`);
  const saved = await (await call(path, { method: "PUT", body: { intent } })).json();
  say(`Confirmed ${intent}`);
  return saved;
}

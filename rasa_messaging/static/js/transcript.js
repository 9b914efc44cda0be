// One conversation as a reviewer reads it: opened at its end, paged back on demand (the API's
// `limit` + `until`), with flags, notes, tags, the review mark, the dumps and erasure.
import { may, session } from "./app.js";
import { annotationForm, confirmPrediction } from "./annotate.js";
import { call, conversationPath, download, getJson } from "./api.js";
import { LOW_CONFIDENCE, MEMORISING_POLICIES, confirmAction, el, handle, navigate, percent, say, when } from "./ui.js";
import { inboxLink, neighbour, nextToReview } from "./worklist.js";

export const EVENTS_PER_PAGE = 100;
// CALM: the events that end a sub-agent's block, the flow events shown as dividers, and what a
// bot's text came from (the bot event's `utter_source`, Rasa Pro's name of what wrote it).
const AGENT_ENDS = ["agent_completed", "agent_cancelled", "agent_interrupted"];
const FLOW_DIVIDERS = { flow_started: "started", flow_interrupted: "interrupted", flow_resumed: "resumed",
                        flow_completed: "completed", flow_cancelled: "cancelled" };
const QUIET = ["stack", "user_featurization"];  // the stack is shown on demand, from the API
function textSource(source) {
  if (/search|knowledge/i.test(source)) return "knowledge search";
  if (/rephras/i.test(source)) return "rephrased";
  if (/templat/i.test(source)) return "response template";
  if (/agent/i.test(source)) return "sub-agent";
  return source;
}
const TAG_RULE = "A tag is one word of letters, digits and _ . : - (no spaces), up to 64 characters.";

// Stored events are whatever a bot sent: a field may have another type than Rasa's. These read
// a field as what the page needs, or as nothing.
const asText = (value) => (typeof value === "string" ? value : value === null || value === undefined ? "" : JSON.stringify(value));
const objectsIn = (value) => (Array.isArray(value) ? value.filter((item) => item !== null && typeof item === "object") : []);

/** A user text with its entities marked (`start`/`end` from Rasa's NLU). */
function markedText(text, entities) {
  const spans = objectsIn(entities).filter((e) => Number.isInteger(e.start) && Number.isInteger(e.end) && e.end <= text.length)
    .sort((a, b) => a.start - b.start);
  const parts = [];
  let cursor = 0;
  for (const entity of spans) {
    if (entity.start < cursor) continue;  // overlapping spans: the first wins
    parts.push(text.slice(cursor, entity.start));
    parts.push(el("mark", { title: `${entity.entity}${entity.value !== undefined ? ` = ${entity.value}` : ""}` },
      text.slice(entity.start, entity.end), el("span", { class: "entity" }, entity.entity)));
    cursor = entity.end;
  }
  parts.push(text.slice(cursor));
  return parts;
}

/** Each bot message mapped to the action that uttered it: the last action before it in its turn. */
function utterances(events) {
  const uttered = new Map();
  let action = null;
  for (const event of events) {
    if (event.event === "action" && event.name !== "action_listen") action = event;
    else if (event.event === "user") action = null;
    else if (event.event === "bot" && action) { uttered.set(event, action); action = null; }
  }
  return uttered;
}

/** An action with its policy and confidence (on the bot's bubble, or as a line of its own). */
function actionLine(event, tag, kind) {
  const unsure = (event.confidence ?? 1) < LOW_CONFIDENCE;
  const policy = asText(event.policy).replace(/^policy_\d+_/, "");
  const predicted = policy && !MEMORISING_POLICIES.includes(policy);
  return el(tag, { class: `${kind}${unsure ? " low" : ""}${predicted ? " predicted" : ""}` },
    el("span", {}, "→ ", el("code", {}, asText(event.name))),
    el("small", {}, policy ? ` ${policy}` : "", event.confidence !== null && event.confidence !== undefined
      ? ` · ${percent(event.confidence)}` : "", unsure ? " · low confidence" : "", predicted ? " · not memorised" : ""));
}

class Transcript {
  constructor(main, senderId) {
    this.main = main;
    this.senderId = senderId;
    this.events = [];
    this.total = 0;
    this.list = el("ol", { class: "transcript", "aria-label": "Events, oldest first" });
  }

  async load() {
    const [{ data: events, total }, { data: [metadata] }, { data: annotations }, { data: open }, { data: resolved }] =
      await Promise.all([
        getJson(conversationPath(this.senderId, "/events"), { limit: EVENTS_PER_PAGE }),
        getJson("/conversations", { sender_id: this.senderId }),
        getJson("/annotations", { sender_id: this.senderId }),
        getJson("/flags", { sender_id: this.senderId, resolved: "false" }),
        getJson("/flags", { sender_id: this.senderId, resolved: "true" }),
      ]);
    this.people = may("review") ? (await getJson("/users")).data : [];
    this.annotations = new Map(annotations.map((a) => [a.timestamp, a]));
    this.flags = new Map([...open, ...resolved].map((f) => [f.timestamp, f]));  // notes and resolutions
    this.events = events;
    this.total = total;
    this.metadata = metadata;
    this.render();
    const linked = location.hash.match(/^#t-(.+)$/);
    if (linked) await this.showLinked(Number(linked[1]));
    else this.lastMessage()?.scrollIntoView({ block: "end" });
  }

  /** The last event a reviewer can see: `action_listen` ends nearly every Rasa conversation, hidden. */
  lastMessage() {
    return [...this.list.children].reverse().find((item) => !item.classList.contains("listen"));
  }

  /** A link to one message (`#t-<timestamp>`, from the flag queue or the annotations): earlier
   * pages are loaded until it is shown, then it is scrolled to, highlighted and focused. */
  async showLinked(timestamp) {
    const find = () => [...this.list.querySelectorAll("li.message")].find((item) => Number(item.dataset.timestamp) === timestamp);
    while (!find() && this.events.length < this.total && this.events[0].timestamp >= timestamp) await this.loadEarlier();
    const item = find();
    if (!item) {
      say("The linked message is not in this conversation (any more)");
      this.lastMessage()?.scrollIntoView({ block: "end" });
      return;
    }
    item.classList.add("linked");
    item.scrollIntoView({ block: "center" });
    item.focus({ preventScroll: true });
  }

  /** The page of events before the earliest one shown. */
  async loadEarlier() {
    const oldest = this.events[0].timestamp;
    const { data } = await getJson(conversationPath(this.senderId, "/events"),
      { limit: EVENTS_PER_PAGE + this.events.filter((e) => e.timestamp === oldest).length, until: oldest });
    const shown = new Set(this.events.filter((e) => e.timestamp === oldest).map((e) => JSON.stringify(e)));
    const earlier = data.filter((e) => !(e.timestamp === oldest && shown.has(JSON.stringify(e))));
    this.events = [...earlier, ...this.events];
    this.renderEvents();
    say(`${this.events.length} of ${this.total} events shown`);
  }

  render() {
    document.title = `${this.senderId} · rasa-messaging`;
    const m = this.metadata;
    this.main.replaceChildren(
      el("h1", {}, "Conversation ", el("code", {}, this.senderId)),
      el("p", { class: "meta" }, `Latest activity ${when(m.latest_event_time)} · ${m.n_user_messages} user message${m.n_user_messages === 1 ? "" : "s"} · `,
        `lowest action confidence ${percent(m.minimum_action_confidence)} · `,
        m.in_training_data ? "in training data" : "not in training data"),
      this.toolbar(),
      el("p", { class: "shortcuts" }, "Keys: ", el("kbd", {}, "j"), " next conversation, ", el("kbd", {}, "k"),
        " previous", may("review") ? [", ", el("kbd", {}, "f"), " flag the selected message, ", el("kbd", {}, "n"),
          " write its note"] : null, may("annotate") ? [", ", el("kbd", {}, "c"), " confirm its predicted intent"] : null,
        may("review") ? [", ", el("kbd", {}, "r"), " mark reviewed and go to the next in your queue"] : null, "."),
      this.history(),
      el("div", { id: "earlier" }),
      this.list);
    this.renderEvents();
  }

  toolbar() {
    const m = this.metadata;
    const tagList = el("ul", { class: "tags", "aria-label": "Tags" }, m.tags.map((tag) => el("li", {}, tag,
      el("button", { type: "button", "aria-label": `Remove tag ${tag}`, onclick: () => this.untag(tag) }, "×"))));
    const tagInput = el("input", { id: "new-tag", name: "tag", pattern: "[A-Za-z0-9][A-Za-z0-9_.:\\-]{0,63}",
      list: "known-tags", required: true, title: TAG_RULE, "aria-describedby": "tag-rule" });
    tagInput.addEventListener("invalid", () => tagInput.setCustomValidity(TAG_RULE));
    tagInput.addEventListener("input", () => tagInput.setCustomValidity(""));
    const reviewer = may("review");
    if (!reviewer) for (const button of tagList.querySelectorAll("button")) button.remove();
    return el("div", { class: "toolbar" },
      reviewer ? el("button", { type: "button", id: "reviewed", "aria-pressed": String(m.reviewed),
        onclick: () => this.toggleReviewed() }, m.reviewed ? "Reviewed ✓" : "Mark reviewed")
        : el("span", { id: "reviewed" }, m.reviewed ? "Reviewed ✓" : "Not reviewed"),
      m.reviewed && m.reviewed_by ? el("span", { id: "reviewed-by" }, ` by ${m.reviewed_by}`) : null,
      reviewer ? el("button", { type: "button", id: "review-next", onclick: () => this.reviewAndNext() }, "Reviewed, next unreviewed")
        : null,
      this.assignment(),
      tagList,
      reviewer ? el("form", { class: "inline", onsubmit: (event) => { event.preventDefault(); return this.tag(tagInput.value); } },
        el("label", { for: "new-tag" }, "Add tag"), tagInput, el("button", { type: "submit" }, "Tag"),
        el("small", { id: "tag-rule", class: "visually-hidden" }, TAG_RULE)) : null,
      el("span", { class: "downloads" }, "Download: ", ["json", "md", "yml"].map((kind) => el("button", {
        type: "button", onclick: () => download(conversationPath(this.senderId, `/debug-dump.${kind}`)),
      }, kind.toUpperCase())), el("button", { type: "button", id: "test-story",
        onclick: () => download(conversationPath(this.senderId, "/test-story.yml")) }, "Save as test story"),
      this.isCalm() ? el("button", { type: "button", id: "e2e-test",
        onclick: () => download(conversationPath(this.senderId, "/e2e-test.yml")) }, "Save as e2e test") : null),
      may("admin") ? el("button", { type: "button", class: "danger", onclick: () => this.erase() }, "Erase conversation") : null);
  }

  /** Whose queue the conversation is in; a reviewer assigns it to a person of the team. */
  assignment() {
    const assignee = this.metadata.assignee;
    const shown = el("span", { id: "assignee" }, assignee ? `Assigned to ${assignee}` : "Not assigned");
    if (!may("review") || !this.people.length) return shown;
    const select = el("select", { id: "assign-to", name: "assignee" }, el("option", { value: "" }, "No one"),
      this.people.map((person) => el("option", { value: person.name, selected: person.name === assignee }, person.name)));
    return el("form", { class: "inline", onsubmit: async (event) => {
      event.preventDefault();
      const path = conversationPath(this.senderId, "/assignee");
      const done = await (await (select.value ? call(path, { method: "PUT", body: { assignee: select.value } })
        : call(path, { method: "DELETE" }))).json();
      this.metadata.assignee = done.assignee;
      say(done.assignee ? `Assigned to ${done.assignee}` : "Assigned to no one");
      this.render();
    } }, shown, " ", el("label", { for: "assign-to" }, "Assign to"), select, el("button", { type: "submit" }, "Assign"));
  }

  /** Who did what to this conversation (the audit log), read when opened. */
  history() {
    const details = el("details", { id: "history" }, el("summary", {}, "History"));
    details.addEventListener("toggle", handle(async () => {
      if (!details.open || details.querySelector("ol")) return;
      const { data: lines } = await getJson("/audit", { sender_id: this.senderId, limit: 100 });
      details.append(lines.length ? el("ol", {}, lines.map((line) => el("li", {}, `${when(line.at)} · `,
        el("strong", {}, line.actor ?? `(${line.role})`), ` ${line.action.replaceAll("_", " ")}`,
        line.detail.tag ? ` ${line.detail.tag}` : "", line.detail.intent ? ` as ${line.detail.intent}` : "",
        line.detail.assignee ? ` → ${line.detail.assignee}` : ""))) : el("p", {}, "Nothing was done to it yet."));
    }));
    return details;
  }

  renderEvents() {
    const earlier = this.main.querySelector("#earlier");
    earlier.replaceChildren(this.events.length < this.total
      ? el("button", { type: "button", id: "load-earlier", onclick: () => this.loadEarlier() },
        `Load earlier events (${this.total - this.events.length} more)`)
      : el("p", { class: "meta" }, "Start of the conversation"));
    this.utteredBy = utterances(this.events);
    const folded = new Set(this.utteredBy.values());
    // A sub-agent's events nest in a block of their own, from its start to its end.
    const lists = [this.list];
    this.list.replaceChildren();
    for (const event of this.events.filter((e) => !folded.has(e))) {
      if (event.event === "agent_started") {
        const inner = el("ol", { class: "transcript" });
        lists.at(-1).append(el("li", { class: "sub-agent" }, el("details", { open: "" },
          el("summary", {}, "Sub-agent ", el("code", {}, asText(event.agent_id ?? event.agent_name)),
            event.flow_id ? [" called by ", el("code", {}, asText(event.flow_id))] : null), inner)));
        lists.push(inner);
        continue;
      }
      lists.at(-1).append(this.item(event));
      if (AGENT_ENDS.includes(event.event) && lists.length > 1) lists.pop();
    }
  }

  /** An event as a list item; one the page cannot show is marked as such, never the end of the transcript. */
  item(event) {
    try {
      return this.readableItem(event);
    } catch (error) {
      return el("li", { class: "unreadable", title: JSON.stringify(event) },
        "An event this page cannot show: ", el("code", {}, asText(event?.event)), ` (${error.message})`);
    }
  }

  readableItem(event) {
    const kind = event.event;
    if (kind === "user") return this.message(event, "user", markedText(asText(event.text), event.parse_data?.entities),
      this.intentLine(event), this.commandsLine(event), this.annotationLine(event), this.userDetails(event));
    if (kind === "bot") {
      const buttons = objectsIn(event.data?.buttons);
      const action = this.utteredBy.get(event);
      const source = asText(event.metadata?.utter_source);
      return this.message(event, "bot", asText(event.text),
        buttons.length ? el("ul", { class: "bot-buttons" }, buttons.map((b) => el("li", {}, asText(b.title ?? b.payload)))) : null,
        action ? actionLine(action, "p", "uttered-by") : null,
        source ? el("p", { class: "source" }, `text: ${textSource(source)}`, el("small", {}, ` (${source})`)) : null);
    }
    if (kind in FLOW_DIVIDERS) {
      const flow = asText(event.flow_id);
      const pattern = flow.startsWith("pattern_");
      return el("li", { class: pattern ? "pattern" : "divider flow", role: pattern ? null : "separator" },
        pattern ? "pattern " : "Flow ", el("code", {}, flow), ` ${FLOW_DIVIDERS[kind]}`,
        event.step_id ? [" at step ", el("code", {}, asText(event.step_id))] : null);
    }
    if (kind === "bot_turn_ended") {
      const times = event.metadata?.execution_times ?? {};
      const total = typeof times.rasa_processing_ms === "number" ? times.rasa_processing_ms
        : Object.values(times).filter((t) => typeof t === "number").reduce((a, b) => a + b, 0);
      return el("li", { class: "turn-end" }, total ? `turn took ${(total / 1000).toFixed(2)} s` : "turn ended");
    }
    if (QUIET.includes(kind)) return el("li", { class: "listen", "aria-hidden": "true" });
    if (kind === "mcp_tool_executed" || kind === "tool_executed") {
      return el("li", { class: "tool" }, "tool ", el("code", {}, asText(event.tool_name ?? event.name)),
        event.server_name ? ` on ${asText(event.server_name)}` : "");
    }
    if (AGENT_ENDS.includes(kind)) return el("li", { class: "pattern" }, "sub-agent ", el("code", {}, asText(event.agent_id)),
      ` ${kind.replace("agent_", "")}`);
    if (kind === "action") {
      if (event.name === "action_listen") return el("li", { class: "listen", "aria-hidden": "true" });
      return actionLine(event, "li", "action");
    }
    if (kind === "slot") return el("li", { class: "slot" }, "slot ", el("code", {}, event.name), " = ",
      el("code", {}, JSON.stringify(event.value)), event.filled_by ? el("small", {}, ` filled by ${asText(event.filled_by)}`) : null);
    if (kind === "active_loop" || kind === "form") {
      return el("li", { class: "loop" }, event.name ? ["form ", el("code", {}, asText(event.name)), " active"] : "form ended");
    }
    if (kind === "session_started" || kind === "restart") {
      return el("li", { class: "divider", role: "separator" }, kind === "restart" ? "Restarted" : `New session · ${when(event.timestamp)}`);
    }
    return el("li", { class: "other" }, el("code", {}, kind));
  }

  /** What the model said of a user message, shown on demand: the intent ranking, each entity's
   * extractor and confidence, and the slots its turn set. */
  userDetails(event) {
    const ranking = objectsIn(event.parse_data?.intent_ranking);
    const entities = objectsIn(event.parse_data?.entities);
    const index = this.events.indexOf(event);
    const next = this.events.findIndex((other, at) => at > index && other.event === "user");
    const slots = this.events.slice(index + 1, next < 0 ? undefined : next).filter((other) => other.event === "slot");
    if (!ranking.length && !entities.length && !slots.length) return null;
    return el("details", { class: "message-details" }, el("summary", {}, "Details"),
      ranking.length ? el("p", {}, "Intent ranking: ", ranking.map((r, at) => [at ? ", " : "", el("code", {}, asText(r.name)),
        ` ${percent(r.confidence)}`])) : null,
      entities.length ? el("p", {}, "Entities: ", entities.map((e, at) => [at ? "; " : "", el("code", {}, asText(e.entity)),
        ` = ${asText(e.value)}`, e.extractor ? ` (${asText(e.extractor)}` : " (", e.confidence_entity !== undefined
          ? `, ${percent(e.confidence_entity)})` : ")"])) : null,
      slots.length ? el("p", {}, "Slots set: ", slots.map((slot, at) => [at ? ", " : "", el("code", {}, asText(slot.name)),
        ` = ${JSON.stringify(slot.value)}`])) : null);
  }

  intentLine(event) {
    const intent = event.parse_data?.intent;
    if (!intent?.name) return null;
    const unsure = (intent.confidence ?? 1) < LOW_CONFIDENCE;
    return el("p", { class: `intent${unsure ? " low" : ""}` }, "intent ", el("code", {}, intent.name), ` ${percent(intent.confidence)}`);
  }

  /** A CALM message's commands (`parse_data.commands`): what the command generator made of it. */
  commandsLine(event) {
    const commands = objectsIn(event.parse_data?.commands);
    if (!commands.length) return null;
    return el("p", { class: "commands" }, "commands: ", commands.map((command, at) => [at ? ", " : "",
      el("code", {}, asText(command.command)),
      ["flow", "name"].filter((key) => command[key] !== undefined).map((key) => ` ${asText(command[key])}`),
      command.value !== undefined ? ` = ${asText(command.value)}` : ""]));
  }

  /** The dialogue stack after this message, rebuilt by the API from the stack updates. */
  async toggleStack(event, button) {
    const item = button.closest("li");
    const open = item.querySelector(".stack");
    if (open) { open.remove(); button.setAttribute("aria-expanded", "false"); return; }
    const { data: frames } = await getJson(conversationPath(this.senderId, "/stack"), { until: event.timestamp });
    item.append(el("div", { class: "stack" }, el("p", {}, frames.length ? "Stack, top first:" : "The stack is empty here."),
      el("ol", {}, [...frames].reverse().map((frame) => el("li", {}, el("code", {}, asText(frame.flow_id ?? frame.agent_id ?? frame.type)),
        frame.step_id ? [" at ", el("code", {}, asText(frame.step_id))] : null, el("small", {}, ` ${asText(frame.type)}`))))));
    button.setAttribute("aria-expanded", "true");
  }

  annotationLine(event) {
    const annotation = this.annotations.get(event.timestamp);
    if (!annotation) return null;
    const entities = annotation.entities === null ? "entities as predicted"
      : annotation.entities.map((e) => `${e.entity}: ${(event.text || "").slice(e.start, e.end)}`).join(", ") || "no entities";
    return el("p", { class: "annotated" }, "annotated ", el("code", {}, annotation.intent), ` · ${entities}`,
      annotation.annotated_by ? ` · by ${annotation.annotated_by}` : "");
  }

  async toggleAnnotationForm(event, button) {
    const item = button.closest("li");
    const open = item.querySelector("form.annotate");
    if (open) { open.remove(); button.setAttribute("aria-expanded", "false"); return; }
    const form = await annotationForm(this.senderId, event, this.annotations.get(event.timestamp), (saved) => {
      if (saved) this.annotations.set(saved.timestamp, saved);
      else this.annotations.delete(event.timestamp);
      this.renderEvents();
      document.getElementById(`t-${event.timestamp}`)?.focus();
    });
    item.append(form);
    button.setAttribute("aria-expanded", "true");
    form.querySelector("input").focus();
  }

  async confirm(event) {
    const saved = await confirmPrediction(this.senderId, event);
    if (saved) this.annotations.set(saved.timestamp, saved);
    this.renderEvents();
    document.getElementById(`t-${event.timestamp}`)?.focus();
  }

  message(event, who, text, ...extra) {
    const flagged = Boolean(event.is_flagged);
    const flag = flagged ? this.flags.get(event.timestamp) : undefined;
    const item = el("li", { class: `message ${who}${flagged ? " flagged" : ""}`, tabindex: "0",
      id: `t-${event.timestamp}`, dataset: { timestamp: String(event.timestamp) } },
      el("p", { class: "who" }, who === "user" ? "User" : "Bot", el("small", {}, ` ${when(event.timestamp)}`)),
      el("p", { class: "text" }, text), ...extra,
      flag?.note ? el("p", { class: "note" }, "Note: ", flag.note) : null,
      flag?.resolved_at ? el("p", { class: "resolved" }, `Resolved ${when(flag.resolved_at)}`) : null,
      flag?.flagged_by ? el("p", { class: "flagged-by" }, `Flagged by ${flag.flagged_by}`) : null,
      el("p", { class: "message-actions" },
        may("review") ? el("button", { type: "button", class: "flag", "aria-pressed": String(flagged),
          onclick: () => this.toggleFlag(event) }, flagged ? "Unflag" : "Flag") : null,
        may("review") ? el("button", { type: "button", class: "note", onclick: (clicked) => this.editNote(event, clicked.currentTarget) },
          flag?.note ? "Edit note" : "Add note") : null,
        flagged && may("review") ? el("button", { type: "button", class: "resolve", onclick: () => this.resolve(event, !flag?.resolved_at) },
          flag?.resolved_at ? "Reopen" : "Resolve") : null,
        who === "user" && may("annotate") ? el("button", { type: "button", class: "correct", "aria-expanded": "false",
          onclick: (clicked) => this.toggleAnnotationForm(event, clicked.currentTarget) },
        "Correct prediction") : null,
        this.isCalm() ? el("button", { type: "button", class: "show-stack", "aria-expanded": "false",
          onclick: (clicked) => this.toggleStack(event, clicked.currentTarget) }, "Flow stack") : null));
    return item;
  }

  /** Whether this is a CALM conversation (flows or patterns): only there is a stack to show. */
  isCalm() {
    return Boolean(this.metadata?.flows?.length || this.metadata?.patterns?.length);
  }

  /** Mark the message's flag done (kept, with its note), or open it again. */
  async resolve(event, done) {
    const flag = await (await call(conversationPath(this.senderId, `/messages/${event.timestamp}/resolved`),
      { method: done ? "PUT" : "DELETE" })).json();
    this.flags.set(event.timestamp, flag);
    say(done ? "Flag resolved" : "Flag open again");
    this.renderEvents();
    document.getElementById(`t-${event.timestamp}`)?.focus();
  }

  async toggleFlag(event) {
    const path = conversationPath(this.senderId, `/messages/${event.timestamp}`);
    await call(path, { method: event.is_flagged ? "DELETE" : "PUT" });
    event.is_flagged = !event.is_flagged;
    if (event.is_flagged) this.flags.set(event.timestamp, { ...this.flags.get(event.timestamp), resolved_at: null });
    say(event.is_flagged ? "Message flagged" : "Flag removed");
    this.renderEvents();
    document.getElementById(`t-${event.timestamp}`)?.focus();
  }

  /** A note on the message (flagging it), edited in place from the note it has. */
  editNote(event, button) {
    const item = button.closest("li");
    if (item.querySelector("form.note-editor")) return item.querySelector("form.note-editor textarea").focus();
    const id = `note-${String(event.timestamp).replace(".", "-")}`;
    const text = el("textarea", { id, name: "note", rows: 2, maxlength: 2000 });
    text.value = (event.is_flagged && this.flags.get(event.timestamp)?.note) || "";
    const form = el("form", { class: "note-editor" }, el("label", { for: id }, "Note (flags the message)"), text,
      el("p", { class: "buttons" }, el("button", { type: "submit" }, "Save note"),
        el("button", { type: "button", onclick: () => { form.remove(); button.focus(); } }, "Cancel")));
    form.addEventListener("submit", handle(async (submitted) => {
      submitted.preventDefault();
      const note = text.value.trim();
      await call(conversationPath(this.senderId, `/messages/${event.timestamp}`), { method: "PUT", body: note ? { note } : {} });
      event.is_flagged = true;
      this.flags.set(event.timestamp, { ...this.flags.get(event.timestamp), note: note || this.flags.get(event.timestamp)?.note,
        resolved_at: null });
      say(note ? "Message flagged with a note" : "Message flagged");
      this.renderEvents();
      document.getElementById(`t-${event.timestamp}`)?.focus();
    }));
    item.append(form);
    text.focus();
  }

  async tag(tag) {
    this.metadata.tags = await (await call(conversationPath(this.senderId, `/tags/${encodeURIComponent(tag)}`),
      { method: "PUT" })).json();
    say(`Tagged ${tag}`);
    this.render();
  }

  async untag(tag) {
    this.metadata.tags = await (await call(conversationPath(this.senderId, `/tags/${encodeURIComponent(tag)}`),
      { method: "DELETE" })).json();
    say(`Tag ${tag} removed`);
    this.render();
  }

  async toggleReviewed() {
    const status = await (await call(conversationPath(this.senderId, "/reviewed"),
      { method: this.metadata.reviewed ? "DELETE" : "PUT" })).json();
    this.metadata.reviewed = status.reviewed;
    say(status.reviewed ? "Marked reviewed" : "Review mark removed");
    this.render();
  }

  /** Mark reviewed, then on to the next unreviewed conversation of the list the reviewer came
   * from (their queue, when they came from none): claimed for them, so that no one else is handed
   * it meanwhile (POST /queue/next). */
  async reviewAndNext() {
    if (!this.metadata.reviewed) await call(conversationPath(this.senderId, "/reviewed"), { method: "PUT" });
    const next = await nextToReview(session.name ? { assignee: "me" } : {});
    if (next) navigate(conversationPath(next));
    else { navigate(inboxLink()); say("Every conversation in this list is reviewed"); }
  }

  async erase() {
    if (!(await confirmAction(`Erase the conversation ${this.senderId} with all its events, flags and tags? This cannot be undone.`))) return;
    await call(conversationPath(this.senderId), { method: "DELETE" });
    say(`Erased ${this.senderId}`);
    navigate("/");
  }

  /** The next (1) or previous (-1) conversation of the list the reviewer came from. */
  async goTo(step) {
    const sender = await neighbour(this.senderId, step);
    if (sender) navigate(conversationPath(sender));
    else say(step > 0 ? "This is the last conversation of the list" : "This is the first conversation of the list");
  }

  /** The message the reviewer is on: the focused one, else the last user message. */
  selectedEvent() {
    const focused = document.activeElement?.closest?.(".message");
    const timestamp = focused ? Number(focused.dataset.timestamp)
      : [...this.events].reverse().find((e) => e.event === "user")?.timestamp;
    return this.events.find((e) => (e.event === "user" || e.event === "bot") && e.timestamp === timestamp);
  }
}

let current = null;
document.addEventListener("keydown", handle((event) => {
  if (!current || !document.body.contains(current.list) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName) || document.querySelector("dialog[open]")) return;
  const actions = {
    j: () => current.goTo(1),
    k: () => current.goTo(-1),
    ...may("review") ? {
      f: () => { const target = current.selectedEvent(); if (target) return current.toggleFlag(target); },
      n: () => {
        const target = current.selectedEvent();
        if (target) current.editNote(target, document.querySelector(`[id='t-${target.timestamp}'] button.note`));
      },
      r: () => current.reviewAndNext(),
    } : {},
    ...may("annotate") ? {
      c: () => { const target = current.selectedEvent(); if (target?.event === "user") return current.confirm(target); },
    } : {},
  };
  if (actions[event.key]) {
    event.preventDefault();
    return actions[event.key]();
  }
}));

export async function render(main, senderId) {
  if (senderId.includes("/")) return unaddressable(main, senderId);
  current = new Transcript(main, senderId);
  await current.load();
}

/** A sender id with `/` cannot be named in an API path (any server before us would split it, so
 * the API answers 404): said as such, with what can be done instead, never a server's 404 text. */
function unaddressable(main, senderId) {
  document.title = `${senderId} · rasa-messaging`;
  const exported = `/core/export?${new URLSearchParams({ sender_id: senderId, format: "csv" })}`;
  main.replaceChildren(
    el("h1", {}, "Conversation ", el("code", {}, senderId)),
    el("p", {}, "This sender id holds a \"/\", which no URL path can carry: its transcript, flags and tags cannot ",
      "be opened here. The inbox lists and filters it, and its messages can be read in its export."),
    el("p", {}, el("button", { type: "button", onclick: () => download(exported.replace("/core", "")) },
      "Download its messages (CSV)"), " ", el("a", { href: inboxLink() }, "Back to the inbox")));
}

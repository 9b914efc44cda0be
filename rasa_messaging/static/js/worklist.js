// The list a reviewer works through: the inbox page they opened a conversation from, with its
// filter. `j` / `k` and "Reviewed, next unreviewed" move through it, page after page, and the
// header's "Inbox" goes back to it.
import { call, getJson } from "./api.js";

const KEY = "rasa-messaging-inbox";

function stored() {
  return JSON.parse(sessionStorage.getItem(KEY) || "null");
}

/** What the inbox showed: its query string, the page (offset, limit), the total, the senders. */
export function remember(search, offset, limit, total, conversations) {
  sessionStorage.setItem(KEY, JSON.stringify({ search, offset, limit, total, rows: conversations.map((c) => c.sender_id) }));
  showInboxLink();
}

/** The header's "Inbox" link: the filtered list the reviewer came from. */
export function showInboxLink() {
  const list = stored();
  document.querySelector("nav a[data-view='inbox']")?.setAttribute("href", `/${list?.search || ""}`);
}

export function inboxLink() {
  return `/${stored()?.search || ""}`;
}

/** The list's filter and order as the API's parameters, without its page. */
function filterOf(list) {
  const query = Object.fromEntries(new URLSearchParams(list.search));
  delete query.offset;
  delete query.limit;
  return query;
}

async function page(list, offset) {
  const { data, total } = await getJson("/conversations", { ...filterOf(list), limit: list.limit, offset });
  const next = { ...list, offset, total, rows: data.map((c) => c.sender_id) };
  sessionStorage.setItem(KEY, JSON.stringify(next));
  return next;
}

/** The sender `step` (1 or -1) rows from `senderId` in the list, reading the next or the previous
 * page at either end; undefined at the list's very start or end, or outside any list. */
export async function neighbour(senderId, step) {
  let list = stored();
  const index = list?.rows.indexOf(senderId) ?? -1;
  if (index < 0) return undefined;
  const wanted = index + step;
  if (wanted >= 0 && wanted < list.rows.length) return list.rows[wanted];
  const offset = list.offset + (step > 0 ? list.limit : -list.limit);
  if (offset < 0 || offset >= list.total) return undefined;
  list = await page(list, offset);
  return step > 0 ? list.rows[0] : list.rows[list.rows.length - 1];
}

/** The next conversation to review of the list's filter (`outside`: the filter when the reviewer
 * came from no list), claimed for the reviewer so that no one else is handed it meanwhile (POST
 * /queue/next): null when there is none. */
export async function nextToReview(outside) {
  const list = stored();
  const query = list ? filterOf(list) : outside;
  delete query.order;
  delete query.sort_by_confidence;
  delete query.sort_by_latest_event_time;
  const response = await call("/queue/next", { method: "POST", query });
  return response.status === 204 ? null : (await response.json()).sender_id;
}

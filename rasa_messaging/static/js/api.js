// The page's only way to the server: the documented API under /core. A token, when the server
// wants one, is asked once, kept for this browser session, and sent as `Authorization: Bearer`.
const BASE = "/core";
const TOKEN_KEY = "rasa-messaging-token";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function apiUrl(path, query = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

/** Ask for the token; `refused`: the one given before was not accepted, and the dialog says so. */
function askForToken(refused) {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-refused").textContent = refused
    ? "The server refused that token: check it and try again." : "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      sessionStorage.setItem(TOKEN_KEY, input.value);
      input.value = "";
      resolve();
    }, { once: true });
    if (!dialog.open) dialog.showModal();
  });
}

/** Forget the token of this browser session; the next call asks for one. */
export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.assign("/");
}

/** Call the API; asks for a token on 401 and tries again. Throws ApiError for any other error. */
export async function call(path, { method = "GET", query, body } = {}) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(apiUrl(path, query), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    await askForToken(Boolean(token));
    return call(path, { method, query, body });
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, problem);
  }
  return response;
}

/** GET a JSON document; `total` is the X-Total-Count header where the API sends one. */
export async function getJson(path, query) {
  const response = await call(path, { query });
  const total = response.headers.get("X-Total-Count");
  return { data: await response.json(), total: total === null ? null : Number(total) };
}

export function conversationPath(senderId, rest = "") {
  return `/conversations/${encodeURIComponent(senderId)}${rest}`;
}

/** Download an API file (a debug dump) with the token, under the name the server gives. */
export async function download(path) {
  const response = await call(path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "download";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  link.click();
  URL.revokeObjectURL(link.href);
}

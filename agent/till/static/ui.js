// Small DOM helpers and the page's translated texts (rendered by the server into #till-config).

import { uncertain } from "./api.js";

const CONFIG = JSON.parse(document.getElementById("till-config").textContent);

export const config = CONFIG;
export const fmt = CONFIG.format;

/** The agent's clock as the page knows it: the browser's, corrected by the offset measured at start. */
export const clock = {
  offset: 0,
  now() {
    return Date.now() + this.offset;
  },
  iso() {
    return new Date(this.now()).toISOString();
  },
};

/** The translated text ``key`` with {name} placeholders filled from ``params``. */
export function t(key, params = {}) {
  const text = CONFIG.texts[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return Array.from(root.querySelectorAll(selector));
}

/** A new element: el("td", {class: "num"}, "12,00"). Text is set as text, never as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** What a failed API call says to the cashier: the problem's title and detail. */
export function problemText(result) {
  if (result.network) return { title: t("no_answer_title"), detail: t("no_answer_detail") };
  const body = result.body;
  if (body && typeof body === "object" && body.title) {
    return { title: body.title, detail: body.detail || "" };
  }
  return { title: t("http_error_title", { status: result.status }), detail: "" };
}

/** Show a message in a box (kind: "error", "warning", "ok", "info"); an empty title hides it. */
export function say(box, kind, title, detail = "") {
  box.replaceChildren();
  box.hidden = !title;
  box.dataset.kind = kind;
  if (!title) return;
  box.append(el("strong", {}, title));
  if (detail) box.append(el("span", { class: "detail" }, detail));
}

/** Show a failed API call's problem in ``box``. */
export function sayProblem(box, result) {
  const { title, detail } = problemText(result);
  say(box, "error", title, detail);
}

/** The local time of an ISO moment in the store's time zone: "12:03" (with the date if not today). */
export function shortTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const zone = CONFIG.timezone;
  const day = new Intl.DateTimeFormat(CONFIG.lang, { timeZone: zone, day: "2-digit", month: "2-digit" });
  const time = new Intl.DateTimeFormat(CONFIG.lang, { timeZone: zone, hour: "2-digit", minute: "2-digit" });
  const today = day.format(new Date(clock.now())) === day.format(date);
  return today ? time.format(date) : `${day.format(date)} ${time.format(date)}`;
}

/**
 * Send a retry-safe write (a refund, a cancel, a registration) and show a refusal in ``box``.
 * ``unknown`` says no answer came: the caller keeps the write to resend it unchanged.
 */
export async function sendWrite(api, write, box, retryText) {
  say(box, "info", t("sending"));
  const result = await api.post(write.path, write.body, write.headers);
  const unknown = uncertain(result);
  if (!result.ok) {
    sayProblem(box, result);
    if (unknown) box.append(el("span", { class: "detail" }, retryText));
  }
  return { result, unknown };
}

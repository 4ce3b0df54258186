// The POS API from the page: Bearer key, the page's language, problem documents.
//
// call() never throws: it answers {ok, status, body} for an HTTP answer and
// {ok: false, network: true} when none came. A write whose outcome is unknown
// (no answer, or a 5xx other than 503) must be retried with the same id and
// the same body: the agent then answers the first result instead of doing it twice.

export class Api {
  constructor(key, lang) {
    this.key = key;
    this.lang = lang;
    this.onUnauthorized = null;
  }

  async call(method, path, body, headers = {}) {
    const init = {
      method,
      headers: { Accept: "application/json", "Accept-Language": this.lang, ...headers },
      cache: "no-store",
    };
    if (this.key) init.headers.Authorization = `Bearer ${this.key}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return { ok: false, network: true, status: 0, body: null };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null; // a proxy's HTML error page: the status still says what happened
    }
    const result = { ok: response.ok, status: response.status, body: data, replayed: response.headers.get("Idempotent-Replayed") === "true" };
    if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(result);
    return result;
  }

  get(path) {
    return this.call("GET", path);
  }

  post(path, body, headers) {
    return this.call("POST", path, body, headers);
  }
}

/** Whether a write's outcome is unknown: retry it unchanged. */
export function uncertain(result) {
  return result.network || (result.status >= 500 && result.status !== 503);
}

/** A random id part from crypto.getRandomValues (randomUUID needs https, the agent is plain http on a LAN). */
export function randomHex(bytes = 6) {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

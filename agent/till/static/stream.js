// Identifications from the store's hardware card readers, as they happen.
//
// GET /v1/identifications/stream is a server-sent-events stream for the
// calling terminal: "event: identification", data = the identify answer plus
// "source" (the reader) and "at". EventSource cannot send headers, so the key
// goes in the access_token parameter. The browser reconnects by itself after
// a dropped connection; when the agent refuses the stream (EventSource then
// gives up without saying why) one fetch asks why: 404 (an agent without the
// stream) or 401 (key revoked) stops for good, anything else retries later.

const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 30000;

/**
 * Listen for identifications; ``onIdentification(answer)`` gets each one and
 * ``onState(state)`` is told "connecting", "live" or "unavailable".
 */
export function listenForIdentifications({ key, onIdentification, onState }) {
  const url = `/v1/identifications/stream?access_token=${encodeURIComponent(key)}`;
  let source = null;
  let stopped = false;
  let retry = FIRST_RETRY_MS;

  function open() {
    if (stopped) return;
    onState("connecting");
    source = new EventSource(url);
    source.addEventListener("open", () => {
      retry = FIRST_RETRY_MS;
      onState("live");
    });
    source.addEventListener("identification", (event) => {
      let answer;
      try {
        answer = JSON.parse(event.data);
      } catch (error) {
        return; // a damaged event: the next read will come
      }
      // "api": this terminal's own identify call (this page's, or a POS's on the same terminal):
      // the caller already has that answer; the page follows card readers only.
      if (answer && typeof answer === "object" && answer.source === "api") return;
      if (answer && typeof answer === "object" && answer.customer_id) onIdentification(answer);
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CONNECTING) {
        onState("connecting"); // the browser is already reconnecting
        return;
      }
      source.close();
      ask();
    });
  }

  async function ask() {
    const abort = new AbortController();
    let status = 0;
    try {
      const response = await fetch(url, { headers: { Accept: "text/event-stream" }, signal: abort.signal, cache: "no-store" });
      status = response.status;
    } catch (error) {
      status = 0; // no answer: the agent is restarting
    }
    abort.abort();
    if (status === 404 || status === 401 || status === 405) {
      stopped = true;
      onState("unavailable");
      return;
    }
    setTimeout(open, retry);
    retry = Math.min(retry * 2, MAX_RETRY_MS);
  }

  open();
  return {
    close() {
      stopped = true;
      if (source) source.close();
    },
  };
}

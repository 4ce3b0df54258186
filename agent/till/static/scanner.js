// Barcode scanners and magnetic-stripe readers that act as a keyboard.
//
// Such a device types its whole read in a few milliseconds and presses
// Enter. On the sale screen every read belongs to the identify box: a key
// pressed while no text field has the focus goes there, and a fast burst
// that lands in another field (the amount, a line) is taken back out of that
// field and identified instead.

/** Gap between two keys of one scanner read (ms); people type slower than this. */
const BURST_GAP_MS = 50;
/** A read is at least this many characters (the shortest card number is 4 digits, plus framing). */
const BURST_MIN = 6;

const TEXT_TYPES = new Set(["text", "search", "tel", "number", "email", "password", "url", ""]);

export function isTextField(node) {
  if (!node) return false;
  if (node.tagName === "TEXTAREA") return true;
  return node.tagName === "INPUT" && TEXT_TYPES.has(node.type) && !node.readOnly && !node.disabled;
}

/** How the agent should read what was scanned or typed: {track}, {qr}, {phone}, {barcode} or {card}. */
export function classify(raw) {
  const text = String(raw ?? "").trim();
  if (!text) return null;
  // ISO 7811 tracks: ";PAN=...?" and "%B...^...?"; "ж" and "," are ";" and "?" under the Russian layout
  if (/^[;%жЖ]/.test(text) || /^\d{4,}=\d*[?,]?$/.test(text)) return { track: text };
  if (/^LE1\./i.test(text)) return { qr: text };
  const compact = text.replace(/[\s\-().\u00a0]/g, "");
  if (/^\+\d+$/.test(compact)) return { phone: text };
  if (/^\d+$/.test(compact)) {
    // Russian phone numbers: 8 912 345-67-89, 7 495 ..., and a bare mobile 912 345-67-89
    if ((compact.length === 11 && /^[78][3489]/.test(compact)) || (compact.length === 10 && compact[0] === "9")) {
      return { phone: text };
    }
    if (compact.length === 13) return { barcode: compact }; // EAN-13: the agent checks the check digit
    return { card: compact };
  }
  return { card: text }; // the agent says what is wrong with it
}

/** The card number inside a track read (for the registration form's card field), else the text. */
export function cardNumberOf(raw) {
  const text = String(raw ?? "").trim();
  const match = /^[;жЖ%]?[BbИи]?(\d{4,32})[=^:]/.exec(text);
  return match ? match[1] : text.replace(/[\s-]/g, "");
}

/**
 * Route keyboard-wedge reads to ``input``; ``onScan(text)`` gets a burst caught in another field.
 * ``active()`` says whether the sale screen is showing.
 */
export function attachScanner({ input, onScan, active }) {
  let burst = null; // {target, before, chars, last}
  document.addEventListener(
    "keydown",
    (event) => {
      if (!active() || event.isComposing) return;
      const now = event.timeStamp; // when the key came, not when this handler runs: a busy page must not split a scan
      const focused = document.activeElement;
      if (event.key === "Enter") {
        const read = burst;
        burst = null;
        if (read && focused === read.target && focused !== input && read.chars.length >= BURST_MIN && now - read.last < BURST_GAP_MS * 2) {
          event.preventDefault();
          event.stopPropagation();
          focused.value = read.before; // take the read back out of the amount (or line) field
          focused.dispatchEvent(new Event("input", { bubbles: true }));
          onScan(read.chars.join(""));
        }
        return;
      }
      if (event.key.length !== 1 || event.ctrlKey || event.altKey || event.metaKey) return;
      if (event.key === " " && focused && focused !== document.body) return; // Space presses a focused button
      if (!isTextField(focused)) {
        // nothing to type into: the key (a scan, or the cashier typing a phone) starts a new read in the identify box
        event.preventDefault();
        input.focus();
        input.value = event.key;
        input.dispatchEvent(new Event("input", { bubbles: true }));
        burst = null;
        return;
      }
      if (!burst || burst.target !== focused || now - burst.last > BURST_GAP_MS) {
        burst = { target: focused, before: focused.value, chars: [], last: now };
      }
      burst.chars.push(event.key);
      burst.last = now;
    },
    true,
  );
}

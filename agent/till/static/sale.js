// The sale: the customer, the purchase (one amount or lines), the live quote, redemption and the commit.
//
// The sale in progress is kept in localStorage, so a reload loses nothing.
// Its receipt_id is made when the sale starts; a commit that got no answer
// keeps its exact body ("pending") and the form stays locked until the
// cashier retries it: the agent answers a repeated receipt with the first
// result, so the purchase is never counted twice.

import { randomHex, uncertain } from "./api.js";
import { editableMinor, formatMinor, lineAmount, parseMinor, parseQuantity, quantityString, toJsonNumber } from "./money.js";
import { classify } from "./scanner.js";
import { $, $$, clock, el, fmt, problemText, say, sayProblem, shortTime, t } from "./ui.js";

const DRAFT_KEY = "till.sale";
const QUOTE_DELAY_MS = 250;
const LINE_FIELDS = ["name", "quantity", "price", "discount", "category"];

function blankLine() {
  return { name: "", quantity: "1", price: "", discount: "", category: "" };
}

function money(minor) {
  return formatMinor(minor, fmt);
}

const REDEEM_CODES = ["redeem_over_limit", "insufficient_points", "offline_limit"];
// refusals of a redemption code after which only a new code helps (docs/agent.md, "Redemption confirmation code")
const NEW_CODE_NEEDED = ["confirmation_locked", "confirmation_expired", "confirmation_used", "confirmation_superseded", "confirmation_unknown", "confirmation_points"];

/** A refusal to show: a redemption over a limit says the limit in rubles, not in the API's minor units. */
function showProblem(box, result) {
  const body = result.body;
  if (body && REDEEM_CODES.includes(body.code) && Number.isInteger(body.max_redeemable)) {
    say(box, "error", body.title, t("redeem_at_most", { max: money(body.max_redeemable) }));
  } else {
    sayProblem(box, result);
  }
}

export class Sale {
  constructor(app) {
    this.app = app;
    this.root = $("#sale");
    this.input = $("#identify-input");
    this.quote = null; // the last quote answer
    this.maxRedeemable = null;
    this.quoteSeq = 0;
    this.quoteTimer = null;
    this.confirmRequired = false; // the store confirms redemptions with a code (the last quote said so)
    this.busy = false;
    this.state = this.load() ?? this.fresh();
    this.bind();
    this.renderAll();
    if (this.state.pending) say($("#sale-msg"), "warning", t("pending_title"), t("pending_detail"));
    else this.refreshCustomer();
  }

  /** A sale restored after a reload: the customer's figures are read again, the quote made again. */
  async refreshCustomer() {
    const ref = this.customerRef();
    if (ref && !this.state.done) {
      const result = await this.app.api.post("/v1/identify", ref);
      const same = this.state.customer?.customer_id === result.body?.customer_id;
      if (result.ok && same && !this.state.pending && !this.state.done) {
        this.state.customer = result.body;
        this.save();
        this.renderCustomer();
      }
    }
    this.quoteNow();
  }

  // -- state

  fresh(customer = null) {
    return {
      receiptId: this.newReceiptId(), mode: this.state?.mode ?? "amount", amount: "", lines: [blankLine()],
      redeem: "", promoCode: "", customer, pending: null, done: null, confirmation: null, code: "",
    };
  }

  newReceiptId() {
    const stamp = clock.iso().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
    return `${this.app.terminal}-${stamp}-${randomHex(3)}`;
  }

  load() {
    try {
      const draft = JSON.parse(localStorage.getItem(DRAFT_KEY) || "null");
      return draft && draft.terminal === this.app.terminal ? draft.state : null;
    } catch (error) {
      return null;
    }
  }

  save() {
    localStorage.setItem(DRAFT_KEY, JSON.stringify({ terminal: this.app.terminal, state: this.state }));
  }

  /** Start the next sale (keeps nothing of the last one). */
  reset() {
    if (this.state.pending) return;
    this.state = this.fresh();
    this.quote = null;
    this.maxRedeemable = null;
    this.save();
    say($("#sale-msg"), "", "");
    say($("#identify-msg"), "", "");
    this.renderAll();
    this.input.focus();
  }

  // -- events

  bind() {
    $("#identify-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.identify(this.input.value);
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.input.value = "";
    });
    $("#customer-clear").addEventListener("click", () => this.setCustomer(null));
    $$("[name=sale-mode]").forEach((radio) => radio.addEventListener("change", () => {
      this.state.mode = radio.value;
      this.changed();
      this.renderMode();
    }));
    $("#amount").addEventListener("input", (event) => {
      this.state.amount = event.target.value;
      this.changed();
    });
    $("#amount").addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.quoteNow();
    });
    $("#redeem").addEventListener("input", (event) => {
      this.state.redeem = event.target.value;
      this.changed();
    });
    $("#redeem").addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.quoteNow();
    });
    $("#redeem-max").addEventListener("click", () => this.redeemMax());
    $("#code-send").addEventListener("click", () => this.sendCode());
    $("#code-input").addEventListener("input", (event) => {
      this.state.code = event.target.value;
      this.save();
    });
    $("#code-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.commit();
    });
    $("#promo-code").addEventListener("input", (event) => {
      this.state.promoCode = event.target.value;
      this.save();
      this.quoteSoon();
    });
    $("#add-line").addEventListener("click", () => this.addLine());
    $("#lines").addEventListener("input", (event) => {
      const row = event.target.closest(".line");
      if (!row || !event.target.dataset.field) return;
      this.state.lines[Number(row.dataset.index)][event.target.dataset.field] = event.target.value;
      this.renderLineAmount(row);
      this.changed();
    });
    $("#lines").addEventListener("keydown", (event) => {
      const row = event.target.closest(".line");
      if (event.key !== "Enter" || !row || !event.target.dataset.field) return;
      event.preventDefault();
      if (Number(row.dataset.index) === this.state.lines.length - 1) this.addLine();
      else $(`.line[data-index="${Number(row.dataset.index) + 1}"] [data-field=name]`, this.root).focus();
    });
    $("#lines").addEventListener("click", (event) => {
      const button = event.target.closest("button.remove");
      if (!button) return;
      const index = Number(button.closest(".line").dataset.index);
      this.state.lines.splice(index, 1);
      if (!this.state.lines.length) this.state.lines.push(blankLine());
      this.renderLines();
      this.changed();
    });
    $("#commit").addEventListener("click", () => this.commit());
    $("#new-sale").addEventListener("click", (event) => this.newSale(event.currentTarget));
    $("#sale-reprint").addEventListener("click", () => this.app.reprint(this.state.done.receipt_id, $("#sale-result-msg")));
    document.addEventListener("keydown", (event) => {
      if (!this.app.onSale()) return;
      const keys = { F2: () => this.input.focus(), F8: () => this.redeemMax(), F9: () => this.commit() };
      if (keys[event.key]) {
        event.preventDefault();
        keys[event.key]();
      }
    });
  }

  /** The form changed: save it and quote again shortly. */
  changed() {
    this.save();
    clearTimeout(this.quoteTimer);
    this.quoteTimer = setTimeout(() => this.quoteNow(), QUOTE_DELAY_MS);
  }

  newSale(button) {
    if (this.state.pending && button.dataset.armed !== "1") {
      // a receipt without an answer may have been recorded: ask once more before dropping it
      button.dataset.armed = "1";
      button.textContent = t("discard_pending_confirm");
      setTimeout(() => {
        button.dataset.armed = "";
        button.textContent = t("new_sale");
      }, 5000);
      return;
    }
    button.dataset.armed = "";
    button.textContent = t("new_sale");
    this.state.pending = null;
    this.reset();
  }

  // -- the customer

  async identify(raw) {
    const ref = classify(raw);
    const box = $("#identify-msg");
    if (!ref) {
      say(box, "error", t("identify_empty"));
      this.input.focus();
      return;
    }
    if (this.state.pending) {
      say(box, "warning", t("pending_title"), t("pending_detail"));
      return;
    }
    say(box, "info", t("identifying"));
    const result = await this.app.api.post("/v1/identify", ref);
    if (!result.ok) {
      sayProblem(box, result);
      if (result.body?.code === "unknown_card" || result.body?.code === "unknown_customer") {
        box.append(" ", el("button", { type: "button", class: "link", onclick: () => this.app.register.start(ref) }, t("register_this")));
      }
      this.input.select();
      return;
    }
    this.input.value = "";
    say(box, "", "");
    this.setCustomer(result.body);
  }

  /** Show an identification, typed, scanned or from a card reader (the stream): one path for all. */
  setCustomer(answer) {
    if (this.state.pending) {
      say($("#identify-msg"), "warning", t("pending_title"), t("pending_detail"));
      return;
    }
    if (this.state.done) {
      this.state = this.fresh(answer);
    } else {
      this.state.customer = answer;
      this.state.confirmation = null; // a code belongs to its customer
      this.state.code = "";
    }
    say($("#code-msg"), "", "");
    this.quote = null;
    this.maxRedeemable = null; // until the quote for this customer comes
    this.save();
    this.renderAll();
    this.quoteNow();
    if (answer && answer.registered === false) {
      // a card of the chain's ranges not known here yet: points accrue now, registration is offered
      const box = $("#identify-msg");
      say(box, "info", t("card_not_registered"), t("card_not_registered_detail"));
      box.append(" ", el("button", { type: "button", class: "link", onclick: () => this.app.register.start({ card: answer.card }) }, t("register_this")));
    }
    if (answer) (this.state.mode === "amount" ? $("#amount") : $(".line [data-field=name]", this.root)).focus();
  }

  customerRef() {
    const c = this.state.customer;
    if (!c) return undefined;
    // the card it was shown (the agent checks its status again), else the id: a QR token expires in seconds
    return c.card ? { card: c.card } : { id: c.customer_id };
  }

  // -- the purchase

  /** The receipt's lines and redemption from the form, or the problems to show. */
  build(forCommit) {
    const problems = [];
    const lines = [];
    $$("[aria-invalid]", this.root).forEach((node) => node.removeAttribute("aria-invalid"));
    const invalid = (selector, text) => {
      const node = $(selector, this.root);
      if (node) node.setAttribute("aria-invalid", "true");
      problems.push(text);
    };
    if (this.state.mode === "amount") {
      const amount = parseMinor(this.state.amount);
      if (amount.error) invalid("#amount", t("amount_invalid"));
      else if (amount.empty || amount.value === 0n) {
        if (forCommit) invalid("#amount", t("amount_missing"));
      } else lines.push({ name: t("purchase_line_name"), quantity: "1", price: toJsonNumber(amount.value), amount: toJsonNumber(amount.value) });
    } else {
      this.state.lines.forEach((line, i) => {
        const n = i + 1;
        const at = (field) => `.line[data-index="${i}"] [data-field=${field}]`;
        if (LINE_FIELDS.every((f) => !String(line[f] ?? "").trim() || (f === "quantity" && line[f].trim() === "1"))) return;
        const quantity = parseQuantity(line.quantity);
        const price = parseMinor(line.price);
        const discount = parseMinor(line.discount);
        if (quantity.error) invalid(at("quantity"), t("line_quantity_invalid", { n }));
        if (price.empty) invalid(at("price"), t("line_price_missing", { n }));
        else if (price.error) invalid(at("price"), t("line_price_invalid", { n }));
        if (discount.error) invalid(at("discount"), t("line_discount_invalid", { n }));
        if (quantity.error || price.empty || price.error || discount.error) return;
        const thousandths = quantity.value ?? 1000n;
        const off = discount.value ?? 0n;
        const amount = lineAmount(price.value, thousandths, off);
        if (amount < 0n) {
          invalid(at("discount"), t("line_discount_too_big", { n }));
          return;
        }
        const body = { quantity: quantityString(thousandths), price: toJsonNumber(price.value), amount: toJsonNumber(amount) };
        if (off) body.discount = toJsonNumber(off);
        if (line.name.trim()) body.name = line.name.trim();
        if (line.category.trim()) body.category = line.category.trim();
        lines.push(body);
      });
      if (forCommit && !lines.length && !problems.length) invalid(".line [data-field=price]", t("lines_missing"));
    }
    const redeem = parseMinor(this.state.redeem);
    if (redeem.error) invalid("#redeem", t("redeem_invalid"));
    return { problems, lines, redeem: redeem.value ? toJsonNumber(redeem.value) : 0 };
  }

  async quoteNow() {
    clearTimeout(this.quoteTimer);
    if (this.state.done || this.state.pending) return;
    const seq = ++this.quoteSeq;
    const built = this.build(false);
    const box = $("#purchase-msg");
    if (built.problems.length) {
      say(box, "error", built.problems.join(" "));
      this.quote = null;
      this.renderTotals(built);
      return;
    }
    say(box, "", "");
    if (!built.lines.length) {
      this.quote = null;
      this.renderTotals(built);
      return;
    }
    const body = { at: clock.iso(), lines: built.lines, redeem: built.redeem };
    if (this.state.promoCode?.trim()) body.promo_codes = [this.state.promoCode.trim()];
    const customer = this.customerRef();
    if (customer) body.customer = customer;
    const result = await this.app.api.post("/v1/receipts/quote", body);
    if (seq !== this.quoteSeq) return; // a newer quote is on its way
    if (result.ok) {
      this.quote = result.body;
      this.maxRedeemable = result.body.max_redeemable;
      this.confirmRequired = result.body.confirmation_required === true;
    } else {
      this.quote = null;
      this.maxRedeemable = Number.isInteger(result.body?.max_redeemable) ? result.body.max_redeemable : null;
      showProblem(box, result);
    }
    this.renderTotals(built);
  }

  redeemMax() {
    if (this.state.done || this.state.pending || this.maxRedeemable === null) return;
    this.state.redeem = this.maxRedeemable ? editableMinor(this.maxRedeemable, fmt) : "";
    $("#redeem").value = this.state.redeem;
    this.save();
    this.quoteNow();
  }

  addLine() {
    this.state.lines.push(blankLine());
    this.renderLines();
    this.save();
    $(`.line[data-index="${this.state.lines.length - 1}"] [data-field=name]`, this.root).focus();
  }

  // -- the commit

  async commit() {
    if (this.busy) return;
    if (this.state.done) {
      this.reset();
      return;
    }
    const box = $("#sale-msg");
    let body = this.state.pending;
    if (!body) {
      const built = this.build(true);
      if (built.problems.length) {
        // shown where the purchase is entered, and the first wrong field takes the focus
        say($("#purchase-msg"), "error", built.problems.join(" "));
        say(box, "", "");
        $("[aria-invalid=true]", this.root)?.focus();
        return;
      }
      body = { receipt_id: this.state.receiptId, at: clock.iso(), lines: built.lines, redeem: built.redeem };
      if (this.state.promoCode?.trim()) body.promo_codes = [this.state.promoCode.trim()];
      const customer = this.customerRef();
      if (customer) body.customer = customer;
      if (customer && built.redeem && this.confirmRequired) {
        const confirmation = this.confirmationFor(built);
        if (!confirmation) return;
        body.confirmation = confirmation;
      }
    }
    this.state.pending = body; // saved before sending: a reload in between can still retry it
    this.save();
    this.busy = true;
    say(box, "info", t("committing"));
    this.renderLock();
    const result = await this.app.api.post("/v1/receipts", body);
    this.busy = false;
    if (result.ok) {
      this.state.pending = null;
      this.state.done = { ...result.body, replayed: result.replayed };
      if (this.state.customer && result.body.balance !== null) {
        this.state.customer = { ...this.state.customer, balance: result.body.balance, redeemable_now: result.body.available };
      }
      say(box, "", "");
    } else if (uncertain(result)) {
      const { title, detail } = problemText(result);
      say(box, "error", title, `${detail} ${t("retry_same_receipt")}`.trim());
    } else if (String(result.body?.code ?? "").startsWith("confirmation_")) {
      this.state.pending = null;
      say(box, "", "");
      this.codeRefused(result);
    } else {
      this.state.pending = null;
      say($("#purchase-msg"), "", ""); // the refusal is said once, beside the button that got it
      showProblem(box, result);
    }
    this.save();
    this.renderAll();
    if (this.state.done) $("#sale-result").scrollIntoView({ block: "nearest" });
  }

  // -- rendering

  renderAll() {
    this.renderCustomer();
    this.renderMode();
    $("#amount").value = this.state.amount;
    $("#redeem").value = this.state.redeem;
    $("#promo-code").value = this.state.promoCode ?? "";
    $("#code-input").value = this.state.code ?? "";
    this.renderLines();
    this.renderTotals(this.build(false));
    this.renderResult();
    this.renderLock();
  }

  renderCustomer() {
    const c = this.state.customer;
    $("#customer").hidden = !c;
    $("#no-customer").hidden = !!c;
    // a registered customer's usable card may be replaced by a new one (replace.js)
    const replaceable = !!c && !!c.card && c.registered !== false && !c.card_blocked && !c.blocked;
    $("#replace-open").hidden = !replaceable || !$("#replace-form").hidden;
    if (!replaceable) $("#replace-form").hidden = true;
    if (!c) return;
    $("#c-name").textContent = c.name || t("no_name");
    $("#c-level").textContent = c.level || "";
    $("#c-level").hidden = !c.level;
    $("#c-phone").textContent = c.phone || "";
    $("#c-card").textContent = c.card ? t("card_number", { card: c.card }) : "";
    $("#c-balance").textContent = money(c.balance);
    // a blocked card or customer can redeem nothing, whatever the balance
    $("#c-available").textContent = c.card_blocked || c.blocked ? "—" : money(c.redeemable_now ?? c.available);
    $("#c-held-row").hidden = !c.held;
    $("#c-held").textContent = money(c.held || 0);
    const warnings = [];
    if (c.card_blocked) warnings.push(c.card_status === "reassigned" ? t("warn_card_reassigned") : t("warn_card_blocked"));
    if (c.blocked) warnings.push(t("warn_customer_blocked"));
    if (c.link === "offline") warnings.push(t("warn_offline"));
    $("#c-warnings").replaceChildren(...warnings.map((text) => el("p", { class: "warning", role: "alert" }, text)));
    $("#c-messages").replaceChildren(...(c.messages || []).map((m) => el("li", { class: `message ${m.kind}` }, m.text)));
  }

  renderMode() {
    $$("[name=sale-mode]").forEach((radio) => {
      radio.checked = radio.value === this.state.mode;
    });
    $("#amount-mode").hidden = this.state.mode !== "amount";
    $("#lines-mode").hidden = this.state.mode !== "lines";
  }

  renderLines() {
    const rows = this.state.lines.map((line, i) => {
      const input = (field, mode, extra = {}) => el("input", {
        "data-field": field, value: line[field] ?? "", autocomplete: "off", inputmode: mode,
        "aria-label": t(`line_${field}`, { n: i + 1 }), placeholder: field === "name" ? t("line_name_placeholder") : "", ...extra,
      });
      return el("div", { class: "line", "data-index": String(i) },
        input("name", "text", { class: "name" }),
        input("quantity", "decimal", { class: "num" }),
        input("price", "decimal", { class: "num" }),
        input("discount", "decimal", { class: "num" }),
        input("category", "text", { class: "category" }),
        el("output", { class: "num amount", "aria-label": t("line_amount", { n: i + 1 }) }),
        el("button", { type: "button", class: "remove", "aria-label": t("line_remove", { n: i + 1 }), title: t("line_remove", { n: i + 1 }) }, "×"));
    });
    $("#lines").replaceChildren(...rows);
    $$("#lines .line", this.root).forEach((row) => this.renderLineAmount(row));
  }

  renderLineAmount(row) {
    const line = this.state.lines[Number(row.dataset.index)];
    const quantity = parseQuantity(line.quantity);
    const price = parseMinor(line.price);
    const discount = parseMinor(line.discount);
    const ok = price.value !== undefined && !quantity.error && !discount.error;
    const amount = ok ? lineAmount(price.value, quantity.value ?? 1000n, discount.value ?? 0n) : null;
    const output = $("output", row);
    output.textContent = amount !== null && amount >= 0n ? money(amount) : "";
    output.title = output.textContent; // the whole amount when the column is too narrow for it
  }

  renderTotals(built) {
    const total = built.lines.reduce((sum, line) => sum + BigInt(line.amount), 0n);
    const q = this.quote;
    const redeem = q ? BigInt(q.redeemed) : BigInt(built.redeem);
    $("#t-total").textContent = money(total);
    $("#t-accrued").textContent = q ? money(q.accrued) : "—";
    $("#t-max").textContent = this.maxRedeemable !== null && (q || this.maxRedeemable) ? money(this.maxRedeemable) : "—";
    const discount = q?.discount ? BigInt(q.discount) : 0n;
    $("#t-pay").textContent = money(total - discount - redeem > 0n ? total - discount - redeem : 0n);
    renderPromotions($("#t-promotions"), q);
    $("#redeem-max").disabled = !this.state.customer || !this.maxRedeemable || !!this.state.done || !!this.state.pending;
    $("#anonymous-hint").hidden = !!this.state.customer;
    this.renderCode(built);
  }

  // -- the redemption confirmation code

  /** The receipt's {id, code}, or undefined after saying what is missing beside the code box. */
  confirmationFor(built) {
    const box = $("#code-msg");
    const sent = this.state.confirmation;
    if (!sent) {
      say(box, "error", t("code_send_first"));
      this.renderCode(built);
      $("#code-send").focus();
      return undefined;
    }
    const code = (this.state.code ?? "").trim();
    if (!code) {
      say(box, "error", t("code_missing"));
    } else if (!/^\d{6}$/.test(code)) {
      say(box, "error", t("code_invalid"));
    } else {
      return { id: sent.id, code };
    }
    $("#code-input").setAttribute("aria-invalid", "true");
    $("#code-input").focus();
    return undefined;
  }

  /** Ask head office (through the agent) to send the customer a code for the points being redeemed. */
  async sendCode() {
    if (this.busy || this.state.done || this.state.pending) return;
    const box = $("#code-msg");
    const built = this.build(false);
    const customer = this.customerRef();
    if (built.problems.length || !built.redeem || !customer) {
      say(box, "error", built.problems.length ? built.problems.join(" ") : t("code_no_points"));
      return;
    }
    this.busy = true;
    say(box, "info", t("code_sending"));
    const result = await this.app.api.post("/v1/redemptions/code", { customer, redeem: built.redeem });
    this.busy = false;
    if (result.ok) {
      const a = result.body;
      this.state.confirmation = { id: a.confirmation_id, channel: a.channel, expires_at: a.expires_at, redeem: a.redeem };
      this.state.code = "";
      $("#code-input").value = "";
      say(box, "", "");
      this.save();
      this.renderCode(built);
      $("#code-input").focus();
    } else if (result.body?.code === "confirmation_not_required") {
      this.confirmRequired = false; // switched off meanwhile: the receipt goes without a code
      say(box, "", "");
      this.renderCode(built);
    } else {
      showProblem(box, result);
    }
  }

  /** A commit refused because of its code: said beside the code, with what to do next. */
  codeRefused(result) {
    const body = result.body;
    const box = $("#code-msg");
    const input = $("#code-input");
    if (body.code === "confirmation_required") {
      this.confirmRequired = true;
      this.state.confirmation = null;
      say(box, "error", t("code_send_first"));
    } else if (body.code === "confirmation_not_required") {
      this.confirmRequired = false;
      this.state.confirmation = null;
      sayProblem(box, result);
    } else if (body.code === "confirmation_failed") {
      sayProblem(box, result); // "the code is wrong: N attempt(s) left"
      this.state.code = "";
      input.setAttribute("aria-invalid", "true");
    } else if (NEW_CODE_NEEDED.includes(body.code)) {
      this.state.confirmation = null;
      this.state.code = "";
      if (body.code === "confirmation_points" && Number.isInteger(body.max_redeemable)) {
        say(box, "error", body.title, t("code_points", { max: money(body.max_redeemable) }));
      } else {
        const { title, detail } = problemText(result);
        say(box, "error", title, detail || t("code_again"));
      }
    } else {
      sayProblem(box, result); // confirmation_unavailable: offline, sell without redeeming
    }
    this.save();
    setTimeout(() => (this.state.confirmation ? input : $("#code-send")).focus(), 0);
  }

  /** The code box: shown while the customer redeems points at a store that confirms them with a code. */
  renderCode(built) {
    const needed = this.confirmRequired && !!this.state.customer && !this.state.done && (this.quote ? BigInt(this.quote.redeemed) > 0n : !!built.redeem);
    $("#code-box").hidden = !needed && !this.state.pending?.confirmation;
    const sent = this.state.confirmation;
    const line = $("#code-sent");
    line.hidden = !sent;
    $("#code-send").textContent = sent ? t("code_resend") : t("code_send");
    if (!sent) return;
    const channel = t(`channel_${sent.channel}`);
    const phone = this.state.customer?.phone;
    const until = shortTime(sent.expires_at);
    line.textContent = (sent.channel === "sms" || sent.channel === "voice") && phone
      ? t("code_sent_to", { channel, to: phone, until })
      : t("code_sent", { channel, until });
  }

  renderResult() {
    const done = this.state.done;
    $("#sale-result").hidden = !done;
    this.root.dataset.state = done ? "done" : "open";
    say($("#sale-result-msg"), "", "");
    if (!done) return;
    $("#r-title").textContent = done.replayed ? t("committed_again") : t("committed");
    $("#r-receipt").textContent = done.receipt_id;
    $("#r-total").textContent = money(done.total);
    $("#r-accrued").textContent = money(done.accrued);
    $("#r-redeemed").textContent = money(done.redeemed);
    $("#r-pay").textContent = money(BigInt(done.total) - BigInt(done.discount ?? 0) - BigInt(done.redeemed));
    renderPromotions($("#r-promotions"), done);
    $("#r-balance-row").hidden = done.balance === null;
    $("#r-balance").textContent = done.balance === null ? "" : money(done.balance);
  }

  /** Lock the purchase while a commit is on its way, after it (done) and while it waits for a retry. */
  renderLock() {
    const locked = this.busy || !!this.state.pending || !!this.state.done;
    $$("#purchase input, #purchase button:not(#commit):not(#new-sale)", this.root).forEach((node) => {
      node.disabled = locked;
    });
    $("#customer-clear").disabled = locked;
    const commit = $("#commit");
    commit.disabled = this.busy;
    commit.querySelector(".label").textContent = this.state.done ? t("new_sale") : this.state.pending ? t("retry_commit") : t("commit");
    $("#new-sale").hidden = !!this.state.done;
  }
}


/** Each promotion applied (name, points, money off) and each refused promo code (its problem's detail). */
function renderPromotions(list, answer) {
  list.replaceChildren();
  for (const p of answer?.promotions ?? []) {
    const item = document.createElement("li");
    item.className = "promotion";
    const parts = [p.name];
    if (p.points) parts.push(`+${money(p.points)}`);
    if (p.discount) parts.push(`−${money(p.discount)}`);
    item.textContent = parts.join("  ");
    list.append(item);
  }
  for (const problem of answer?.promo_code_problems ?? []) {
    const item = document.createElement("li");
    item.className = "promo-problem";
    item.textContent = `${problem.title}: ${problem.detail}`;
    list.append(item);
  }
}

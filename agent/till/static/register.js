// A new customer at the till: phone, card, name, consents; then the phone's confirmation code.

import { randomHex, uncertain } from "./api.js";
import { cardNumberOf } from "./scanner.js";
import { $, say, sayProblem, sendWrite, t } from "./ui.js";

/** "17.05" -> "--05-17" (year unknown), "17.05.1990" -> "1990-05-17", "" -> "", not a date -> null. */
export function parseBirthday(text) {
  const s = String(text ?? "").trim();
  if (!s) return "";
  const m = /^(\d{1,2})[./-](\d{1,2})(?:[./-](\d{4}))?$/.exec(s);
  if (!m) return null;
  const [day, month, year] = [Number(m[1]), Number(m[2]), m[3] ? Number(m[3]) : 2000]; // 2000: a leap year
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || year < 1900) return null;
  const mm = String(month).padStart(2, "0");
  const dd = String(day).padStart(2, "0");
  return m[3] ? `${m[3]}-${mm}-${dd}` : `--${mm}-${dd}`;
}

export class Register {
  constructor(app) {
    this.app = app;
    this.pending = null; // {body, key}: a registration that got no answer, retried unchanged
    this.customer = null; // the registration's answer
    this.confirmKey = null;
    $("#register-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    $("#confirm-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.confirm();
    });
    $("#reg-card").addEventListener("change", (event) => {
      event.target.value = cardNumberOf(event.target.value); // a swiped track: keep the card number
    });
    $("#reg-card").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault(); // a scanner's Enter must not submit the form half filled
        event.target.value = cardNumberOf(event.target.value);
        $("#reg-name").focus();
      }
    });
    $("#confirm-skip").addEventListener("click", () => this.toSale());
    $("#confirm-to-sale").addEventListener("click", () => this.toSale());
    $("#register-again").addEventListener("click", () => this.reset());
  }

  /** Open the form, prefilled with what the identify box had (an unknown card or phone). */
  start(ref) {
    this.reset();
    if (ref?.phone) $("#reg-phone").value = ref.phone;
    const card = ref?.card ?? ref?.barcode ?? (ref?.track ? cardNumberOf(ref.track) : "");
    if (card) $("#reg-card").value = card;
    this.app.showTab("register");
    (ref?.phone ? $("#reg-card") : $("#reg-phone")).focus();
  }

  reset() {
    if (this.pending) return;
    $("#register-form").reset();
    this.customer = null;
    say($("#register-msg"), "", "");
    say($("#confirm-msg"), "", "");
    $("#register-form").hidden = false;
    $("#confirm-step").hidden = true;
  }

  async submit() {
    const box = $("#register-msg");
    if (!this.pending) {
      const phone = $("#reg-phone").value.trim();
      const problems = [];
      if (!phone) problems.push(t("phone_missing"));
      if (!$("#reg-consent").checked) problems.push(t("consent_missing"));
      if (problems.length) {
        say(box, "error", problems.join(" "));
        return;
      }
      const body = { phone, consents: { personal_data: true, sms: $("#reg-sms").checked }, language: $("#reg-language").value };
      const card = cardNumberOf($("#reg-card").value);
      if (card) body.card = card;
      const name = $("#reg-name").value.trim();
      if (name) body.name = name;
      const birthday = parseBirthday($("#reg-birthday").value);
      if (birthday === null) {
        $("#reg-birthday").setAttribute("aria-invalid", "true");
        say(box, "error", t("birthday_invalid"));
        return;
      }
      $("#reg-birthday").removeAttribute("aria-invalid");
      if (birthday) body.birthday = birthday;
      this.pending = { body, key: `register-${randomHex(8)}` };
    }
    const write = { path: "/v1/customers", body: this.pending.body, headers: { "Idempotency-Key": this.pending.key } };
    const { result, unknown } = await sendWrite(this.app.api, write, box, t("retry_same_registration"));
    if (unknown) return;
    this.pending = null;
    if (!result.ok) return;
    say(box, "", "");
    this.customer = result.body;
    const c = result.body.customer;
    $("#register-form").hidden = true;
    $("#confirm-step").hidden = false;
    $("#confirm-who").textContent = t("registered_who", { name: c.name || t("no_name"), phone: c.phone || "" });
    $("#confirm-code").value = "";
    $("#confirm-done").hidden = true;
    $("#confirm-form").hidden = false;
    $("#confirm-code").focus();
  }

  async confirm() {
    const box = $("#confirm-msg");
    const code = $("#confirm-code").value.trim();
    if (!/^\d{6}$/.test(code)) {
      say(box, "error", t("code_invalid"));
      return;
    }
    // a new key per code typed: a retry after no answer reuses it, another code gets its own
    if (!this.confirmKey || this.confirmKey.code !== code) this.confirmKey = { code, key: `confirm-${randomHex(8)}` };
    const id = encodeURIComponent(this.customer.customer_id);
    const result = await this.app.api.post(`/v1/customers/${id}/confirm`, { code }, { "Idempotency-Key": this.confirmKey.key });
    if (!result.ok) {
      if (!uncertain(result)) this.confirmKey = null;
      sayProblem(box, result);
      return;
    }
    say(box, "ok", t("phone_confirmed"));
    $("#confirm-form").hidden = true;
    $("#confirm-done").hidden = false;
    $("#confirm-to-sale").focus();
  }

  /** Continue to the sale with the new customer. */
  async toSale() {
    const { customer_id: id, customer } = this.customer;
    this.app.showTab("sale");
    // by the new card if there is one: the receipt then records the card, as with a scan
    const result = await this.app.api.post("/v1/identify", customer.card ? { card: customer.card } : { id });
    if (result.ok) this.app.sale.setCustomer(result.body);
    else sayProblem($("#identify-msg"), result);
    this.reset();
  }
}

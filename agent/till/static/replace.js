// A lost or damaged card replaced by a new number at the till (POST /v1/cards/{card}/replace): the balance stays.

import { randomHex } from "./api.js";
import { cardNumberOf } from "./scanner.js";
import { $, say, sendWrite, t } from "./ui.js";

export class ReplaceCard {
  constructor(app) {
    this.app = app;
    this.pending = null; // {old, body, key}: a replacement that got no answer, retried unchanged
    $("#replace-open").addEventListener("click", () => this.open());
    $("#replace-cancel").addEventListener("click", () => this.close());
    $("#replace-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  open() {
    say($("#replace-msg"), "", "");
    $("#replace-form").hidden = false;
    $("#replace-open").hidden = true;
    $("#replace-new").value = "";
    $("#replace-new").focus();
  }

  close() {
    if (this.pending) return; // sent without an answer: only the same replacement may go again
    $("#replace-form").hidden = true;
    $("#replace-open").hidden = false;
  }

  async submit() {
    const box = $("#replace-msg");
    if (!this.pending) {
      const customer = this.app.sale.state.customer;
      const number = cardNumberOf($("#replace-new").value.trim()); // a swiped track: its card number
      if (!number) {
        say(box, "error", t("replace_number_missing"));
        return;
      }
      const body = { new_card: number, status: $("#replace-status").value };
      this.pending = { old: customer.card, body, key: `replace-${randomHex(8)}` };
    }
    const { old, body, key } = this.pending;
    const write = { path: `/v1/cards/${encodeURIComponent(old)}/replace`, body, headers: { "Idempotency-Key": key } };
    const { result, unknown } = await sendWrite(this.app.api, write, box, t("retry_same_replacement"));
    if (unknown) return;
    this.pending = null;
    if (!result.ok) return;
    this.close();
    // the customer by the new card, as a scan of it would show them (the receipt then records it)
    const answer = await this.app.api.post("/v1/identify", { card: result.body.new_card });
    if (answer.ok) this.app.sale.setCustomer(answer.body);
    say(box, "ok", t("card_replaced", { card: result.body.new_card }), t("card_replaced_detail"));
  }
}

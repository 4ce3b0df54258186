// Returns: this terminal's recent receipts; refund some lines (or all), cancel one of the open shift, reprint its slip.

import { randomHex } from "./api.js";
import { formatMinor, formatQuantity, parseQuantity, quantityString, quantityThousandths } from "./money.js";
import { $, el, fmt, say, sayProblem, sendWrite, shortTime, t } from "./ui.js";

const LIMIT = 20;

function money(minor) {
  return formatMinor(minor, fmt);
}

export class Receipts {
  constructor(app) {
    this.app = app;
    this.receipts = [];
    this.selected = null; // receipt_id
    this.pending = null; // {receiptId, path, body, headers}: a refund or cancel that got no answer
    $("#receipts-reload").addEventListener("click", () => this.load());
  }

  async load() {
    const box = $("#receipts-msg");
    const result = await this.app.api.get(`/v1/receipts?limit=${LIMIT}`);
    if (!result.ok) {
      sayProblem(box, result);
      return;
    }
    this.receipts = result.body.receipts;
    this.renderList();
    const selected = this.receipts.find((r) => r.receipt_id === this.selected);
    if (selected) this.renderDetail(selected);
    else {
      this.selected = null;
      $("#receipt-detail").replaceChildren(el("p", { class: "hint" }, this.receipts.length ? t("pick_receipt") : t("no_receipts")));
    }
  }

  renderList() {
    const items = this.receipts.map((r) => {
      const status = r.status === "cancelled" ? t("status_cancelled") : r.refunded_amount ? t("status_refunded", { amount: money(r.refunded_amount) }) : "";
      return el("li", {},
        el("button", {
          type: "button", class: "receipt-item", "aria-pressed": String(r.receipt_id === this.selected),
          "data-receipt": r.receipt_id, onclick: () => this.select(r.receipt_id),
        },
        el("span", { class: "time" }, shortTime(r.committed_at)),
        el("span", { class: "who" }, r.customer_name || (r.card ? `…${r.card.slice(-4)}` : t("anonymous"))),
        el("span", { class: "num" }, money(r.total)),
        status ? el("span", { class: `badge ${r.status}` }, status) : null));
    });
    $("#receipt-list").replaceChildren(...items);
  }

  select(receiptId) {
    if (this.pending && this.pending.receiptId !== receiptId) {
      say($("#receipts-msg"), "warning", t("pending_title"), t("pending_refund_detail"));
      return;
    }
    this.selected = receiptId;
    say($("#receipts-msg"), "", "");
    this.renderList();
    this.renderDetail(this.receipts.find((r) => r.receipt_id === receiptId));
  }

  renderDetail(r) {
    const left = (line) => quantityThousandths(line.quantity) - quantityThousandths(line.refunded_quantity);
    const open = r.status === "committed" && r.lines.some((line) => left(line) > 0n);
    const rows = r.lines.map((line) => {
      const rest = left(line);
      return el("tr", { "data-index": String(line.index) },
        el("td", {}, line.name || line.sku || t("line_n", { n: line.index + 1 })),
        el("td", { class: "num" }, formatQuantity(quantityThousandths(line.quantity), fmt)),
        el("td", { class: "num" }, formatQuantity(quantityThousandths(line.refunded_quantity), fmt)),
        el("td", { class: "num" }, money(line.amount)),
        el("td", {}, el("input", {
          class: "num refund-qty", inputmode: "decimal", autocomplete: "off", "data-left": rest.toString(),
          "aria-label": t("refund_quantity_of", { name: line.name || t("line_n", { n: line.index + 1 }) }),
          placeholder: "0", disabled: !open || rest <= 0n,
        })));
    });
    const box = el("div", { id: "refund-msg", class: "msg", role: "alert", hidden: true });
    const detail = [
      el("h2", {}, t("receipt_title", { receipt: r.receipt_id })),
      el("p", { class: "receipt-meta" },
        `${shortTime(r.committed_at)} · ${r.customer_name || r.card || t("anonymous")} · ${t("total_is", { amount: money(r.total) })}`,
        el("br"), t("points_of_receipt", { accrued: money(r.accrued), redeemed: money(r.redeemed) })),
      r.status === "cancelled" ? el("p", { class: "warning" }, t("status_cancelled")) : null,
      el("div", { class: "table-wrap" }, el("table", { class: "refund-lines" },
        el("thead", {}, el("tr", {},
          el("th", {}, t("col_item")), el("th", { class: "num" }, t("col_quantity")), el("th", { class: "num" }, t("col_returned")),
          el("th", { class: "num" }, t("col_amount")), el("th", {}, t("col_return_now")))),
        el("tbody", {}, rows))),
      box,
      el("div", { class: "actions" },
        el("button", { type: "button", id: "refund-all", disabled: !open, onclick: () => this.fillAll() }, t("refund_select_all")),
        el("button", { type: "button", id: "refund-submit", class: "primary", disabled: !open, onclick: () => this.refund(r) }, t("refund_submit")),
        r.cancellable && open ? el("button", { type: "button", id: "cancel-receipt", class: "danger", onclick: (e) => this.cancel(r, e.currentTarget) }, t("cancel_receipt")) : null,
        el("button", { type: "button", id: "receipt-reprint", onclick: () => this.app.reprint(r.receipt_id, box) }, t("reprint"))),
    ];
    $("#receipt-detail").replaceChildren(...detail.filter(Boolean));
  }

  fillAll() {
    document.querySelectorAll("#receipt-detail .refund-qty").forEach((input) => {
      if (!input.disabled) input.value = formatQuantity(BigInt(input.dataset.left), fmt);
    });
  }

  async refund(r) {
    const box = $("#refund-msg");
    let pending = this.pending?.kind === "refund" ? this.pending : null;
    if (this.pending && !pending) {
      say(box, "warning", t("pending_title"), t("pending_refund_detail"));
      return;
    }
    if (!pending) {
      const lines = [];
      const problems = [];
      document.querySelectorAll("#receipt-detail tbody tr").forEach((row) => {
        const input = row.querySelector(".refund-qty");
        input.removeAttribute("aria-invalid");
        if (input.disabled || !input.value.trim()) return;
        const quantity = parseQuantity(input.value);
        const name = row.firstChild.textContent;
        if (quantity.error) problems.push(t("refund_quantity_invalid", { name }));
        else if (quantity.value > BigInt(input.dataset.left)) {
          problems.push(t("refund_more_than_left", { name, left: formatQuantity(BigInt(input.dataset.left), fmt) }));
        } else {
          lines.push({ index: Number(row.dataset.index), quantity: quantityString(quantity.value) });
          return;
        }
        input.setAttribute("aria-invalid", "true");
      });
      if (problems.length) {
        say(box, "error", problems.join(" "));
        return;
      }
      if (!lines.length) {
        say(box, "error", t("refund_nothing"));
        return;
      }
      pending = { kind: "refund", receiptId: r.receipt_id, path: `/v1/receipts/${encodeURIComponent(r.receipt_id)}/refund`, body: { refund_id: `${r.receipt_id}-R${randomHex(3)}`.slice(-100), lines } };
    }
    await this.send(pending, box, (answer) => t("refund_done", {
      amount: money(answer.amount), accrued: money(answer.accrued), redeemed: money(answer.redeemed),
    }));
  }

  async cancel(r, button) {
    if (button.dataset.armed !== "1") {
      button.dataset.armed = "1";
      button.textContent = t("cancel_confirm");
      return;
    }
    if (this.pending && this.pending.kind !== "cancel") {
      say($("#refund-msg"), "warning", t("pending_title"), t("pending_refund_detail"));
      return;
    }
    const pending = this.pending ?? {
      kind: "cancel", receiptId: r.receipt_id, path: `/v1/receipts/${encodeURIComponent(r.receipt_id)}/cancel`, body: {},
      headers: { "Idempotency-Key": `cancel-${r.receipt_id}-${randomHex(4)}` },
    };
    await this.send(pending, $("#refund-msg"), (answer) => t("cancel_done", {
      amount: money(answer.amount), accrued: money(answer.accrued), redeemed: money(answer.redeemed),
    }));
  }

  /** Send a refund or cancel; keep it for an unchanged retry when no answer came. */
  async send(pending, box, describe) {
    this.pending = pending;
    const { result, unknown } = await sendWrite(this.app.api, pending, box, t("retry_same_refund"));
    if (unknown) return;
    this.pending = null;
    if (!result.ok) return;
    const answer = result.body;
    await this.load();
    const after = answer.balance === null ? "" : ` ${t("balance_now", { balance: money(answer.balance) })}`;
    say($("#refund-msg"), "ok", describe(answer), after.trim());
  }
}

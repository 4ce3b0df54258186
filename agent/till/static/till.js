// The cashier page ("virtual till"): terminal key, tabs, agent status, and the three screens.
//
// The terminal's API key is entered once (or arrives in the link that
// `loyalty-agent terminals add ID --till` prints, after "#key=") and is kept
// in localStorage; every call sends it as a Bearer header (docs/agent.md).

import { Api } from "./api.js";
import { Receipts } from "./receipts.js";
import { Register } from "./register.js";
import { ReplaceCard } from "./replace.js";
import { Sale } from "./sale.js";
import { attachScanner } from "./scanner.js";
import { listenForIdentifications } from "./stream.js";
import { $, $$, clock, config, problemText, say, sayProblem, t } from "./ui.js";

const KEY = "till.key";
const HEALTH_EVERY_MS = 30000;

const app = {
  api: new Api(null, config.lang),
  terminal: null,
  tab: "sale",
  sale: null,
  receipts: null,
  register: null,
  stream: null,

  onSale() {
    return this.tab === "sale" && document.body.dataset.screen === "till";
  },

  showTab(name) {
    this.tab = name;
    $$("[role=tab]").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === name)));
    $$("[role=tabpanel]").forEach((panel) => {
      panel.hidden = panel.id !== name;
    });
    if (name === "receipts") this.receipts.load();
    if (name === "sale") $("#identify-input").focus();
  },

  async reprint(receiptId, box) {
    say(box, "info", t("sending"));
    const result = await this.api.post(`/v1/receipts/${encodeURIComponent(receiptId)}/reprint`);
    if (result.ok) say(box, "ok", t("reprint_queued"));
    else sayProblem(box, result);
  },
};

// -- the terminal key

function keyFromLink() {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search); // out of the address bar and history
  return decodeURIComponent(match[1]);
}

function showSetup(message) {
  document.body.dataset.screen = "setup";
  $("#setup-current").hidden = !app.terminal;
  $("#setup-current").textContent = app.terminal ? t("setup_current", { terminal: app.terminal }) : "";
  $("#setup-actions").hidden = !app.terminal;
  if (message) say($("#setup-msg"), "error", message.title, message.detail);
  $("#key-input").focus();
}

async function tryKey(key) {
  const probe = new Api(key, config.lang);
  const result = await probe.get("/v1/terminal");
  if (!result.ok) return result;
  localStorage.setItem(KEY, key);
  app.api.key = key;
  return result;
}

$("#setup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("#key-input").value.trim();
  if (!key) {
    say($("#setup-msg"), "error", t("key_missing"));
    return;
  }
  const result = await tryKey(key);
  if (result.status === 401) {
    say($("#setup-msg"), "error", result.body?.title || t("key_rejected"), t("key_rejected_detail"));
    return;
  }
  if (!result.ok) {
    sayProblem($("#setup-msg"), result);
    return;
  }
  if (app.terminal && app.terminal !== result.body.terminal) {
    location.reload(); // another terminal: start clean with its own sale and receipts
    return;
  }
  $("#key-input").value = "";
  say($("#setup-msg"), "", "");
  start(result.body);
});

$("#setup-forget").addEventListener("click", () => {
  localStorage.removeItem(KEY);
  location.reload(); // a device without a key: nothing of the terminal stays on screen
});

$("#settings-button").addEventListener("click", () => showSetup());
$("#setup-back").addEventListener("click", () => {
  if (app.terminal && app.api.key) document.body.dataset.screen = "till";
});

app.api.onUnauthorized = (result) => {
  localStorage.removeItem(KEY);
  if (app.stream) app.stream.close();
  showSetup({ title: result.body?.title || t("key_rejected"), detail: t("key_rejected_detail") });
};

// -- the agent's state

async function health() {
  const sent = Date.now();
  const result = await app.api.get("/v1/health");
  const received = Date.now();
  const chip = $("#link-status");
  if (!result.ok) {
    chip.textContent = t("agent_unreachable");
    chip.dataset.kind = "error";
    return;
  }
  const h = result.body;
  // receipt times come from the agent's clock: a tablet's own clock may be off
  clock.offset = Date.parse(h.time) - Math.round((sent + received) / 2);
  // a standalone store has no link to lose: nothing to say
  const states = { standalone: ["", "info"], online: ["link_online", "ok"], offline: ["link_offline", "warning"] };
  const [text, kind] = h.rules_version === null ? ["no_rules", "error"] : states[h.link] ?? ["link_offline", "warning"];
  chip.textContent = text ? t(text) : "";
  chip.dataset.kind = kind;
}

function start(terminal) {
  const first = !app.sale;
  app.terminal = terminal.terminal;
  $("#terminal-name").textContent = terminal.name ? `${terminal.terminal} · ${terminal.name}` : terminal.terminal;
  document.body.dataset.screen = "till";
  if (first) {
    app.sale = new Sale(app);
    app.receipts = new Receipts(app);
    app.register = new Register(app);
    app.replace = new ReplaceCard(app);
    attachScanner({ input: $("#identify-input"), onScan: (text) => app.sale.identify(text), active: () => app.onSale() });
    $$("[role=tab]").forEach((tab) => tab.addEventListener("click", () => app.showTab(tab.dataset.tab)));
    setInterval(health, HEALTH_EVERY_MS);
  }
  if (app.stream) app.stream.close();
  app.stream = listenForIdentifications({
    key: app.api.key,
    onIdentification: (answer) => {
      if (app.tab !== "sale") app.showTab("sale");
      app.sale.setCustomer(answer);
    },
    onState: (state) => {
      document.body.dataset.stream = state;
      $("#reader-status").hidden = state !== "live";
    },
  });
  app.showTab(app.tab);
}

async function boot() {
  await health();
  const linked = keyFromLink();
  const key = linked ?? localStorage.getItem(KEY);
  if (!key) {
    showSetup();
    return;
  }
  const result = await tryKey(key);
  if (result.ok) {
    start(result.body);
    return;
  }
  if (result.status === 401) localStorage.removeItem(KEY);
  const { title, detail } = problemText(result);
  showSetup({ title, detail: result.status === 401 ? t("key_rejected_detail") : detail });
}

boot();

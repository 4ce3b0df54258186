"""The whole chain on one machine, on embedded defaults: ``./scripts/demo``.

Starts, under ``var/demo/`` (wiped at each start):

* the central server (``loyalty-central serve``) with its embedded MQTT broker
  and a SQLite ledger, one store S001 with the example rule set;
* a simulated card reader and receipt printer on pseudo-terminals
  (``loyalty-sim``), exactly as a technician would rehearse a store;
* a store agent enrolled with the central server (``loyalty-agent setup
  --enroll``), using that reader and printer, serving the POS API and the
  cashier page.

Then it walks through a sale the way a till would (register a customer, swipe
their card, commit a purchase with the POS API, print the slip, see the event
applied centrally), prints where to look, and keeps everything running until
Ctrl-C. ``--once`` stops after the walk-through (tests/test_demo.py runs it).
Before the walk-through it loads a real chain's year (``loyalty-central demo-data
completejourney``: 457 stores, 2,469 customers, 1.47M receipt lines) when the demo
extra is installed; ``--small`` leaves it out (the walk-through alone).
No external service is needed; every port is a free loopback port.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CARD = "7700000000000008"  # Luhn-valid in the demo's card range 7700, 16 digits
PHONE = "+7 912 345-67-89"
ADMIN_PASSWORD = "demo-admin-1"  # the demo's console login (admin); a real install asks for one


def free_port(preferred: int = 0) -> int:
    """``preferred`` if it is free on 127.0.0.1 (stable URLs for a person), else any free port."""
    import socket

    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise SystemExit("demo: no free TCP port on 127.0.0.1")


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(0.2)
    raise SystemExit(f"demo: gave up waiting for {what} (see the *.log files of the demo's folder)")


def http(method: str, url: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Chain:
    """The processes of the demo; stops them all on exit."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: list[subprocess.Popen[bytes]] = []
        self.api_token = ""  # for the JSON API (loyalty-central tokens add)
        self.env = {
            **os.environ,
            "LOYALTY_CENTRAL_DATABASE": json.dumps(str(work / "central.sqlite")),
            "LOYALTY_CENTRAL_EMBEDDED_BROKER_PORT": str(free_port(1883)),
            "LOYALTY_AGENT_CONFIG": str(work / "agent.toml"),
        }

    def run(self, *args: str) -> str:
        """Run a command to completion; its output, or exit with it."""
        done = subprocess.run(
            [str(BIN / args[0]), *args[1:]], env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"demo: {' '.join(args[:3])} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("wb")
        process = subprocess.Popen([str(BIN / args[0]), *args[1:]], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def chain(work: Path) -> Iterator[Chain]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    running = Chain(work)
    try:
        yield running
    finally:
        running.stop()


def start_central(c: Chain, small: bool = True) -> str:
    store_out = c.run(
        "loyalty-central", "stores", "add", "S001", "--name", "Магазин на Лесной", "--timezone", "Europe/Moscow"
    )
    token = store_out.strip().splitlines()[-1]
    c.run("loyalty-central", "rules", "publish", str(ROOT / "docs" / "examples" / "rules.json"), "--store", "S001")
    c.run(
        "loyalty-central",
        "users",
        "add",
        "admin",
        "--role",
        "admin",
        "--name",
        "Demo Administrator",
        "--password",
        ADMIN_PASSWORD,
    )
    c.api_token = c.run("loyalty-central", "tokens", "add", "demo").strip()  # reads the JSON API (store status)
    if not small:
        real_year(c)
    port = free_port(8000)
    c.start("central", "loyalty-central", "serve", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http("GET", f"{url}/health")[0] == 200, "the central server")
    step(f"central server on {url} (embedded MQTT broker, ledger {shown(c.work / 'central.sqlite')})")
    return url, token  # type: ignore[return-value]


def start_devices(c: Chain) -> tuple[Path, Path]:
    reader, printer = c.work / "reader", c.work / "printer"
    c.start(
        "printer",
        "loyalty-sim",
        "printer",
        "--pty",
        "--link",
        str(printer),
        "--out",
        str(c.work / "slips"),
        "--control",
        str(c.work / "printer.ctl"),
    )
    c.start("reader", "loyalty-sim", "reader", "--pty", "--link", str(reader), "--control", str(c.work / "reader.ctl"))
    wait_for(lambda: reader.exists() and printer.exists() and (c.work / "reader.ctl").exists(), "the simulators")
    step(f"simulated card reader on {shown(reader)}, receipt printer on {shown(printer)}")
    return reader, printer


def start_agent(c: Chain, central: str, token: str, reader: Path, printer: Path) -> tuple[str, str, str]:
    port = free_port(8765)
    c.run(
        "loyalty-agent",
        "setup",
        "--no-input",
        "--config",
        str(c.work / "agent.toml"),
        "--enroll",
        token,
        "--central",
        central,
        "--terminals",
        "P01",
        "--database",
        str(c.work / "agent.sqlite"),
        "--listen-port",
        str(port),
        "--timezone",
        "Europe/Moscow",
        "--card-ranges",
        "7700:16:luhn",
        "--reader-kind",
        "serial",
        "--reader-url",
        str(reader),
        "--printer-kind",
        "serial",
        "--printer-url",
        str(printer),
        "--store-name",
        "Магазин на Лесной",
    )
    till = c.run(
        "loyalty-agent",
        "terminals",
        "add",
        "P01",
        "--name",
        "Касса 1",
        "--till",
        "--till-url",
        f"http://127.0.0.1:{port}",
    )
    key = next(line.strip() for line in till.splitlines() if line.strip().startswith("lk_"))
    link = next(word for line in till.splitlines() for word in line.split() if "/till/#key=" in word)
    c.start("agent", "loyalty-agent", "serve")
    url = f"http://127.0.0.1:{port}"
    health = wait_for(
        lambda: (h := http("GET", f"{url}/v1/health")[1]) and h.get("rules_version") and h,
        "the agent and its rule set",
        60,
    )
    step(f"store agent S001 on {url}: rule set v{health['rules_version']} came down from the central server")
    return url, key, link


def walk_through(c: Chain, central: str, agent: str, key: str) -> None:
    status, customer = http(
        "POST",
        f"{agent}/v1/customers",
        {
            "phone": PHONE,
            "card": CARD,
            "name": "Анна Петрова",
            "consents": {"personal_data": True, "sms": True},
        },
        key,
    )
    assert status in (200, 201), customer
    step(f"registered {customer['customer']['name']} at the till with card {CARD} (usable at once)")
    leveled = wait_for(
        lambda: (
            (r := http("POST", f"{agent}/v1/identify", {"card": CARD}, key))[0] == 200 and r[1].get("level") and r[1]
        ),
        "the customer's level from the central server",
        60,
    )
    step(f"the central server applied the registration and sent her level down: {leveled['level']}")
    subprocess.run(
        [str(BIN / "loyalty-sim"), "control", str(c.work / "reader.ctl"), "swipe", CARD],
        check=True,
        capture_output=True,
        env=c.env,
    )
    seen = wait_for(
        lambda: (r := http("GET", f"{agent}/v1/identifications/last", key=key))[0] == 200 and r[1], "the swipe"
    )
    step(f"card swiped on the reader: the till sees {seen['name']}, balance {money(seen['balance'])}")
    body = {
        "receipt_id": f"S001-P01-{int(time.time())}",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "customer": {"card": CARD},
        "lines": [
            {
                "sku": "SKU-1",
                "name": "Суши Дракон",
                "category": "SUSHI",
                "quantity": "1",
                "price": 45000,
                "amount": 45000,
            },
            {"sku": "TEA", "name": "Чай", "quantity": "2", "price": 12050, "discount": 1000, "amount": 23100},
        ],
    }
    status, receipt = http("POST", f"{agent}/v1/receipts", body, key)
    assert status in (200, 201), receipt
    step(
        f"purchase {money(receipt['total'])} committed: {money(receipt['accrued'])} points accrued, "
        f"balance {money(receipt['balance'])}"
    )
    slip = wait_for(lambda: sorted((c.work / "slips").glob("slip-*.txt")), "the slip", 30)[-1]
    step(f"the printer printed {shown(slip)} (and a .png):")
    print("\n".join("      | " + line for line in slip.read_text(encoding="utf-8").splitlines()))
    applied = wait_for(lambda: _applied(central, c.api_token), "the central ledger", 60)
    step(
        f"the central ledger applied agent {applied['agent']}'s events 1..{applied['applied_seq']} "
        "(registration, purchase) over MQTT"
    )


def live_stream(c: Chain, central: str, agent: str, key: str, count: int) -> None:
    """A few hundred of the real year's baskets rung up at the running agent, up to the central ledger over MQTT."""
    if count <= 0:
        return
    sys.path.insert(0, str(ROOT))
    from central.services.demo_data import DemoDataMissing, live_receipts

    try:
        receipts = live_receipts(count)
    except DemoDataMissing:
        step("live receipts skipped: the demo data is not installed (pip install -e '.[demo]')")
        return
    clock = time.perf_counter()
    accrued, lines, cards, refused = 0, 0, set(), []
    for body in receipts:
        status, answer = http("POST", f"{agent}/v1/receipts", body, key)
        if status not in (200, 201):
            refused.append(f"{body['receipt_id']}: {answer}")
            continue
        accrued += answer["accrued"]
        lines += len(body["lines"])
        cards.add(body["customer"]["card"])
    rung = time.perf_counter() - clock
    sold = len(receipts) - len(refused)
    step(
        f"{sold} real Complete Journey baskets ({lines} lines, {len(cards)} households showing a card) rung up at"
        f" agent S001 through the POS API in {rung:.1f} s ({sold / rung:.0f} receipts/s): {money(accrued)} points"
        " accrued" + (f"; {len(refused)} refused, e.g. {refused[0]}" if refused else "")
    )
    wait_for(
        lambda: http("GET", f"{agent}/v1/health")[1].get("outbox_depth") == 0,
        "the agent's outbox to drain",
        max(60, sold),
    )
    applied = _applied(central, c.api_token) or {}
    step(
        f"the agent's outbox drained over MQTT {time.perf_counter() - clock - rung:.1f} s after the last sale: the"
        f" central ledger applied agent {applied.get('agent')}'s events up to {applied.get('applied_seq')}"
    )


def _applied(central: str, api_token: str) -> dict[str, Any] | None:
    status, body = http("GET", f"{central}/api/v1/stores/status", key=api_token)
    for store in body.get("stores", []):
        for agent in store.get("agents", []):
            if (agent.get("applied_seq") or 0) >= 2:
                return {"agent": agent["id"], "applied_seq": agent["applied_seq"]}
    return None


def money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{cents:02d}".replace(",", " ")


def shown(path: Path) -> str:
    """A path as a person at the repository's top would type it."""
    with contextlib.suppress(ValueError):
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    return str(path)


def real_year(c: Chain) -> None:
    """The Complete Journey year as a chain (loyalty-central demo-data completejourney), if the data is there."""
    step("a real chain's year: the Dunnhumby Complete Journey data (1.47M receipt lines) into the ledger")
    done = subprocess.run(
        [str(BIN / "loyalty-central"), "demo-data", "completejourney"],
        env=c.env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )  # the progress bars go to the terminal
    if done.returncode != 0:
        step("the demo data is not available (pip install -e '.[demo]'): the small walk-through only")
        return
    step(done.stdout.strip().splitlines()[-1])


def step(text: str) -> None:
    print(f"  * {text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="stop after the walk-through")
    parser.add_argument(
        "--small",
        action="store_true",
        help="only the one-sale walk-through, without the real year (loyalty-central demo-data)",
    )
    parser.add_argument(
        "--live",
        type=int,
        default=300,
        metavar="N",
        help="real receipts rung up at the running agent at the end (0: none; needs the demo extra)",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "demo", help="folder of databases, logs, slips")
    args = parser.parse_args()
    print("loyalty-edge demo: a central server, one store agent, a simulated card reader and printer")
    with chain(args.work) as c:
        central, token = start_central(c, small=args.small)
        reader, printer = start_devices(c)
        agent, key, link = start_agent(c, central, token, reader, printer)
        walk_through(c, central, agent, key)
        live_stream(c, central, agent, key, args.live)
        print(
            f"""
Everything is running (logs and databases in {shown(c.work)}):
  cashier page     {link}
  POS API          {agent}/openapi.json   (terminal P01, key {key})
  console          {central}/   (login admin, password {ADMIN_PASSWORD}; Russian, English at the top)
  store status     curl -H "Authorization: Bearer {c.api_token}" {central}/api/v1/stores/status
  swipe a card     .venv/bin/loyalty-sim control {shown(c.work / "reader.ctl")} swipe {CARD}
  printer faults   .venv/bin/loyalty-sim control {shown(c.work / "printer.ctl")} paper out   (then: paper in)
  printed slips    {shown(c.work / "slips")}/
""",
            flush=True,
        )
        if args.once:
            return
        print("Ctrl-C stops the demo.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()

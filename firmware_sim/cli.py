"""``loyalty-sim``: simulated card readers and receipt printers."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from .control import CommandError, ControlServer, send_command

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option("-v", "--verbose", is_flag=True, help="Log every command and byte count.")
def cli(verbose: bool) -> None:
    """Simulated card readers and ESC/POS receipt printers for loyalty-edge."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


def _announce(lines: list[str]) -> None:
    # stdout carries only what the agent connects to, one per line, so scripts can read it
    for line in lines:
        click.echo(line)
    sys.stdout.flush()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@cli.command()
@click.option("--pty", "use_pty", is_flag=True, help="Listen on a new pseudo-terminal; prints its path.")
@click.option("--link", type=click.Path(dir_okay=False), help="Also make a symlink to the pty at this path.")
@click.option(
    "--tcp",
    "tcp_port",
    type=click.IntRange(0, 65535),
    help="Listen on this TCP port (0: any free port), like a network printer's 9100.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("slips"),
    show_default=True,
    help="Folder for slip-NNNN.txt and .png.",
)
@click.option(
    "--columns",
    type=click.IntRange(16, 80),
    default=42,
    show_default=True,
    help="Characters per line (42: 80 mm paper, 32: 58 mm).",
)
@click.option(
    "--control", type=click.Path(dir_okay=False), help="Unix socket for fault commands (see `loyalty-sim control`)."
)
@click.option("--paper-out", is_flag=True, help="Start with no paper.")
@click.option("--near-end", is_flag=True, help="Start with the paper near its end.")
@click.option("--cover-open", is_flag=True, help="Start with the cover open.")
@click.option("--offline", is_flag=True, help="Start offline.")
@click.option("--delay", type=click.FloatRange(0), default=0.0, help="Seconds before each status answer.")
@click.option("--paper-out-after", type=click.IntRange(1), help="Run out of paper after this many printed lines.")
def printer(
    use_pty, link, tcp_port, out_dir, columns, control, paper_out, near_end, cover_open, offline, delay, paper_out_after
) -> None:  # type: ignore[no-untyped-def]
    """Run a simulated ESC/POS receipt printer until interrupted.

    Parses what the agent sends (text in the selected code page, CP866 for
    Russian; bold, sizes, alignment, barcodes, QR codes, cuts), answers
    status queries (DLE EOT) like an Epson TM-T88, and renders every slip as
    text and PNG in --out. Prints the pty path and/or host:port first.

    Example:

    \b
        loyalty-sim printer --pty --link /tmp/printer --control /tmp/printer.ctl
        loyalty-sim printer --tcp 9100 --out /tmp/slips --paper-out-after 5
    """
    from .printer_app import PrinterApp

    if not use_pty and tcp_port is None:
        raise click.UsageError("give --pty and/or --tcp PORT")
    app = PrinterApp(out_dir, columns, pty=use_pty, link=link, tcp=tcp_port, control=control)
    paper = "out" if paper_out else "near_end" if near_end else "ok"
    app.printer.set_fault(
        paper=paper, cover_open=cover_open, offline=offline, delay=delay, paper_lines_left=paper_out_after
    )
    _announce(app.endpoints())
    try:
        _wait_for_signal()
    finally:
        app.close()


@cli.command()
@click.option("--pty", "use_pty", is_flag=True, required=True, help="Emit on a new pseudo-terminal; prints its path.")
@click.option(
    "--link", type=click.Path(dir_okay=False), help="Symlink to the pty at this path (stays valid across disconnects)."
)
@click.option(
    "--framing",
    type=click.Choice(["line", "stx-etx", "stx-etx-lrc"]),
    default="line",
    show_default=True,
    help="How a swipe is framed on the wire.",
)
@click.option(
    "--tracks", type=click.Choice(["1", "2", "12"]), default="2", show_default=True, help="Tracks a swipe carries."
)
@click.option("--track-lrc", is_flag=True, help="Send each track's ISO 7811 LRC character after its end sentinel.")
@click.option("--aim", is_flag=True, help="Prefix scans with AIM symbology identifiers (]E0, ]C0, ]Q1).")
@click.option("--baud", type=int, default=9600, show_default=True, help="The reader's baud rate.")
@click.option("--bytesize", type=click.Choice(["7", "8"]), default="8", show_default=True)
@click.option("--parity", type=click.Choice(["N", "E", "O"]), default="N", show_default=True)
@click.option("--card", "cards_", multiple=True, help="Swipe this card (repeatable), after the agent opens the port.")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML/JSON file of commands (see firmware_sim/scenarios/).",
)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read commands from standard input, one per line.")
@click.option("--control", type=click.Path(dir_okay=False), help="Unix socket accepting the same commands.")
@click.option("--seed", type=int, default=0, help="Seed of the line-noise generator.")
def reader(
    use_pty, link, framing, tracks, track_lrc, aim, baud, bytesize, parity, cards_, scenario, from_stdin, control, seed
) -> None:  # type: ignore[no-untyped-def]
    """Run a simulated card reader / barcode scanner on a pty.

    Commands: swipe CARD [TRACKS], scan TEXT, qr TEXT, noise N, partial CARD,
    raw HEX, disconnect SECONDS, unplug, plug, wait-open [SECONDS],
    sleep SECONDS, framing NAME, status. --card and --scenario wait until the
    agent opens the port; then the reader keeps running (for --stdin and
    --control) until interrupted, or exits when only --card/--scenario was given.

    Example:

    \b
        loyalty-sim reader --pty --link /tmp/reader --card 7700000000000017
        loyalty-sim reader --pty --framing stx-etx-lrc --stdin
        loyalty-sim reader --pty --scenario firmware_sim/scenarios/noisy_line.yaml
    """
    from .reader_app import ReaderApp, load_scenario

    suffix = b"\r"
    app = ReaderApp(link, framing, tracks, track_lrc, suffix, b"\r\n", aim, baud, int(bytesize), parity, seed)
    server = ControlServer(control, app.handle) if control else None
    _announce([app.port.path])
    lines = [f"swipe {c}" for c in cards_]
    if scenario is not None:
        try:
            lines += load_scenario(scenario)
        except CommandError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        if lines:
            app.handle("wait-open 60")
            for line in lines:
                _run(app, line)
        if from_stdin:
            for raw in sys.stdin:
                if raw.strip() and not raw.lstrip().startswith("#"):
                    _run(app, raw.strip())
        elif control or not lines:
            _wait_for_signal()
        else:
            # give the agent time to read the last frame before the pty closes
            threading.Event().wait(1.0)
    finally:
        if server is not None:
            server.close()
        app.close()


def _run(app, line: str) -> None:  # type: ignore[no-untyped-def]
    try:
        click.echo(f"ok {app.handle(line)}", err=True)
    except CommandError as exc:
        click.echo(f"error {exc}", err=True)


@cli.command()
@click.argument("socket_path", type=click.Path(dir_okay=False))
@click.argument("command", nargs=-1, required=True)
def control(socket_path: str, command: tuple[str, ...]) -> None:
    """Send one command to a running simulator's control socket and print the answer.

    Example:

    \b
        loyalty-sim control /tmp/printer.ctl paper out
        loyalty-sim control /tmp/printer.ctl status
        loyalty-sim control /tmp/reader.ctl swipe 7700000000000017
    """
    try:
        click.echo(send_command(socket_path, " ".join(command)))
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"no simulator listens on {socket_path}: {exc.strerror or exc}") from None

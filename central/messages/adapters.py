"""Channel adapters: one interface, one class per way of sending.

``adapter.send(message)`` hands one message to the channel and returns the gateway's id for it
(or None); it raises :class:`TemporaryFailure` (try again later: connection refused, 4xx SMTP
reply, HTTP 5xx or 429) or :class:`PermanentFailure` (this message can never go: 5xx SMTP reply
for the recipient, HTTP 4xx). Every message carries its idempotency key, which adapters pass on
where the peer can use it: the email's ``Message-ID`` (and ``X-Loyalty-Key``), the SMS gateway's
``{key}`` placeholder. See docs/messages.md for at-least-once towards gateways.

The cashier adapter is different: it writes into the central database inside the sender's
transaction (:meth:`CashierAdapter.send_in`), so a cashier message is exactly once.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from typing import Any

from shared.errors import LoyaltyError


class TemporaryFailure(Exception):
    """Sending failed for now; the sender tries again later."""


class PermanentFailure(Exception):
    """This message can never be sent (the recipient was refused, the gateway said no)."""


class ChannelSettingsError(LoyaltyError, ValueError):
    code = "channel_settings"
    status = 422


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """One message as an adapter sees it."""

    id: int
    key: str  # the idempotency key: cause/customer/channel
    channel: str
    kind: str  # marketing or service
    to: str  # email address, phone, chat id; empty for cashier messages
    subject: str
    body: str
    customer_id: str
    unsubscribe_url: str = ""


class Adapter:
    channel = ""

    def send(self, message: Outgoing) -> str | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


# -- email over SMTP --------------------------------------------------------------------------------

SECURITY = ("none", "starttls", "tls")


def check_smtp(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """Checked SMTP settings (host, port, security, username, sender, sender_name, timeout)."""
    errors = []
    host = str(settings.get("host") or "").strip()
    if not host:
        errors.append("host: the SMTP server's name is needed")
    try:
        port = int(settings.get("port") or 0)
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError):
        errors.append("port: 1..65535")
        port = 0
    security = settings.get("security") or "starttls"
    if security not in SECURITY:
        errors.append(f"security: one of {', '.join(SECURITY)}")
    sender = str(settings.get("sender") or "").strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", sender):
        errors.append("sender: an email address")
    username = str(settings.get("username") or "").strip()
    if username and not secrets.get("password"):
        errors.append("password: needed with a username")
    if errors:
        raise ChannelSettingsError("; ".join(errors))
    return {
        "host": host,
        "port": port,
        "security": security,
        "username": username,
        "sender": sender,
        "sender_name": str(settings.get("sender_name") or ""),
        "timeout": float(settings.get("timeout") or 30),
        "verify_tls": bool(settings.get("verify_tls", True)),
    }


class SmtpAdapter(Adapter):
    """Email over SMTP (smtplib): plain, STARTTLS or TLS, with login; one connection kept open."""

    channel = "email"

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], *, ssl_context: ssl.SSLContext | None = None):
        self.settings = check_smtp(settings, secrets)
        self.password = secrets.get("password", "")
        self.ssl_context = ssl_context or ssl.create_default_context()
        if not self.settings["verify_tls"] and ssl_context is None:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s["security"] == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s["host"], s["port"], timeout=s["timeout"], context=self.ssl_context)
        else:
            smtp = smtplib.SMTP(s["host"], s["port"], timeout=s["timeout"])
        try:
            smtp.ehlo()
            if s["security"] == "starttls":
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if s["username"]:
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        user, password = self.settings["username"], self.password
        if (user + password).isascii():
            smtp.login(user, password)
            return
        # smtplib encodes credentials as ASCII; AUTH PLAIN is UTF-8 (RFC 4616), so send it ourselves
        import base64

        blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
        code, text = smtp.docmd("AUTH", "PLAIN " + blob)
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, text)

    def message(self, message: Outgoing) -> EmailMessage:
        s = self.settings
        mail = EmailMessage()
        mail["From"] = email.utils.formataddr((s["sender_name"], s["sender"])) if s["sender_name"] else s["sender"]
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = email.utils.formatdate(localtime=False)
        domain = s["sender"].rpartition("@")[2]
        digest = hashlib.sha256(message.key.encode()).hexdigest()[:32]
        # the same message always has the same Message-ID: a resend after a crash can be deduplicated
        mail["Message-ID"] = f"<{digest}@{domain}>"
        mail["X-Loyalty-Key"] = digest
        if message.kind == "marketing" and message.unsubscribe_url:
            mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        mail.set_content(message.body, charset="utf-8")
        return mail

    def send(self, message: Outgoing) -> str | None:
        mail = self.message(message)
        for attempt in (1, 2):  # a kept connection may have been closed by the server: one reconnect
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                refused = self._smtp.send_message(mail)
                if refused:
                    code, text = next(iter(refused.values()))
                    raise PermanentFailure(f"SMTP {code}: {text.decode(errors='replace')}")
                return mail["Message-ID"]
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                failure = PermanentFailure if code >= 500 else TemporaryFailure
                raise failure(f"SMTP {code}: {text.decode(errors='replace')}") from None
            except smtplib.SMTPResponseException as exc:
                self.close()
                error = exc.smtp_error
                text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
                if isinstance(exc, smtplib.SMTPAuthenticationError):
                    raise TemporaryFailure(f"SMTP login refused ({exc.smtp_code}): {text}") from None
                failure = PermanentFailure if exc.smtp_code >= 500 else TemporaryFailure
                raise failure(f"SMTP {exc.smtp_code}: {text}") from None
            except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                self.close()
                if attempt == 2:
                    raise TemporaryFailure(f"SMTP connection: {exc}") from None
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise TemporaryFailure(f"SMTP: {exc}") from None
        return None  # unreachable

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


# -- SMS and voice through an HTTP gateway ----------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(phone|text|key|sender|secret:[A-Za-z0-9_]+)\}")
METHODS = ("GET", "POST", "PUT")
BODY_FORMATS = ("json", "form", "raw")


def check_http(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """Checked gateway settings: method, url, headers, body, body_format, id_field, error_field, timeout."""
    errors = []
    method = str(settings.get("method") or "POST").upper()
    if method not in METHODS:
        errors.append(f"method: one of {', '.join(METHODS)}")
    url = str(settings.get("url") or "").strip()
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or not urllib.parse.urlsplit(url).netloc:
        errors.append("url: an http:// or https:// address")
    headers = settings.get("headers") or {}
    if not isinstance(headers, dict) or any(re.search(r"[\r\n]", f"{k}{v}") for k, v in headers.items()):
        errors.append("headers: names and values on one line each")
        headers = {}
    body_format = settings.get("body_format") or "json"
    if body_format not in BODY_FORMATS:
        errors.append(f"body_format: one of {', '.join(BODY_FORMATS)}")
    body = str(settings.get("body") or "")
    for where in [url, body, *map(str, headers.values())]:
        for name in re.findall(r"\{secret:([A-Za-z0-9_]+)\}", where):
            if name not in secrets:
                errors.append(f"secret {name}: used in the request but not given")
    if "{phone}" not in url + body or "{text}" not in url + body:
        errors.append("the request must carry {phone} and {text} (in the URL or the body)")
    if errors:
        raise ChannelSettingsError("; ".join(errors))
    return {
        "method": method,
        "url": url,
        "headers": {str(k): str(v) for k, v in headers.items()},
        "body": body,
        "body_format": body_format,
        "id_field": str(settings.get("id_field") or ""),
        "error_field": str(settings.get("error_field") or ""),
        "sender": str(settings.get("sender") or ""),
        "timeout": float(settings.get("timeout") or 30),
        # the webhook's fields (services/messages.py gateway_report): kept when given
        **{k: str(settings[k]).strip() for k in REPORT_FIELDS if str(settings.get(k) or "").strip()},
    }


#: the delivery-report webhook's settings of an HTTP gateway (docs/messages.md)
REPORT_FIELDS = (
    "report_id_field",
    "report_status_field",
    "delivered_values",
    "failed_values",
    "reply_phone_field",
    "reply_text_field",
)


def _dig(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


class HttpGatewayAdapter(Adapter):
    """SMS or voice through a gateway's HTTP API, described by a request template.

    Placeholders ``{phone}``, ``{text}``, ``{key}`` (the idempotency key), ``{sender}`` and
    ``{secret:NAME}`` are filled in the URL (percent-encoded), the headers and the body (escaped
    for ``body_format``: a JSON string's inside, form encoding, or raw).
    """

    def __init__(self, channel: str, settings: dict[str, Any], secrets: dict[str, str]):
        self.channel = channel
        self.settings = check_http(settings, secrets)
        self.secrets = dict(secrets)

    def _values(self, message: Outgoing) -> dict[str, str]:
        values = {"phone": message.to, "text": message.body, "key": message.key, "sender": self.settings["sender"]}
        values.update({f"secret:{k}": v for k, v in self.secrets.items()})
        return values

    @staticmethod
    def _fill(template: str, values: dict[str, str], escape: Any) -> str:
        return _PLACEHOLDER.sub(lambda m: escape(values.get(m.group(1), "")), template)

    def request(self, message: Outgoing) -> urllib.request.Request:
        s, values = self.settings, self._values(message)
        url = self._fill(s["url"], values, lambda v: urllib.parse.quote(v, safe=""))
        escape = {
            "json": lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
            "form": lambda v: urllib.parse.quote_plus(v),
            "raw": lambda v: v,
        }[s["body_format"]]
        data = self._fill(s["body"], values, escape).encode() if s["body"] else None
        headers = {k: self._fill(v, values, lambda v: re.sub(r"[\r\n]", " ", v)) for k, v in s["headers"].items()}
        if data is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = {
                "json": "application/json; charset=utf-8",
                "form": "application/x-www-form-urlencoded",
                "raw": "text/plain; charset=utf-8",
            }[s["body_format"]]
        headers.setdefault("Idempotency-Key", message.key)
        return urllib.request.Request(url, data=data, headers=headers, method=s["method"])

    def send(self, message: Outgoing) -> str | None:
        s = self.settings
        try:
            with urllib.request.urlopen(self.request(message), timeout=s["timeout"]) as response:
                raw = response.read(1 << 20)
        except urllib.error.HTTPError as exc:
            text = exc.read(500).decode(errors="replace")
            if exc.code == 429 or exc.code >= 500:
                raise TemporaryFailure(f"gateway HTTP {exc.code}: {text}") from None
            raise PermanentFailure(f"gateway HTTP {exc.code}: {text}") from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise TemporaryFailure(f"gateway: {exc}") from None
        try:
            doc = json.loads(raw) if raw.strip() else None
        except ValueError:
            doc = None
        if s["error_field"] and doc is not None and _dig(doc, s["error_field"]):
            raise PermanentFailure(f"gateway refused: {_dig(doc, s['error_field'])}")
        if s["id_field"] and doc is not None:
            ident = _dig(doc, s["id_field"])
            return None if ident is None else str(ident)
        return None


# -- the till ---------------------------------------------------------------------------------------


class CashierAdapter(Adapter):
    """A message for the cashier, shown on the customer's next identification (customer_messages).

    Written in the sender's own transaction with an id derived from the outbox row, so it is
    exactly once; the customer's new version takes it down to every store (sync.md).
    """

    channel = "cashier"

    def send_in(self, conn: Any, message: Outgoing, now: str) -> str:
        from ..points.versions import bump_versions
        from ..storage.messages import add_cashier_message_once

        ident = f"out{message.id}"
        add_cashier_message_once(conn, ident, message.customer_id, message.body[:500], now)
        bump_versions(conn, [message.customer_id])
        return ident


# -- Telegram (Bot API) ------------------------------------------------------------------------------


def check_telegram(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """Checked Telegram settings: bot_name (for start links), api_url (the Bot API's address)."""
    errors = []
    bot = str(settings.get("bot_name") or "").strip().lstrip("@")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", bot):
        errors.append("bot_name: the bot's user name, like ShopClubBot")
    api = str(settings.get("api_url") or "https://api.telegram.org").rstrip("/")
    if urllib.parse.urlsplit(api).scheme not in ("http", "https"):
        errors.append("api_url: an http:// or https:// address")
    if not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", secrets.get("token", "")):
        errors.append("token: the bot's token from @BotFather, like 123456:ABC...")
    if errors:
        raise ChannelSettingsError("; ".join(errors))
    return {"bot_name": bot, "api_url": api, "timeout": float(settings.get("timeout") or 30)}


class TelegramAdapter(Adapter):
    """Telegram through the Bot API's sendMessage, to the chat the customer linked by a start link.

    The Bot API has no idempotency key: a resend after a crash between send and mark arrives twice.
    """

    channel = "telegram"

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str]):
        self.settings = check_telegram(settings, secrets)
        self.token = secrets["token"]

    def send(self, message: Outgoing) -> str | None:
        s = self.settings
        data = json.dumps({"chat_id": message.to, "text": message.body}).encode()
        request = urllib.request.Request(
            f"{s['api_url']}/bot{self.token}/sendMessage",
            data=data,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=s["timeout"]) as response:
                doc = json.loads(response.read(1 << 20) or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                text = json.loads(exc.read(2000)).get("description", "")
            except ValueError:
                text = ""
            if exc.code == 429 or exc.code >= 500:
                raise TemporaryFailure(f"Telegram {exc.code}: {text}") from None
            raise PermanentFailure(f"Telegram {exc.code}: {text}") from None  # 403: the customer blocked the bot
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TemporaryFailure(f"Telegram: {exc}") from None
        if not doc.get("ok"):
            raise PermanentFailure(f"Telegram: {doc.get('description', 'not ok')}")
        return str((doc.get("result") or {}).get("message_id", "")) or None


def build(channel: str, settings: dict[str, Any], secrets: dict[str, str]) -> Adapter:
    """The adapter for a configured channel; :class:`ChannelSettingsError` for bad settings,
    a plain LoyaltyError for a channel this version cannot send on yet."""
    if channel == "email":
        return SmtpAdapter(settings, secrets)
    if channel in ("sms", "voice"):
        return HttpGatewayAdapter(channel, settings, secrets)
    if channel == "cashier":
        return CashierAdapter()
    if channel == "telegram":
        return TelegramAdapter(settings, secrets)
    raise LoyaltyError(f"the {channel} channel is not implemented yet (docs/messages.md)")


def check(channel: str, settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The settings checked for ``channel`` (what is saved)."""
    if channel == "email":
        return check_smtp(settings, secrets)
    if channel in ("sms", "voice"):
        return check_http(settings, secrets)
    if channel == "cashier":
        return {}
    if channel == "telegram":
        return check_telegram(settings, secrets)
    raise LoyaltyError(f"the {channel} channel is not implemented yet (docs/messages.md)")

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

import base64
import dataclasses
import email.utils
import hashlib
import http.client
import json
import re
import smtplib
import socket
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
    html: str = ""  # email: an HTML alternative of the text (tracked links and the opening pixel)


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
    dkim_selector = str(settings.get("dkim_selector") or "").strip()
    dkim_domain = str(settings.get("dkim_domain") or "").strip().lower() or sender.rpartition("@")[2].lower()
    dkim_public = ""
    if dkim_selector or secrets.get("dkim_key"):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", dkim_selector):
            errors.append("dkim_selector: a DNS label such as mail2026 (needed with a DKIM key)")
        try:
            dkim_public = dkim_public_key(secrets.get("dkim_key", ""))
        except ValueError as exc:
            errors.append(f"dkim_key: {exc}")
    if errors:
        raise ChannelSettingsError("; ".join(errors))
    return {
        **(
            {"dkim_selector": dkim_selector, "dkim_domain": dkim_domain, "dkim_public": dkim_public}
            if dkim_public
            else {}
        ),
        "host": host,
        "port": port,
        "security": security,
        "username": username,
        "sender": sender,
        "sender_name": str(settings.get("sender_name") or ""),
        "timeout": float(settings.get("timeout") or 30),
        "verify_tls": bool(settings.get("verify_tls", True)),
    }


def pem_key(text: str) -> bytes:
    """A PEM private key as typed into a one-line input too (line breaks turned into spaces)."""
    match = re.search(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", text or "", re.S)
    if not match:
        raise ValueError("a PEM private key (-----BEGIN PRIVATE KEY----- ...)")
    body = re.sub(r"\s+", "", match.group(2))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {match.group(1)}-----", *lines, f"-----END {match.group(1)}-----"]) + "\n").encode()


def dkim_public_key(text: str) -> str:
    """The ``p=`` value of the DNS TXT record for a DKIM private key (RSA of 1024 bits or more)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem_key(text), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a usable private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 1024:
        raise ValueError("an RSA key of 1024 bits or more (2048 recommended)")
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


#: headers a DKIM signature covers (those present in the message)
DKIM_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
]


class SmtpAdapter(Adapter):
    """Email over SMTP (smtplib): plain, STARTTLS or TLS, with login; one connection kept open."""

    channel = "email"

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], *, ssl_context: ssl.SSLContext | None = None):
        self.settings = check_smtp(settings, secrets)
        self.password = secrets.get("password", "")
        self._dkim_key = pem_key(secrets["dkim_key"]) if self.settings.get("dkim_public") else None
        self._ssl_context = ssl_context
        self._smtp: smtplib.SMTP | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """Made at the first TLS connection: loading the system's CA certificates costs ~0.1-0.4 s of CPU,
        which every sender worker's adapter paid even for a plain connection."""
        if self._ssl_context is None:
            context = ssl.create_default_context()
            if not self.settings["verify_tls"]:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl_context = context
        return self._ssl_context

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

        blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
        code, text = smtp.docmd("AUTH", "PLAIN " + blob)
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, text)

    def message(self, message: Outgoing) -> EmailMessage:
        """The email as a parsed message (what :meth:`raw` sends)."""
        import email.policy

        parsed = email.message_from_bytes(self.raw(message)[1], policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def raw(self, message: Outgoing) -> tuple[str, bytes]:
        """(Message-ID, the email's bytes): text/plain UTF-8 in base64, non-ASCII headers as RFC 2047 words.

        Written by hand rather than with ``email.message.EmailMessage``, whose header objects cost
        ~4 ms a message: the sender's CPU, not the network, was what held emails/s down."""
        s = self.settings
        domain = s["sender"].rpartition("@")[2]
        digest = hashlib.sha256(message.key.encode()).hexdigest()[:32]
        # the same message always has the same Message-ID: a resend after a crash can be deduplicated
        message_id = f"<{digest}@{domain}>"
        sender = f"{_word(s['sender_name'], 6, fold=False)} <{s['sender']}>" if s["sender_name"] else s["sender"]
        headers = [
            f"From: {sender}",
            f"To: {_line(message.to)}",
            f"Subject: {_word(message.subject, 9)}",
            f"Date: {email.utils.formatdate(localtime=False)}",
            f"Message-ID: {message_id}",
            f"X-Loyalty-Key: {digest}",
        ]
        if message.kind == "marketing" and message.unsubscribe_url:
            headers.append(f"List-Unsubscribe: <{_line(message.unsubscribe_url)}>")
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")  # RFC 8058

        def part(text: str) -> bytes:
            return base64.encodebytes(text.replace("\r\n", "\n").replace("\n", "\r\n").encode()).replace(b"\n", b"\r\n")

        headers.append("MIME-Version: 1.0")
        if message.html:
            boundary = f"=_{digest}"
            headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
            body = (
                b"".join(
                    f'--{boundary}\r\nContent-Type: text/{kind}; charset="utf-8"\r\n'
                    f"Content-Transfer-Encoding: base64\r\n\r\n".encode()
                    + part(text)
                    for kind, text in (("plain", message.body), ("html", message.html))
                )
                + f"--{boundary}--\r\n".encode()
            )
        else:
            headers += ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64"]
            body = part(message.body)
        raw = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
        if self._dkim_key is not None:
            import dkim

            present = {h.split(":", 1)[0].lower().encode() for h in headers}
            signature = dkim.sign(
                raw,
                s["dkim_selector"].encode(),
                s["dkim_domain"].encode(),
                self._dkim_key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[h for h in DKIM_HEADERS if h in present],
            )
            raw = signature + raw
        return message_id, raw

    def send(self, message: Outgoing) -> str | None:
        message_id, raw = self.raw(message)
        for attempt in (1, 2):  # a kept connection may have been closed by the server: one reconnect
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                refused = self._smtp.sendmail(self.settings["sender"], [message.to], raw)
                if refused:
                    code, text = next(iter(refused.values()))
                    raise PermanentFailure(f"SMTP {code}: {text.decode(errors='replace')}")
                return message_id
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


def _line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _word(value: str, used: int, *, fold: bool = True) -> str:
    """A header value: as it is when ASCII, else RFC 2047 base64 words of whole characters, folded (a display
    name stays one word: readers join folded words of an address with spaces)."""
    value = _line(value)
    if value.isascii() and len(value) + used <= 998:
        return value
    if not fold:
        return f"=?utf-8?b?{base64.b64encode(value.encode()).decode('ascii')}?="
    words, chunk = [], ""
    for char in value:
        if len((chunk + char).encode()) > 45:  # 45 bytes = 60 base64 characters: lines under 78
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode('ascii')}?=" for w in words if w)


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
        self._conn: http.client.HTTPConnection | None = None
        self._conn_key: tuple[str, str] | None = None

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
        status, raw = self._exchange(self.request(message))
        if status == 429 or status >= 500:
            raise TemporaryFailure(f"gateway HTTP {status}: {raw[:500].decode(errors='replace')}")
        if status >= 400:
            raise PermanentFailure(f"gateway HTTP {status}: {raw[:500].decode(errors='replace')}")
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

    def _exchange(self, request: urllib.request.Request) -> tuple[int, bytes]:
        """(status, body) over a kept-alive connection to the gateway (one per host); a connection the
        gateway closed while idle is opened again once (the request never reached it)."""
        parts = urllib.parse.urlsplit(request.full_url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        for attempt in (1, 2):
            reused = self._conn is not None and self._conn_key == (parts.scheme, parts.netloc)
            if not reused:
                self.close()
                factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                self._conn = factory(parts.netloc, timeout=self.settings["timeout"])
                self._conn_key = (parts.scheme, parts.netloc)
            conn = self._conn
            assert conn is not None
            try:
                if conn.sock is None:
                    conn.connect()
                    # small requests on a kept-alive connection: Nagle would hold each one for the last ACK
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.request(
                    request.get_method(),
                    target,
                    body=request.data,
                    headers={k.title(): v for k, v in request.header_items()},
                )
                response = conn.getresponse()
                raw = response.read(1 << 20)
                if response.will_close:
                    self.close()
                return response.status, raw
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if not reused or attempt == 2:
                    raise TemporaryFailure(f"gateway: {exc}") from None
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self.close()
                raise TemporaryFailure(f"gateway: {exc}") from None
        raise TemporaryFailure("gateway: no answer")  # unreachable

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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

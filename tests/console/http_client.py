"""A small cookie-keeping HTTP client for the console tests (standard library only)."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import urlencode, urlsplit


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def hidden(self, name: str) -> str:
        """The value of a hidden form field on the page."""
        match = re.search(rf'name="{name}" value="([^"]*)"', self.text)
        assert match, f"no field {name} on the page"
        return match.group(1)


@dataclass
class ConsoleClient:
    url: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                origin: str | None = None) -> Reply:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if origin is not None:
            headers["Origin"] = origin
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            conn.close()
        for cookie in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str], origin: str | None = None) -> Reply:
        return self.request("POST", path, form, origin)

    def login(self, name: str, credential: str) -> Reply:
        page = self.get("/login")
        return self.post("/login", {"login_csrf": page.hidden("login_csrf"), "name": name,
                                    "credential": credential})

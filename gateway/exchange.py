"""What passes through one HTTP exchange, for middleware that reports on it."""

from starlette.types import Message, Receive, Send


class ExchangeMeter:
    """Wraps an exchange's receive and send to note the status and the body bytes each way,
    optionally adding response headers."""

    def __init__(
        self, receive: Receive, send: Send, extra_headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self._receive = receive
        self._send = send
        self._extra_headers = extra_headers or []
        # What the client gets if the app raises before responding.
        self.status = 500
        self.bytes_in = 0
        self.bytes_out = 0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.bytes_in += len(message.get("body", b""))
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self._extra_headers:
                message["headers"] = [*message.get("headers", []), *self._extra_headers]
        elif message["type"] == "http.response.body":
            self.bytes_out += len(message.get("body", b""))
        await self._send(message)

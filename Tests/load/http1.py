"""A minimal HTTP/1.1 client on asyncio for the load test: one request per connection, as the
agent's libcurl does (a fresh easy handle per request), to 127.0.0.1 only.

Written on `asyncio.Protocol` rather than streams because of one case that matters here: the
collector may answer 429 before it has read a large upload and then close the connection.
A `StreamReader` that sees the reset raises even when the whole answer is already in its
buffer; this protocol parses what arrived first, so an answer that was sent is counted as
an answer, and only a connection that ended without a complete answer is a failure.
"""
import asyncio
import time

HOST = "127.0.0.1"


class NoAnswer(Exception):
    """The connection ended, failed or timed out before a complete HTTP answer arrived."""

    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # "refused", "reset", "closed", "timeout", "malformed"
        self.detail = detail


class Answer:
    """A complete HTTP answer."""

    def __init__(self, status, headers, body, early, seconds, connect_seconds):
        self.status = status
        # Of `seconds`, how long the TCP connection took to open.
        self.connect_seconds = connect_seconds
        self.headers = headers  # lower-case names
        self.body = body
        # The answer came before the whole request body had left this process.
        self.early = early
        self.seconds = seconds

    def header(self, name):
        return self.headers.get(name.lower())


class _Exchange(asyncio.Protocol):
    def __init__(self, loop):
        self.done = loop.create_future()
        self.buf = bytearray()
        self.transport = None
        self.answer_at_write_buffer = 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        self._parse(final=False)

    def eof_received(self):
        self._parse(final=True)
        return False

    def connection_lost(self, exc):
        self._parse(final=True, error=exc)

    def _finish(self, result):
        if not self.done.done():
            if isinstance(result, Exception):
                self.done.set_exception(result)
            else:
                self.answer_at_write_buffer = self.transport.get_write_buffer_size() if self.transport else 0
                self.done.set_result(result)

    def _parse(self, final, error=None):
        if self.done.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if final:
                what = "reset" if isinstance(error, ConnectionResetError) else "closed"
                self._finish(NoAnswer(what, f"connection ended after {len(self.buf)} bytes of answer ({error or 'EOF'})"))
            return
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self._finish(NoAnswer("malformed", f"status line {lines[0][:80]!r}"))
            return
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_start = end + 4
        if status in (204, 304) or 100 <= status < 200:
            self._finish((status, headers, b""))
            return
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, complete = _dechunk(self.buf, body_start)
            if complete:
                self._finish((status, headers, body))
            elif final:
                self._finish(NoAnswer("closed", f"chunked answer {status} cut short ({error or 'EOF'})"))
            return
        if "content-length" in headers:
            length = int(headers["content-length"])
            if len(self.buf) - body_start >= length:
                self._finish((status, headers, bytes(self.buf[body_start:body_start + length])))
            elif final:
                self._finish(NoAnswer("closed", f"answer {status} cut short: {len(self.buf) - body_start} of {length} body bytes ({error or 'EOF'})"))
            return
        if final:
            self._finish((status, headers, bytes(self.buf[body_start:])))


def _dechunk(buf, start):
    body = bytearray()
    i = start
    while True:
        eol = buf.find(b"\r\n", i)
        if eol < 0:
            return body, False
        size = int(bytes(buf[i:eol]).split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(body), buf.find(b"\r\n", eol + 2) >= 0
        if len(buf) < eol + 2 + size + 2:
            return body, False
        body += buf[eol + 2:eol + 2 + size]
        i = eol + 2 + size + 2


async def request(port, method, path, headers, body, timeout):
    """Sends one request on a new connection to 127.0.0.1:`port`; returns an `Answer`.

    Raises `NoAnswer` when no complete answer arrived within `timeout` seconds.
    """
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "User-Agent: helpline-load/0.1.0", "Accept: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        head.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
    transport = None
    try:
        async with asyncio.timeout(timeout):
            try:
                transport, exchange = await loop.create_connection(lambda: _Exchange(loop), HOST, port)
            except ConnectionRefusedError as e:
                raise NoAnswer("refused", str(e))
            except OSError as e:
                raise NoAnswer("refused", f"connect: {e}")
            connected = time.monotonic() - start
            transport.write(data)
            status, answer_headers, answer_body = await exchange.done
            early = exchange.answer_at_write_buffer > 0
            return Answer(status, answer_headers, answer_body, early, time.monotonic() - start, connected)
    except TimeoutError:
        raise NoAnswer("timeout", f"no complete answer within {timeout:.0f} s")
    finally:
        if transport is not None:
            # Nothing left to send: close politely (FIN), as curl does. Otherwise the answer came
            # first and the rest of the body is not wanted: abort instead of flushing it.
            if transport.get_write_buffer_size() == 0:
                transport.close()
            else:
                transport.abort()

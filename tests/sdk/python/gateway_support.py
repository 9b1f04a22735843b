"""Helpers for the gateway tests: a backend on loopback that says what it received, and a TLS
client that sends a chosen SNI name to Coffer's port and reports the certificate it was served."""

import hashlib
import http.client
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        out = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Backend", "echo")
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


class Backend:
    """An HTTP echo server on 127.0.0.1 in a thread; `url` is its base URL."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def served_certificate(port, sni, timeout=10):
    """Completes a TLS handshake with 127.0.0.1:port sending `sni`; returns the SHA-1 thumbprint
    (uppercase hex) of the leaf certificate served. The certificate is not verified: a vault's
    self-signed certificate is what is being checked."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    return hashlib.sha1(der).hexdigest().upper()


def gateway_request(port, host, method, path, headers=None, body=None, timeout=15):
    """Sends one request to Coffer's port with SNI and Host `host`; returns (status, headers,
    body bytes, leaf thumbprint)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    class _Conn(http.client.HTTPSConnection):
        def connect(self):
            raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            self.sock = ctx.wrap_socket(raw, server_hostname=host)

    conn = _Conn(host, port, timeout=timeout, context=ctx)
    try:
        conn.request(method, path, body=body, headers={"Host": f"{host}:{port}", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        thumb = hashlib.sha1(conn.sock.getpeercert(binary_form=True)).hexdigest().upper()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, thumb
    finally:
        conn.close()

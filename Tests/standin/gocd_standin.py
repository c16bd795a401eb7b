#!/usr/bin/env python3
"""A loopback stand-in for a GoCD server, built from what GoCD's source does; the behaviour it reproduces is
written down in docs/gocd-api.md (and README: "The GoCD side").

It serves GET /go/api/admin/config/server/site_urls with GoCD's rules (exact Accept, 401/403/404/503, JSON
bodies), /go/api/version, and echoes every other request as JSON so a test can see what a proxy forwarded
(Host, X-Forwarded-*, Upgrade). Its behaviour is changed while it runs through POST /_control (JSON).

Usage: gocd_standin.py --port 0 --port-file PATH [--tls-cert C --tls-key K] [--token T | --user U --password P]
                       [--site-url URL] [--secure-site-url URL]
"""
import argparse
import base64
import hashlib
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCEPT = "application/vnd.go.cd.v1+json"
SITE_URLS_PATH = "/go/api/admin/config/server/site_urls"


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.site_url = args.site_url
        self.secure_site_url = args.secure_site_url
        self.token = args.token
        self.user = args.user
        self.password = args.password
        self.admin = True
        # normal | starting | backup | error500 | not_found | redirect | garbage | html | slow | huge | reset |
        # missing_field | null_field
        self.mode = "normal"
        self.slow_seconds = 30
        self.version = "26.1.0"
        self.requests = []  # site-URL API requests: headers as seen
        self.paths = []  # every GET path, in order (what reached "GoCD")

    @property
    def security_enabled(self):
        return bool(self.token or self.user)

    def snapshot(self):
        with self.lock:
            return {
                "site_url": self.site_url, "secure_site_url": self.secure_site_url, "mode": self.mode,
                "admin": self.admin, "api_requests": len(self.requests), "requests": self.requests[-50:],
                "paths": self.paths[-500:],
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without TCP_NODELAY, Nagle plus delayed ACKs adds 40 ms
    # to every keep-alive request, which Jetty does not.
    disable_nagle_algorithm = True
    server_version = "Jetty(standin)"

    def log_message(self, fmt, *args):  # quiet
        pass

    @property
    def state(self):
        return self.server.state

    def send(self, status, body, content_type="application/json;charset=utf-8", extra=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Set-Cookie", "JSESSIONID=standin%d; Path=/go; HttpOnly" % int(time.time() * 1000))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def message(self, status, text, extra=None):
        self.send(status, json.dumps({"message": text}, indent=2), extra=extra)

    # --- control --------------------------------------------------------------------------------
    def do_POST(self):
        if self.path != "/_control":
            return self.message(405, "standin: only GET")
        length = int(self.headers.get("Content-Length", "0"))
        change = json.loads(self.rfile.read(length) or b"{}")
        with self.state.lock:
            for key, value in change.items():
                setattr(self.state, key, value)
        self.send(200, json.dumps({"ok": True}))

    # --- GoCD -----------------------------------------------------------------------------------
    def authenticate(self):
        """Returns None when the request may go on, or sends the 401/403 GoCD would and returns False."""
        st = self.state
        auth = self.headers.get("Authorization")
        if not st.security_enabled:
            if auth:
                kind = "Bearer" if auth.lower().startswith("bearer ") else "Basic"
                self.message(401, f"{kind} authentication credentials are not required, since security has been disabled on this server.")
                return False
            return None
        if not auth:
            self.message(401, "You are not authenticated!", {"WWW-Authenticate": 'Basic realm="GoCD"'})
            return False
        if auth.lower().startswith("bearer "):
            if auth[7:] != st.token or not st.token:
                self.message(401, "Invalid Personal Access Token.")
                return False
        elif auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                user, password = None, None
            if not st.user or user != st.user or password != st.password:
                self.message(401, "Invalid credentials. Either your username and password are incorrect, or there is a problem with your browser cookies. Please check with your administrator.",
                             {"WWW-Authenticate": 'Basic realm="GoCD"'})
                return False
        else:
            self.message(401, "You are not authenticated!", {"WWW-Authenticate": 'Basic realm="GoCD"'})
            return False
        if not st.admin:
            self.message(403, "You are not authorized to access this resource!", {"WWW-Authenticate": 'Basic realm="GoCD"'})
            return False
        return None

    def site_urls(self):
        st = self.state
        with st.lock:
            st.requests.append({"accept": self.headers.get("Accept"), "authorization": self.headers.get("Authorization"),
                                "cookie": self.headers.get("Cookie"), "time": time.time()})
            mode = st.mode
        if mode == "starting":
            return self.send(503, '{ "message": "GoCD server is starting" }', "application/json",
                             {"Cache-Control": "no-cache, must-revalidate, no-store"})
        if mode == "backup":
            return self.send(503, '{"message":"Server is under maintenance mode, please try later."}', "application/json")
        if self.authenticate() is False:
            return
        if self.headers.get("Accept") not in (ACCEPT, "application/vnd.go.cd+json"):
            return self.send(404, "The url you are trying to reach appears to be incorrect.\n", "text/plain;charset=utf-8")
        if mode == "error500":
            return self.send(500, '{"error":"java.lang.NullPointerException"}')
        if mode == "not_found":
            # What GoCD answers when the API path or version does not exist (an upgrade that dropped it).
            return self.send(404, "The url you are trying to reach appears to be incorrect.\n", "text/plain;charset=utf-8")
        if mode == "reset":
            # The connection drops mid-body: headers promise more than is sent, then the socket closes.
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.go.cd.v1+json;charset=utf-8")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"site_url": "http://')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "redirect":
            return self.send(302, "", "text/html", {"Location": "/go/auth/login"})
        if mode == "garbage":
            return self.send(200, "<html>not json</html>", "application/vnd.go.cd.v1+json;charset=utf-8")
        if mode == "html":
            return self.send(200, "<html><body>GoCD</body></html>", "text/html;charset=utf-8")
        if mode == "huge":
            return self.send(200, '{"site_url": "' + "a" * 100000 + '"}', "application/vnd.go.cd.v1+json;charset=utf-8")
        if mode == "slow":
            time.sleep(st.slow_seconds)
        body = {
            "_links": {"doc": {"href": "https://api.gocd.org/26.1.0/#siteurls-config"},
                       "self": {"href": "http://%s/go/api/admin/config/server/site_urls" % self.headers.get("Host")}},
            "site_url": st.site_url,
            "secure_site_url": st.secure_site_url,
        }
        if mode == "missing_field":
            del body["secure_site_url"]
        if mode == "null_field":
            body["site_url"] = None
        text = json.dumps(body, indent=2).replace('": ', '" : ')
        self.send(200, text, "application/vnd.go.cd.v1+json;charset=utf-8",
                  {"Cache-Control": "max-age=0, private, must-revalidate", "X-Content-Type-Options": "nosniff"})

    def do_GET(self):
        if self.path == "/_control":
            return self.send(200, json.dumps(self.state.snapshot()))
        path = self.path.split("?", 1)[0]
        with self.state.lock:
            self.state.paths.append(path)
        if path == SITE_URLS_PATH:
            return self.site_urls()
        if path == "/go/api/v1/health":
            # Anyone may ask, but superfluous credentials still get a 401, as in GoCD.
            if self.headers.get("Authorization") and self.authenticate() is False:
                return
            return self.send(200, '{\n  "health": "OK"\n}\n', "application/vnd.go.cd.v1+json;charset=utf-8")
        if path == "/go/api/version":
            if self.authenticate() is False:
                return
            if self.headers.get("Accept") not in (ACCEPT, "application/vnd.go.cd+json"):
                return self.send(404, "The url you are trying to reach appears to be incorrect.\n", "text/plain;charset=utf-8")
            return self.send(200, json.dumps({"version": self.state.version, "build_number": "1", "git_sha": "0" * 40,
                                              "full_version": self.state.version + " (1-0)"}, indent=2))
        if not (path == "/go" or path.startswith("/go/")) or path.startswith("/go/api/"):
            # GoCD's context is /go; a wrong base URL or an unknown API path gets a non-JSON 404.
            if path.startswith("/go/api/") and self.authenticate() is False:
                return
            return self.send(404, "<html><body>Not Found</body></html>", "text/html;charset=iso-8859-1")
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        self.echo()

    def echo(self):
        self.send(200, json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                                   "header_list": [[k, v] for k, v in self.headers.items()], "standin": "gocd"}, indent=2), "application/json")

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("X-Standin-Upgraded", "yes")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True

    do_HEAD = do_GET


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--token")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--site-url", default="")
    parser.add_argument("--secure-site-url", default="")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    print(f"gocd standin listening on {args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

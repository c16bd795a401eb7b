"""Real components for the integration tests: the built binary, a GoCD stand-in, a private NGINX/Apache."""
import errno
import http.client
import json
import os
import re
import signal
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("GOCD_PROXY_SYNC_BIN", str(ROOT / ".build" / "debug" / "gocd-proxy-sync"))
STANDIN = ROOT / "Tests" / "standin" / "gocd_standin.py"
TOKEN = "0123abcdTOKENSECRETvalue0123456789abcdef"
# What every proxying listener of a rendered file answers to this host (README: Only what is served counts).
GENERATION_PATH = "/.well-known/gocd-proxy-sync/generation"
GENERATION_RE = re.compile(rb"gocd-proxy-sync-generation=([0-9a-f]{16})")


# Ports handed out by free_port, never handed out twice in one run (an old worker of an earlier nginx may still
# hold one for a moment, and a test may still be asking it).
_GIVEN_PORTS = set()


def _ephemeral_range():
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A port free on loopback now, below the kernel's ephemeral range: bind(0) and every outgoing connection
    (the daemon's probes, curl, nginx's upstream connections) take their local port from that range, so a port
    taken from it and closed again could be reused by one of them before the proxy binds it (seen in CI: "timed
    out waiting for Nginx up"). Below it only an explicit bind can take it."""
    low, _high = _ephemeral_range()
    top = min(low, 32768) - 1
    rng = random.Random(os.getpid() ^ time.time_ns())
    for _ in range(2000):
        port = rng.randint(10000, top)
        if port in _GIVEN_PORTS:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        try:
            with socket.socket(socket.AF_INET6) as s6:
                s6.bind(("::1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                continue  # (a host without IPv6 on loopback says EADDRNOTAVAIL or EAFNOSUPPORT: fine)
        _GIVEN_PORTS.add(port)
        return port
    raise AssertionError("no free port below the ephemeral range")


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition", fail_fast=()):
    """`predicate` until true; an exception of a `fail_fast` type ends the wait at once (a proxy that exited)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except fail_fast:
            raise
        except Exception:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process, timeout=20):
    """SIGTERM, then SIGKILL if `process` is still there after `timeout` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(*args, env=None, timeout=60):
    full_env = dict(os.environ)
    full_env.pop("JOURNAL_STREAM", None)
    full_env.pop("NOTIFY_SOCKET", None)
    full_env.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A test CA and a leaf certificate for localhost/127.0.0.1, made with the openssl CLI."""
    d = tmp_path_factory.mktemp("certs")
    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "60", "-subj", "/CN=gocd-proxy-sync test CA",
         "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1,DNS:gocd.test,DNS:new.gocd.test\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "60",
         "-out", "server.pem", "-extfile", "ext.cnf")
    return {"ca": str(d / "ca.pem"), "cert": str(d / "server.pem"), "key": str(d / "server.key"), "dir": d}


class Standin:
    def __init__(self, tmp, tls=None, token=None, user=None, password=None, site_url="", secure_site_url=""):
        self.port_file = tmp / f"standin-{time.time_ns()}.port"
        args = [sys.executable, str(STANDIN), "--port", "0", "--port-file", str(self.port_file),
                "--site-url", site_url, "--secure-site-url", secure_site_url]
        if tls:
            args += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        if token:
            args += ["--token", token]
        if user:
            args += ["--user", user, "--password", password]
        self.tls = tls
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = int(wait_for(lambda: self.port_file.exists() and self.port_file.read_text(), what="stand-in port"))
        self.scheme = "https" if tls else "http"

    @property
    def base(self):
        return f"{self.scheme}://{'localhost' if self.tls else '127.0.0.1'}:{self.port}"

    def _open(self, req):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls["ca"])
        return urllib.request.urlopen(req, context=ctx, timeout=10)

    def control(self, **change):
        req = urllib.request.Request(self.base + "/_control", data=json.dumps(change).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with self._open(req) as r:
            assert r.status == 200

    def snapshot(self):
        with self._open(urllib.request.Request(self.base + "/_control")) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def standin(tmp_path):
    started = []
    def start(**kw):
        s = Standin(tmp_path, **kw)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


class PrivateProxy:
    """A proxy started by the test in the foreground, as its child, with a status listener to wait on."""
    foreground = []
    alive_path = "/"

    def start(self):
        # Its start-up errors go to a file (a pipe nobody reads could fill and stop the proxy later).
        errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.base_args + self.foreground, stdout=subprocess.DEVNULL, stderr=errors)

        def up():
            if self.proc.poll() is not None:
                errors.seek(0)
                raise AssertionError(f"{type(self).__name__} exited with {self.proc.returncode} at start: "
                                     f"{errors.read().decode(errors='replace')}")
            try:
                return http_get(self.status_port, self.alive_path)[0] == 200
            except OSError:
                return False
        wait_for(up, what=f"{type(self).__name__} up", fail_fast=AssertionError)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Nginx(PrivateProxy):
    """A private nginx: prefix in a temp dir, an include directory, foreground master as our child."""
    foreground = ["-g", "daemon off;"]
    def __init__(self, root: Path):
        self.prefix = root / "nginx"
        self.confd = self.prefix / "conf.d"
        for sub in ("conf.d", "logs", "tmp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.prefix / "nginx.conf"
        self.status_port = free_port()
        p = self.prefix
        self.conf.write_text(f"""
user root;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    server {{ listen 127.0.0.1:{self.status_port}; location / {{ return 200 "alive"; }} }}
    include {self.confd}/*.conf;
}}
""")
        self.proc = None

    @property
    def base_args(self):
        return ["nginx", "-p", str(self.prefix), "-c", str(self.conf)]

    @property
    def test_command(self):
        return self.base_args + ["-t", "-q"]

    @property
    def reload_command(self):
        return self.base_args + ["-s", "reload"]



@pytest.fixture
def proxy_master():
    """For tests where no proxy runs (test and reload commands are `true`): a root process named nginx, as the
    proxy's master is, so the daemon's check that the proxy runs (no reload without one) finds one."""
    p = subprocess.Popen([sys.executable, "-c", "import ctypes, time; ctypes.CDLL(None).prctl(15, b'nginx', 0, 0, 0); "
                          "print('up', flush=True); time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "up"
    yield p
    p.kill()
    p.wait()


@pytest.fixture
def nginx(tmp_path):
    n = Nginx(tmp_path)
    yield n
    n.stop()


def http_get(port, path="/", host=None, https=False, headers=None, timeout=5):
    """One request to 127.0.0.1:port; returns (status, headers dict, body text)."""
    if https:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    all_headers = dict(headers or {})
    if host:
        all_headers["Host"] = host
    try:
        conn.request("GET", path, headers=all_headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
    finally:
        conn.close()


COUNTER = r"""#!/bin/sh
# Records each invocation, then runs the real command.
echo "$1" >> "$GPS_COUNT_FILE"
shift
exec "$@"
"""


def write_config(tmp: Path, standin_base: str, kind="nginx", output=None, test_command=None, reload_command=None,
                 token=TOKEN, extra_gocd="", extra_proxy="", certs=None, counting=True, state_dir=None):
    """Writes a config file (and a 0600 token file); test/reload are wrapped to count invocations."""
    cfg = tmp / "config.toml"
    count_file = tmp / "invocations.log"
    wrapper = tmp / "count.sh"
    wrapper.write_text(COUNTER.replace("$GPS_COUNT_FILE", str(count_file)))
    wrapper.chmod(0o755)
    dump = ""
    programs = [i for i, a in enumerate(test_command or []) if os.path.basename(a) in ("nginx", "apache2", "httpd")]
    if "dump_command" not in extra_proxy and programs and (counting or programs[0] > 0):
        # A wrapper hides the proxy's program from the daemon (as a config-management wrapper does), so the
        # dump is named explicitly, with the proxy's own options.
        flags = {"-t", "-q", "-T"} if kind == "nginx" else {"-t", "-S"}
        base = [a for a in test_command[programs[0]:] if a not in flags]
        dump_command = base + (["-T"] if kind == "nginx" else ["-t", "-D", "DUMP_VHOSTS"])
        dump = f"dump_command = {json.dumps(dump_command)}"
    if counting:
        test_command = [str(wrapper), "test", *test_command]
        reload_command = [str(wrapper), "reload", *reload_command]
    token_line = ""
    if token:
        tf = tmp / "token"
        tf.write_text(token + "\n")
        tf.chmod(0o600)
        token_line = f'token_file = "{tf}"'
    tls = ""
    if certs:
        tls = f'tls_certificate = "{certs["cert"]}"\ntls_certificate_key = "{certs["key"]}"'
    cfg.write_text(f"""# test config
[gocd]
server_url = "{standin_base}/go"
{token_line}
timeout_seconds = 5
{extra_gocd}

[proxy]
kind = "{kind}"
output = "{output}"
upstream = "{standin_base.replace('localhost', '127.0.0.1').replace('https://', 'http://')}"
listen_address = "127.0.0.1"
{tls}
test_command = {json.dumps(test_command)}
reload_command = {json.dumps(reload_command)}
command_timeout_seconds = 20
{dump}
{extra_proxy}

[sync]
interval_seconds = 1
state_dir = "{state_dir or (tmp / 'state')}"
max_backoff_seconds = 4
""")
    return cfg, count_file


def invocations(count_file: Path):
    return count_file.read_text().split() if count_file.exists() else []


APACHE_MODULES = ["mpm_event", "authz_core", "alias", "mime", "proxy", "proxy_http", "proxy_wstunnel",
                  "headers", "ssl", "socache_shmcb", "rewrite", "remoteip"]


class Apache(PrivateProxy):
    """A private httpd: its own ServerRoot and config, on loopback, in the foreground as our child."""
    foreground = ["-DFOREGROUND"]
    alive_path = "/alive"
    def __init__(self, root: Path, modules=None):
        self.root = root / "apache"
        self.confd = self.root / "conf.d"
        for sub in ("conf.d", "logs", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "logs", 0o777)
        self.conf = self.root / "httpd.conf"
        self.status_port = free_port()
        self.modules = modules or APACHE_MODULES
        self.write()
        self.proc = None

    def write(self):
        r = self.root
        loads = "\n".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in self.modules)
        self.conf.write_text(f"""
ServerRoot {r}
{loads}
User www-data
Group www-data
PidFile {r}/run/httpd.pid
DefaultRuntimeDir {r}/run
Mutex file:{r}/run default
ErrorLog {r}/logs/error.log
LogLevel warn
ServerName localhost
TypesConfig /etc/mime.types
Listen 127.0.0.1:{self.status_port}
<VirtualHost 127.0.0.1:{self.status_port}>
    Alias /alive /etc/hostname
    <Location />
        Require all granted
    </Location>
</VirtualHost>
IncludeOptional {self.confd}/*.conf
""")

    @property
    def base_args(self):
        return ["apache2", "-d", str(self.root), "-f", str(self.conf)]

    @property
    def test_command(self):
        return self.base_args + ["-t"]

    @property
    def reload_command(self):
        return self.base_args + ["-k", "graceful"]



@pytest.fixture
def apache(tmp_path):
    a = Apache(tmp_path)
    yield a
    a.stop()


def websocket_upgrade(port, host, path="/go/console-websocket/pipeline/1/stage/1/job", https=True):
    """Sends a websocket handshake; returns the status line and headers text."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    if https:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = ctx.wrap_socket(raw, server_hostname=host.split(":")[0])
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    raw.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    raw.close()
    return data.decode(errors="replace")


def proxied_setup(tmp_path, standin, proxy, certs, kind="nginx", extra_proxy="", test_wrapper=None):
    """A GoCD stand-in with an http site URL redirecting to an https one, a config pointing `proxy` (started
    here) at it, and counting test/reload wrappers (`test_wrapper`, a script, runs the test inside the counting
    one). Returns everything a test needs, by name."""
    http_port, https_port = free_port(), free_port()
    gocd = standin(token=TOKEN, site_url=f"http://gocd.test:{http_port}", secure_site_url=f"https://gocd.test:{https_port}")
    output = proxy.confd / "gocd.conf"
    test_command = ([str(test_wrapper)] if test_wrapper else []) + proxy.test_command
    cfg, counts = write_config(tmp_path, gocd.base, kind=kind, output=output, test_command=test_command,
                               reload_command=proxy.reload_command, certs=certs, extra_proxy=extra_proxy)
    proxy.start()
    return {"gocd": gocd, kind: proxy, "output": output, "cfg": cfg, "counts": counts, "http_port": http_port,
            "https_port": https_port, "certs": certs, "tmp": tmp_path}


def once(s, *extra):
    """`gocd-proxy-sync once` with the setup's config."""
    return run("once", "--config", str(s["cfg"]), *extra)

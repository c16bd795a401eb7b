"""Only what is served counts (issue 11): the pre-flight before a change goes live, and the confirmation after every
reload, against a real nginx and a real httpd on loopback."""
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (Apache, TOKEN, free_port, http_get, invocations, once, proxied_setup, run, wait_for,
                      write_config)

SITE_URLS_PATH = "/go/api/admin/config/server/site_urls"


@pytest.fixture
def nginx_setup(tmp_path, standin, nginx, certs):
    return proxied_setup(tmp_path, standin, nginx, certs, kind="nginx")


@pytest.fixture
def apache_setup(tmp_path, standin, apache, certs):
    return proxied_setup(tmp_path, standin, apache, certs, kind="apache",
                         extra_proxy="apache_listen_ports = []")


def hold_port(port):
    """Another program holding a port: a listening socket of this test process."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def served(port, host, https=True):
    return http_get(port, "/go/x", host=host, https=https)[0] == 200


def make_cert(certs, name, sans, key=None, days=30):
    """A leaf certificate signed by the test CA; returns (cert path, key path)."""
    d = certs["dir"]
    key = key or str(d / f"{name}.key")
    if not os.path.exists(key):
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", f"/CN={name}", "-out", str(d / f"{name}.csr")],
                   check=True, capture_output=True)
    (d / f"{name}.ext").write_text(f"subjectAltName={sans}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", certs["ca"], "-CAkey",
                    str(d / "ca.key"), "-CAcreateserial", "-days", str(days), "-out", str(d / f"{name}.pem"),
                    "-extfile", str(d / f"{name}.ext")], check=True, capture_output=True)
    return str(d / f"{name}.pem"), key


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_port_held_by_another_program_is_refused_then_applied_once_free(kind, request):
    s = request.getfixturevalue(f"{kind}_setup")
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    calls = len(invocations(s["counts"]))
    port = free_port()
    holder = hold_port(port)
    s["gocd"].control(secure_site_url=f"https://gocd.test:{port}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "rejected" in r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and f"pid {os.getpid()}" in r.stderr, "names the address, port and holder"
    assert s["output"].read_bytes() == before, "nothing written"
    assert len(invocations(s["counts"])) == calls, "nothing tested or reloaded"
    assert served(s["https_port"], "gocd.test"), "the proxy is alive and still serving the previous file"
    dry = once(s, "--dry-run")
    assert dry.returncode == 4 and f"pid {os.getpid()}" in dry.stderr, "dry-run reports what the pre-flight refuses"
    holder.close()
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: served(port, "gocd.test"), what="the new port served")


def test_a_port_nginx_already_serves_for_another_site_is_not_refused(nginx_setup):
    s = nginx_setup
    port = free_port()
    (s["nginx"].confd / "other.conf").write_text(
        f'server {{ listen 127.0.0.1:{port}; server_name other.test; location / {{ return 200 "other"; }} }}\n')
    assert once(s).returncode == 0
    wait_for(lambda: http_get(port, "/", host="other.test")[2] == "other", what="the other site")
    s["gocd"].control(site_url=f"http://gocd.test:{port}")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: http_get(port, "/go", host=f"gocd.test:{port}")[0] == 301, what="our redirect on the shared port")
    assert http_get(port, "/", host="other.test")[2] == "other", "the other site keeps its name"


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_reload_that_changes_nothing_is_exit_10_and_restores(kind, request):
    s = request.getfixturevalue(f"{kind}_setup")
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    text = s["cfg"].read_text()
    reload_line = next(line for line in text.splitlines() if line.startswith("reload_command"))
    s["cfg"].write_text(text.replace(reload_line, 'reload_command = ["true"]').replace(
        "[proxy]\n", "[proxy]\nconfirm_timeout_seconds = 2\n", 1))
    new_port = free_port()
    s["gocd"].control(secure_site_url=f"https://gocd.test:{new_port}")
    started = time.monotonic()
    r = once(s)
    took = time.monotonic() - started
    assert r.returncode == 10, r.stderr
    assert "not_serving" in r.stderr and f"gocd.test:{new_port}" in r.stderr
    assert any(w in r.stderr for w in ("previous generation", "previous configuration", "connection refused")), \
        "says what it got"
    assert s["output"].read_bytes() == before, "previous bytes restored"
    assert took < 20, "bounded by confirm_timeout_seconds"
    assert served(s["https_port"], "gocd.test"), "proxy alive, previous file served"
    status = run("status", "--json", "--config", str(s["cfg"]))
    assert '"serving":true' in status.stdout.replace(" ", ""), status.stdout


def test_certificate_must_cover_the_new_name(nginx_setup):
    s = nginx_setup
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    s["gocd"].control(secure_site_url=f"https://other.example:{s['https_port']}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "does not cover other.example" in r.stderr
    assert "localhost" in r.stderr and "new.gocd.test" in r.stderr, "names what the certificate covers"
    assert s["output"].read_bytes() == before


def test_a_wildcard_covers_exactly_one_label(nginx_setup, certs):
    s = nginx_setup
    cert, key = make_cert(certs, "wild", "DNS:*.wild.test")
    s["cfg"].write_text(s["cfg"].read_text().replace(certs["cert"], cert).replace(certs["key"], key))
    s["gocd"].control(site_url="", secure_site_url=f"https://a.b.wild.test:{s['https_port']}")
    r = once(s, "--dry-run")
    assert r.returncode == 4 and "does not cover a.b.wild.test" in r.stderr, r.stderr
    s["gocd"].control(secure_site_url=f"https://a.wild.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: served(s["https_port"], "a.wild.test"), what="a.wild.test served")


def test_a_key_that_does_not_match_is_refused_and_httpd_stays_up(apache_setup, certs):
    s = apache_setup
    assert once(s).returncode == 0
    _, other_key = make_cert(certs, "otherkey", "DNS:gocd.test")
    s["cfg"].write_text(s["cfg"].read_text().replace(certs["key"], other_key))
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "does not belong to the certificate" in r.stderr
    assert s["apache"].proc.poll() is None, "httpd is still running"
    assert served(s["https_port"], "gocd.test")


def test_a_renewed_certificate_lets_a_held_change_through_without_restart(nginx_setup, certs, tmp_path):
    s = nginx_setup
    assert once(s).returncode == 0
    # The certificate file the daemon uses is a copy we can replace, as a renewal would.
    live = tmp_path / "live.pem"
    live.write_bytes(open(certs["cert"], "rb").read())
    s["cfg"].write_text(s["cfg"].read_text().replace(certs["cert"], str(live)))
    renewed, _ = make_cert(certs, "renewed", "DNS:gocd.test,DNS:renamed.test", key=certs["key"])
    s["gocd"].control(secure_site_url=f"https://renamed.test:{s['https_port']}")
    daemon = subprocess.Popen([os.environ.get("GOCD_PROXY_SYNC_BIN", str(__import__("conftest").BIN)), "run",
                               "--config", str(s["cfg"])], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "does not cover renamed.test" in s["output"].read_text() or
                 (tmp_path / "state" / "state.json").exists() and
                 "renamed.test" in (tmp_path / "state" / "state.json").read_text(), timeout=15, what="a refused cycle")
        assert "renamed.test" not in s["output"].read_text()
        live.write_bytes(open(renewed, "rb").read())
        wait_for(lambda: "renamed.test" in s["output"].read_text(), timeout=20, what="the change applied")
        assert wait_for(lambda: served(s["https_port"], "renamed.test"), what="renamed.test served")
        assert daemon.poll() is None, "no restart"
    finally:
        daemon.terminate()
        daemon.wait(timeout=15)


def test_confirmation_sends_gocd_nothing_but_the_health_request(nginx_setup):
    s = nginx_setup
    assert once(s).returncode == 0
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "reloaded" in r.stderr and "confirmed_after_ms=" in r.stderr
    paths = s["gocd"].snapshot()["paths"]
    assert set(paths) <= {SITE_URLS_PATH, "/go/api/v1/health"}, paths
    assert paths.count("/go/api/v1/health") == 2, "one health GET per apply through the one proxying listener"
    assert "upstream_unreachable" not in r.stderr


def test_the_generation_is_not_visible_to_other_hosts(nginx_setup):
    """The generation answer is for this host only; the marker path is never forwarded to GoCD."""
    s = nginx_setup
    assert once(s).returncode == 0
    status, _, body = http_get(s["https_port"], "/.well-known/gocd-proxy-sync/generation", host="gocd.test", https=True)
    assert status == 200 and body.startswith("gocd-proxy-sync-generation="), "loopback may ask"
    text = s["output"].read_text()
    assert "if ($gocd_proxy_sync_local_client = 0)" in text and "return 404;" in text
    assert "/.well-known/gocd-proxy-sync/generation" not in s["gocd"].snapshot()["paths"]


def test_an_unreachable_upstream_is_a_warning_not_a_rollback(nginx_setup):
    s = nginx_setup
    dead = free_port()
    text = s["cfg"].read_text()
    upstream = next(line for line in text.splitlines() if line.startswith("upstream ="))
    s["cfg"].write_text(text.replace(upstream, f'upstream = "http://127.0.0.1:{dead}"'))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "upstream_unreachable" in r.stderr and "HTTP 502" in r.stderr
    assert "proxy_error_log=" in r.stderr, "the proxy's own error-log line"
    assert "rolled_back" not in r.stderr


def test_run_after_not_serving_does_not_reload_every_cycle(nginx_setup):
    s = nginx_setup
    assert once(s).returncode == 0
    text = s["cfg"].read_text()
    wrapper = str(s["tmp"] / "count.sh")
    reload_line = next(line for line in text.splitlines() if line.startswith("reload_command"))
    s["cfg"].write_text(text.replace(reload_line, f'reload_command = ["{wrapper}", "reload", "true"]').replace(
        "[proxy]\n", "[proxy]\nconfirm_timeout_seconds = 1\n", 1).replace("max_backoff_seconds = 4", "max_backoff_seconds = 8"))
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    calls = len(invocations(s["counts"]))
    daemon = subprocess.Popen([str(__import__("conftest").BIN), "run", "--config", str(s["cfg"])],
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(12)
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=15)
    reloads = invocations(s["counts"])[calls:].count("reload")
    assert "not_serving" in err
    # Each attempt reloads twice (new file, restored file); at a 1 s interval an attempt every cycle would be ~10.
    assert 2 <= reloads <= 6, (reloads, err[-2000:])


def test_a_certificate_expiring_soon_is_a_warning_once_a_day(nginx_setup, certs):
    s = nginx_setup
    cert, _ = make_cert(certs, "soon", "DNS:gocd.test", key=certs["key"], days=5)
    s["cfg"].write_text(s["cfg"].read_text().replace(certs["cert"], cert))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "WARNING certificate_expiring:" in r.stderr and "not_after=" in r.stderr
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "WARNING certificate_expiring:" not in r.stderr, "at most once a day per file"
    check = run("check", "--config", str(s["cfg"]))
    assert "covers gocd.test" in check.stdout and "expires" in check.stdout, check.stdout


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_without_the_port_check_a_held_port_is_caught_by_confirmation(kind, request):
    """The issue's first finding, with the pre-flight turned off: the reload exits 0, the proxy does not serve."""
    s = request.getfixturevalue(f"{kind}_setup")
    s["cfg"].write_text(s["cfg"].read_text().replace(
        "[proxy]\n", "[proxy]\ncheck_ports = false\nconfirm_timeout_seconds = 3\n", 1))
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    port = free_port()
    holder = hold_port(port)
    try:
        s["gocd"].control(secure_site_url=f"https://gocd.test:{port}")
        r = once(s)
        assert r.returncode == 10, r.stderr
        assert "not_serving" in r.stderr
        assert s["output"].read_bytes() == before, "previous bytes restored"
        if kind == "apache":
            # httpd's graceful restart ended httpd ("no listening sockets available, shutting down"): the restored
            # file cannot be served until someone starts httpd, and the log says so, critically.
            assert "CRITICAL not_serving" in r.stderr and "start it (systemctl start apache2" in r.stderr, r.stderr
            # The rollback ran no reload with httpd gone: `apachectl -k graceful` would have started an httpd as
            # this program's child (inside its unit, when run by systemd).
            conf = str(s["apache"].conf).encode()
            started = [pid for pid in os.listdir("/proc") if pid.isdigit() and
                       conf in (lambda p: open(p, "rb").read() if os.path.exists(p) else b"")(f"/proc/{pid}/cmdline")]
            assert not [pid for pid in started if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"], \
                "no httpd started by the rollback"
            pidfile = s["apache"].root / "run" / "httpd.pid"
            if pidfile.exists():
                try:
                    os.kill(int(pidfile.read_text()), 15)
                except (ProcessLookupError, ValueError):
                    pass
        else:
            assert served(s["https_port"], "gocd.test"), "nginx kept serving the previous file"
    finally:
        holder.close()


@pytest.mark.parametrize("damage, problem", [
    (b"", "empty"),
    (b'{"reload_owed": tr', "not JSON"),
    (b"\0" * 64, "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    # The right syntax, a wrong type: once silently accepted (as 0 failures), now damage.
    (b'{"consecutive_failures": "3", "reload_owed": false}', "consecutive_failures: a string where a number belongs"),
    (b'{"reload_owed": "false"}', "reload_owed: a string where true or false belongs"),
    # A value out of range.
    (b'{"consecutive_failures": -4}', "consecutive_failures: -4 is out of range"),
    (b'{"last_success_at": "2026-02-30T10:00:00Z"}', "is not a time"),
])
def test_a_damaged_state_file_is_said_and_the_served_file_rechecked(nginx_setup, damage, problem):
    s = nginx_setup
    assert once(s).returncode == 0
    state_dir = s["tmp"] / "state"
    state = state_dir / "state.json"
    state.write_bytes(damage)
    calls = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 0, r.stderr
    # One warning that names the file, what is wrong with it and where the damaged copy was kept.
    lines = [line for line in r.stderr.splitlines() if "state file was damaged" in line]
    assert len(lines) == 1, r.stderr
    assert " WARNING started: " in lines[0], lines[0]
    assert f"file={state}" in lines[0] and problem in lines[0], lines[0]
    kept = re.search(r"damaged_copy=(\S+)", lines[0]).group(1)
    assert kept.startswith(str(state) + ".damaged-"), kept
    assert Path(kept).read_bytes() == damage, "the damaged bytes are kept for a post-mortem"
    assert Path(kept).parent == state_dir and not list(s["output"].parent.glob("*damaged*")), \
        "kept in the state directory, never in the include directory"
    # Then as after a crash: test, reload, confirm; a fresh record that says so.
    assert invocations(s["counts"])[calls:] == ["test", "reload"], "the safe choice: test and reload what is in place"
    assert "confirmed_after_ms=" in r.stderr, "and confirm what is served"
    fresh = json.loads(state.read_text())
    assert fresh["serving"] is True and fresh["consecutive_failures"] == 0
    assert served(s["https_port"], "gocd.test"), "the proxy serves the managed file"
    # The next run believes the fresh record: no second warning, nothing tested or reloaded.
    calls = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 0 and "damaged" not in r.stderr, r.stderr
    assert invocations(s["counts"])[calls:] == []
    # A second damage keeps a second copy; the first is not overwritten.
    state.write_bytes(damage)
    assert once(s).returncode == 0
    copies = sorted(state_dir.glob("state.json.damaged-*"))
    assert len(copies) == 2 and all(c.read_bytes() == damage for c in copies), copies


def test_status_says_the_state_file_is_damaged_and_moves_nothing(nginx_setup):
    s = nginx_setup
    assert once(s).returncode == 0
    state = s["tmp"] / "state" / "state.json"
    state.write_bytes(b'{"consecutive_failures": "many"}')
    r = run("status", "--config", str(s["cfg"]))
    assert r.returncode == 0, r.stderr
    assert f"DAMAGED: {state}: consecutive_failures: a string where a number belongs" in r.stdout, r.stdout
    j = json.loads(run("status", "--config", str(s["cfg"]), "--json").stdout)
    assert j["damaged"]["file"] == str(state)
    r = once(s, "--dry-run")
    assert r.returncode == 0 and "the state file is damaged" in r.stderr, r.stderr
    assert state.read_bytes() == b'{"consecutive_failures": "many"}', "status and a dry run move nothing"


def test_render_only_warns_about_the_certificate(nginx_setup):
    s = nginx_setup
    r = run("render", "--config", str(s["cfg"]), "--site-url", "https://other.example:8443")
    assert r.returncode == 0, r.stderr
    assert "does not cover other.example" in r.stderr
    assert r.stdout.startswith("# Managed by gocd-proxy-sync")


SQUATTER = r"""
import http.server, sys
port, generation = int(sys.argv[1]), sys.argv[2]
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"gocd-proxy-sync-generation={generation}\n".encode()
        self.send_response(int(sys.argv[3]))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Answer)
print("up", flush=True)
server.serve_forever()
"""


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_local_user_who_binds_the_new_port_first_cannot_answer_for_the_proxy(kind, request, tmp_path):
    """A local user (uid 65534) binds the new port before the proxy, and answers the marker with the new file's
    own digest (which it can compute: the rendered file is deterministic). Not the proxy's socket: not served."""
    s = request.getfixturevalue(f"{kind}_setup")
    before, port, site, generation = squatted_site(s, confirm_timeout=2)
    status = "200" if kind == "nginx" else "404"
    squatter = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                                 SQUATTER, str(port), generation, status], stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "up"
        assert generation in http_get(port, "/.well-known/gocd-proxy-sync/generation")[2]
        s["gocd"].control(site_url=site, secure_site_url="")
        r = once(s)
        assert r.returncode == 10, r.stderr
        assert "not_serving" in r.stderr and "uid 65534" in r.stderr, r.stderr
        assert s["output"].read_bytes() == before, "previous bytes restored"
        if kind == "apache":
            # httpd's graceful restart could not bind the port and exited; the rollback started none.
            assert "CRITICAL not_serving" in r.stderr
        else:
            assert served(s["https_port"], "gocd.test"), "nginx kept serving the previous file"
    finally:
        squatter.kill()
        squatter.wait()


# A squatter that answers "busy" until the proxy has given up binding the port (nginx retries for a few
# seconds), then closes its listening socket and answers the marker with the new digest over the connection it
# had already accepted: the listening table then shows nobody on the port.
ONE_SHOT_SQUATTER = r"""
import socket, sys, time
port, generation = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
print("up", flush=True)
first = None
while True:
    conn, _ = s.accept()
    conn.recv(65536)
    first = first or time.monotonic()
    if time.monotonic() - first > 3.5:
        break
    conn.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conn.close()
s.close()
body = f"gocd-proxy-sync-generation={generation}\n".encode()
conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
time.sleep(30)
"""


def squatted_site(s, confirm_timeout):
    """With the port pre-flight off (the squatter binds before the reload, as it could between the pre-flight and
    the reload), the first file applied; then a new http site URL on a free port and the digest its file answers
    the marker with (`render`: the file is deterministic). Returns (previous bytes, port, site URL, digest)."""
    s["cfg"].write_text(s["cfg"].read_text().replace(
        "[proxy]\n", f"[proxy]\ncheck_ports = false\nconfirm_timeout_seconds = {confirm_timeout}\n", 1))
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    port = free_port()
    site = f"http://gocd.test:{port}"
    rendered = run("render", "--config", str(s["cfg"]), "--site-url", site)
    assert rendered.returncode == 0, rendered.stderr
    generation = re.search(r"gocd-proxy-sync-generation=([0-9a-f]{16})", rendered.stdout).group(1)
    return before, port, site, generation


def test_a_squatter_that_closes_its_listening_socket_after_accepting_still_does_not_count(nginx_setup, tmp_path):
    s = nginx_setup
    before, port, site, generation = squatted_site(s, confirm_timeout=8)
    squatter = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                                 ONE_SHOT_SQUATTER, str(port), generation], stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "up"
        s["gocd"].control(site_url=site, secure_site_url="")
        r = once(s)
        # (The not_serving line says what the last probe got: by then the squatter's connection is gone too.)
        assert r.returncode == 10, r.stderr
        assert "not_serving" in r.stderr and "reloaded" not in r.stderr, r.stderr
        assert s["output"].read_bytes() == before, "previous bytes restored"
        assert served(s["https_port"], "gocd.test"), "nginx kept serving the previous file"
    finally:
        squatter.kill()
        squatter.wait()


def test_a_root_program_that_is_not_the_proxy_does_not_answer_for_it_where_holders_are_visible(nginx_setup):
    """Outside the unit (full root, /proc/PID/fd visible) a root-owned socket must also be held by the proxy."""
    s = nginx_setup
    before, port, site, generation = squatted_site(s, confirm_timeout=2)
    squatter = subprocess.Popen([sys.executable, "-c", SQUATTER, str(port), generation, "200"], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert squatter.stdout.readline().strip() == "up"
        s["gocd"].control(site_url=site, secure_site_url="")
        r = once(s)
        assert r.returncode == 10, r.stderr
        assert "not_serving" in r.stderr and f"python3 (pid {squatter.pid})" in r.stderr, r.stderr
        assert s["output"].read_bytes() == before, "previous bytes restored"
    finally:
        squatter.kill()
        squatter.wait()


def presented_leaf(port, name):
    """The SHA-256 (upper-case hex) of the leaf certificate served on 127.0.0.1:port for SNI `name`."""
    import hashlib
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest().upper()


def leaf_of(pem_path):
    """The SHA-256 (upper-case hex) of the DER of the first certificate in a PEM file."""
    der = subprocess.run(["openssl", "x509", "-in", pem_path, "-outform", "der"], check=True, capture_output=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest().upper()


def renewable(s, certs, tmp_path):
    """The setup's certificate as a file of its own (live.pem, as certbot's live/ link), applied and served; and a
    renewed certificate for the same names and key. Returns (live path, renewed path)."""
    live = tmp_path / "live.pem"
    live.write_bytes(open(certs["cert"], "rb").read())
    s["cfg"].write_text(s["cfg"].read_text().replace(certs["cert"], str(live)))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: presented_leaf(s["https_port"], "gocd.test") == leaf_of(str(live)), what="live.pem served")
    renewed, _ = make_cert(certs, "renewed", "DNS:localhost,IP:127.0.0.1,DNS:gocd.test,DNS:new.gocd.test",
                           key=certs["key"])
    assert leaf_of(renewed) != leaf_of(str(live))
    return live, renewed


def test_a_renewed_certificate_the_proxy_does_not_present_is_not_serving(nginx_setup, certs, tmp_path):
    """The certificate file is renewed in place after nginx loaded it, and the reload does nothing (nginx keeps the
    old leaf in memory): the new file is not confirmed, by its certificate as well as its generation."""
    s = nginx_setup
    live, renewed = renewable(s, certs, tmp_path)
    before = s["output"].read_bytes()
    old_leaf = leaf_of(str(live))
    live.write_bytes(open(renewed, "rb").read())
    text = s["cfg"].read_text()
    reload_line = next(line for line in text.splitlines() if line.startswith("reload_command"))
    # A change of the HTTPS server only (the redirect listener's answer stays the same, so the miss reported is the
    # HTTPS listener's).
    s["cfg"].write_text(text.replace(reload_line, 'reload_command = ["true"]').replace(
        "[proxy]\n", "[proxy]\nconfirm_timeout_seconds = 2\nhsts_max_age_seconds = 600\n", 1))
    r = once(s)
    assert r.returncode == 10, r.stderr
    assert "not_serving" in r.stderr and "previous generation" in r.stderr, r.stderr
    assert f"a certificate other than tls_certificate's {live}" in r.stderr, r.stderr
    assert f"presented sha256 {old_leaf[:16]}…, expected {leaf_of(renewed)[:16]}…" in r.stderr, r.stderr
    assert s["output"].read_bytes() == before, "previous bytes restored"
    # nginx still presents the old leaf, so the restored file is not confirmed either: said critically.
    assert "CRITICAL not_serving" in r.stderr and "the restored file is not served either" in r.stderr, r.stderr
    assert presented_leaf(s["https_port"], "gocd.test") == old_leaf


SWAP_ONCE = r"""
import os, re, socket, ssl, subprocess, sys, time
flag, live, old, output, name, port, *reload = sys.argv[1:]
if os.path.exists(flag):
    sys.exit(subprocess.call(reload))
open(flag, "w").close()
# The first reload loads the new file with the previous certificate (as if the file had been swapped back for a
# moment); once nginx answers from the new file, the renewed certificate is put back where tls_certificate says.
renewed = open(live, "rb").read()
open(live, "wb").write(open(old, "rb").read())
code = subprocess.call(reload)
want = re.search(rb"gocd-proxy-sync-generation=[0-9a-f]{16}", open(output, "rb").read()).group(0)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
deadline = time.time() + 10
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=2) as raw, \
                ctx.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(f"GET /.well-known/gocd-proxy-sync/generation HTTP/1.0\r\nHost: {name}:{port}\r\n\r\n".encode())
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
        if want in answer:
            break
    except OSError:
        pass
    time.sleep(0.02)
open(live, "wb").write(renewed)
sys.exit(code)
"""


def test_the_new_file_with_another_certificate_is_not_serving_and_the_previous_file_is_restored(
        nginx_setup, certs, tmp_path):
    """The new file is served (its generation answers) but with a leaf other than tls_certificate's: not confirmed,
    only because of the certificate; the previous file is restored, reloaded (now with the renewed leaf) and served."""
    s = nginx_setup
    live, renewed = renewable(s, certs, tmp_path)
    before = s["output"].read_bytes()
    old = tmp_path / "old.pem"
    old.write_bytes(live.read_bytes())
    live.write_bytes(open(renewed, "rb").read())
    script = tmp_path / "swap_once.py"
    script.write_text(SWAP_ONCE)
    text = s["cfg"].read_text()
    reload_line = next(line for line in text.splitlines() if line.startswith("reload_command"))
    reload = [sys.executable, str(script), str(tmp_path / "swapped"), str(live), str(old), str(s["output"]),
              "new.gocd.test", str(s["https_port"]), *s["nginx"].reload_command]
    s["cfg"].write_text(text.replace(reload_line, f"reload_command = {json.dumps(reload)}").replace(
        "[proxy]\n", "[proxy]\nconfirm_timeout_seconds = 2\n", 1))
    s["gocd"].control(secure_site_url=f"https://new.gocd.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 10, r.stderr
    assert (tmp_path / "swapped").exists(), "the first reload swapped the certificate"
    line = next(l for l in r.stderr.splitlines() if "not_serving" in l)
    assert f"a certificate other than tls_certificate's {live}" in line, line
    assert f"presented sha256 {leaf_of(str(old))[:16]}…, expected {leaf_of(renewed)[:16]}…" in line, line
    assert "previous generation" not in line and "previous configuration" not in line, "only the certificate was wrong"
    assert s["output"].read_bytes() == before, "previous bytes restored"
    assert "CRITICAL" not in r.stderr and "rolled_back" in r.stderr, r.stderr
    # nginx's workers of the previous configuration may accept for a moment after the reload.
    assert wait_for(lambda: presented_leaf(s["https_port"], "gocd.test") == leaf_of(renewed), timeout=10, what="the restored file, with the renewed leaf")
    assert served(s["https_port"], "gocd.test")

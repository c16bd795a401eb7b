"""The operator's own site (issue 24, SPEC 5e): what reaches GoCD is what this proxy saw, front proxies, includes."""
import json
import subprocess
from pathlib import Path

import pytest

from conftest import http_get, once, proxied_setup, wait_for

SPOOFED = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example", "X-Real-IP": "6.6.6.6",
           "X-Forwarded-Proto": "http", "X-Forwarded-Port": "1", "Forwarded": "for=6.6.6.6;host=evil.example",
           "X-Forwarded-Server": "evil.example"}


def setup_for(kind, request, extra_proxy=""):
    tmp_path, standin, certs = (request.getfixturevalue(n) for n in ("tmp_path", "standin", "certs"))
    proxy = request.getfixturevalue(kind)
    if kind == "apache":
        extra_proxy = "apache_listen_ports = []\n" + extra_proxy
    return proxied_setup(tmp_path, standin, proxy, certs, kind=kind, extra_proxy=extra_proxy)


def seen_by_gocd(s, headers, https=True):
    """What the GoCD stand-in received for one request through the proxy: {header: [values]}."""
    port = s["https_port"] if https else s["http_port"]
    status, _, body = wait_for(lambda: (lambda a: a if a[0] == 200 else None)(
        http_get(port, "/go/pipelines", host=f"gocd.test:{port}", https=https, headers=headers)), what="proxied")
    seen = {}
    for key, value in json.loads(body)["header_list"]:
        seen.setdefault(key.lower(), []).append(value)
    return seen


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_clients_own_forwarding_headers_never_reach_gocd(kind, request):
    s = setup_for(kind, request)
    r = once(s)
    assert r.returncode == 0, r.stderr
    port = s["https_port"]
    seen = seen_by_gocd(s, SPOOFED)
    assert seen["x-forwarded-for"] == ["127.0.0.1"], seen
    assert seen["x-real-ip"] == ["127.0.0.1"], seen
    assert seen["x-forwarded-proto"] == ["https"], seen
    assert seen["x-forwarded-port"] == [str(port)], seen
    # nginx passes the host without the port ($host), Apache the Host header as received; both what it saw.
    assert seen["x-forwarded-host"] in (["gocd.test"], [f"gocd.test:{port}"]), seen
    assert seen["host"] == [f"gocd.test:{port}"], seen
    assert "forwarded" not in seen and "x-forwarded-server" not in seen, seen
    assert not any("6.6.6.6" in v or "evil" in v for values in seen.values() for v in values), seen


FRONT = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "gocd.example.com",
         "X-Forwarded-Port": "80"}


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_trusted_front_proxy_passes_the_client_address_and_proto(kind, request):
    s = setup_for(kind, request, extra_proxy='trusted_proxies = ["127.0.0.1/32", "2001:db8::/32"]')
    r = once(s)
    assert r.returncode == 0, r.stderr
    seen = seen_by_gocd(s, FRONT)
    assert seen["x-forwarded-for"] == ["203.0.113.7"], seen
    assert seen["x-real-ip"] == ["203.0.113.7"], seen
    assert seen["x-forwarded-proto"] == ["http"], seen
    assert seen["x-forwarded-host"] == ["gocd.example.com"], seen
    assert seen["x-forwarded-port"] == ["80"], seen
    # A header that is not well-formed is not believed even from a trusted peer.
    seen = seen_by_gocd(s, {"X-Forwarded-Proto": "gopher", "X-Forwarded-Port": "x"})
    assert seen["x-forwarded-proto"] == ["https"] and seen["x-forwarded-port"] == [str(s["https_port"])], seen
    assert seen["x-forwarded-for"] == ["127.0.0.1"], seen


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_an_untrusted_peer_gets_what_this_proxy_saw(kind, request):
    s = setup_for(kind, request, extra_proxy='trusted_proxies = ["192.0.2.0/24"]')
    r = once(s)
    assert r.returncode == 0, r.stderr
    seen = seen_by_gocd(s, FRONT)
    port = s["https_port"]
    assert seen["x-forwarded-for"] == ["127.0.0.1"] and seen["x-real-ip"] == ["127.0.0.1"], seen
    assert seen["x-forwarded-proto"] == ["https"] and seen["x-forwarded-port"] == [str(port)], seen
    assert seen["x-forwarded-host"] in (["gocd.test"], [f"gocd.test:{port}"]), seen


def test_a_malformed_cidr_is_exit_2_naming_key_and_value(request):
    s = setup_for("nginx", request, extra_proxy='trusted_proxies = ["10.0.0.1/8"]')
    r = once(s)
    assert r.returncode == 2, r.stderr
    assert 'proxy.trusted_proxies: \\"10.0.0.1/8\\" has address bits set' in r.stderr, r.stderr


def test_check_says_which_module_trusted_proxies_need(tmp_path, standin, certs, nginx):
    from conftest import APACHE_MODULES, TOKEN, Apache, free_port, run, write_config
    apache = Apache(tmp_path, modules=[m for m in APACHE_MODULES if m != "remoteip"])
    gocd = standin(token=TOKEN, site_url="", secure_site_url=f"https://gocd.test:{free_port()}")
    cfg, _ = write_config(tmp_path, gocd.base, kind="apache", output=apache.confd / "gocd.conf",
                          test_command=apache.test_command, reload_command=apache.reload_command, certs=certs,
                          extra_proxy='apache_listen_ports = []\ntrusted_proxies = ["192.0.2.0/24"]')
    r = run("check", "--config", str(cfg))
    assert "FAIL: Apache modules missing: remoteip: run a2enmod remoteip" in r.stdout, r.stdout
    cfg, _ = write_config(tmp_path, gocd.base, kind="nginx", output=nginx.confd / "gocd.conf",
                          test_command=nginx.test_command, reload_command=nginx.reload_command, certs=certs,
                          extra_proxy='trusted_proxies = ["192.0.2.0/24"]')
    r = run("check", "--config", str(cfg))
    assert "ok: NGINX module for trusted_proxies: realip (built in)" in r.stdout, r.stdout


def header_line(kind, value):
    return f"add_header X-Operator {value} always;\n" if kind == "nginx" else f"Header always set X-Operator {value}\n"


def include_setup(request, server="add_header X-Operator one always;\n", redirect=None, kind="nginx"):
    tmp = request.getfixturevalue("tmp_path")
    inc = tmp / "includes"
    inc.mkdir(mode=0o755)
    (inc / "server.conf").write_text(server)
    (inc / "server.conf").chmod(0o644)
    extra = f'include_in_server = ["{inc / "server.conf"}"]'
    if redirect is not None:
        (inc / "redirect.conf").write_text(redirect)
        (inc / "redirect.conf").chmod(0o644)
        extra += f'\ninclude_in_redirect = ["{inc / "redirect.conf"}"]'
    s = setup_for(kind, request, extra_proxy=extra)
    s["include"] = inc / "server.conf"
    return s


def operator_header(s):
    status, headers, _ = http_get(s["https_port"], "/go/pipelines", host="gocd.test", https=True)
    return headers.get("x-operator") if status == 200 else None


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_an_include_is_served_and_an_edit_is_applied_as_reason_include(request, kind):
    s = include_setup(request, server=header_line(kind, "one"), kind=kind)
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert f"# Include: {s['include']} digest=" in s["output"].read_text()
    wait_for(lambda: operator_header(s) == "one", what="the include's header")
    assert once(s).returncode == 0 and "applied" not in once(s).stderr, "unchanged when nothing changed"
    s["include"].write_text(header_line(kind, "two"))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "applied" in r.stderr and "reason=include" in r.stderr, r.stderr
    assert "reloaded" in r.stderr, r.stderr  # confirmed: the new generation is served
    wait_for(lambda: operator_header(s) == "two", what="the edited include")


# A directive each proxy's config test refuses.
BROKEN = {"nginx": "add_header_broken X-Operator three;\n", "apache": "Header always sett X-Operator three\n"}


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_broken_include_is_never_reloaded_and_named(request, kind):
    s = include_setup(request, server=header_line(kind, "one"), kind=kind)
    assert once(s).returncode == 0
    wait_for(lambda: operator_header(s) == "one", what="the include's header")
    before = s["output"].read_text()
    s["include"].write_text(BROKEN[kind])
    r = once(s)
    assert r.returncode == 5, r.stderr
    assert "test_failed" in r.stderr and f"include={s['include']}" in r.stderr, r.stderr
    assert s["output"].read_text() == before, "the previous file stays"
    assert operator_header(s) == "one", "the old site is still served"
    s["include"].write_text(header_line(kind, "four"))
    r = once(s)
    assert r.returncode == 0 and "reason=include" in r.stderr, r.stderr
    wait_for(lambda: operator_header(s) == "four", what="the fixed include")


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_run_tries_a_broken_include_once_until_it_changes(request, kind):
    """Under `run`, an include that fails the config test is tested once: the following cycles wait for a change
    (no test, no reload), and the edit that fixes it is applied as reason=include."""
    from conftest import invocations
    from test_daemon import Daemon
    s = include_setup(request, server=header_line(kind, "one"), kind=kind)
    assert once(s).returncode == 0
    wait_for(lambda: operator_header(s) == "one", what="the include's header")
    daemon = Daemon(s["cfg"])
    waiting = "an include still fails the config test, as logged earlier"
    try:
        wait_for(lambda: "nothing to do" in daemon.text(), what="the daemon in sync")
        s["include"].write_text(BROKEN[kind])
        wait_for(lambda: waiting in daemon.text(), what="the first cycle after the failure")
        tests, reloads = invocations(s["counts"]).count("test"), invocations(s["counts"]).count("reload")
        wait_for(lambda: daemon.text().count(waiting) >= 4, what="three more cycles")
        assert invocations(s["counts"]).count("test") == tests, "the same include is not tested again"
        assert invocations(s["counts"]).count("reload") == reloads
        assert operator_header(s) == "one", "the old site is still served"
        s["include"].write_text(header_line(kind, "five"))
        wait_for(lambda: "reason=include" in daemon.text(), what="the fixed include applied")
        wait_for(lambda: operator_header(s) == "five", what="the fixed include served")
    finally:
        assert daemon.stop() == 0
    log = daemon.text()
    failed = [line for line in log.splitlines() if "test_failed" in line and waiting not in line]
    assert len(failed) == 1 and f"include={s['include']}" in failed[0], log


@pytest.mark.parametrize("kind", ["nginx", "apache"])
@pytest.mark.parametrize("change,reason", [
    (lambda p: p.chmod(0o664), "writable by group or others"),
    (lambda p: p.chmod(0o646), "writable by group or others"),
    (lambda p: __import__("os").chown(p, 65534, 0), "owned by uid 65534, not root"),
], ids=["group-writable", "other-writable", "another-owner"])
def test_an_include_others_can_change_is_exit_7(request, kind, change, reason):
    s = include_setup(request, server=header_line(kind, "one"), kind=kind)
    change(s["include"])
    r = once(s)
    assert r.returncode == 7, r.stderr
    assert str(s["include"]) in r.stderr and reason in r.stderr, r.stderr
    assert not s["output"].exists()
    from conftest import run
    r = run("check", "--config", str(s["cfg"]))
    assert f"FAIL: include {s['include']}: " in r.stdout, r.stdout


def test_a_redirect_include_serves_its_own_path(request):
    s = include_setup(request, redirect='location = /hello { default_type text/plain; return 200 "hello"; }\n')
    r = once(s)
    assert r.returncode == 0, r.stderr
    status, _, body = wait_for(lambda: (lambda a: a if a[0] == 200 else None)(
        http_get(s["http_port"], "/hello", host="gocd.test")), what="the include's path")
    assert body == "hello"
    status, headers, _ = http_get(s["http_port"], "/go/pipelines", host="gocd.test")
    assert status == 301 and headers["location"].endswith("/go/pipelines"), (status, headers)


def test_an_apache_redirect_include_serves_what_it_maps_and_the_rest_is_redirected(request, tmp_path):
    """Apache: the redirect VirtualHost redirects only a path nothing mapped (its <If> compares the mapped file with
    the DocumentRoot's, README: Your own directives): the include's Alias, AliasMatch, ProxyPass, RewriteRule and
    <Location> Redirect answer for their paths; every other path, one that exists in the DocumentRoot too, is
    301 (GET) or 308 (POST) to the same Location as before."""
    import http.client
    import tempfile
    apache = request.getfixturevalue("apache")
    public = Path(tempfile.mkdtemp(prefix="gps-hello-"))  # httpd's workers (www-data) can read it
    request.addfinalizer(lambda: __import__("shutil").rmtree(public))
    public.chmod(0o755)
    hello = public / "hello.txt"
    hello.write_text("hello")
    hello.chmod(0o644)
    redirect = (f"Header always set X-Operator-Redirect yes\nAlias /hello {hello}\n"
                f"AliasMatch ^/files/(hello\\.txt)$ {public}/$1\n<Directory {public}>\n    Require all granted\n</Directory>\n"
                f"ProxyPass /status-vhost/ http://127.0.0.1:{apache.status_port}/\n"
                f"RewriteEngine On\nRewriteRule ^/rewritten$ {hello} [L]\n"
                f"<Location /moved>\n    Require all granted\n    Redirect 302 https://elsewhere.example/\n</Location>\n")
    s = include_setup(request, server=header_line("apache", "one"), redirect=redirect, kind="apache")
    r = once(s)
    assert r.returncode == 0, r.stderr
    status, headers, body = wait_for(lambda: (lambda a: a if a[1].get("x-operator-redirect") else None)(
        http_get(s["http_port"], "/hello", host="gocd.test")), what="the redirect include's header")
    assert (status, body) == (200, "hello"), (status, headers, body)
    for path in ("/files/hello.txt", "/rewritten"):
        status, headers, body = http_get(s["http_port"], path, host="gocd.test")
        assert (status, body) == (200, "hello"), (path, status, headers, body)
    status, _, body = http_get(s["http_port"], "/status-vhost/alive", host="gocd.test")
    assert (status, body) == (200, Path("/etc/hostname").read_text()), (status, body)
    status, headers, _ = http_get(s["http_port"], "/moved", host="gocd.test")
    assert (status, headers.get("location")) == (302, "https://elsewhere.example/"), (status, headers)
    target = f"https://gocd.test:{s['https_port']}"
    # Not mapped: redirected, also a path that exists in the server's default DocumentRoot (Debian: /var/www/html).
    root = Path("/var/www/html")
    existing = sorted(p.name for p in root.iterdir() if p.is_file()) if root.is_dir() else []
    for path in ["/go/pipelines?a=b", "/", "/files/other.txt"] + [f"/{name}" for name in existing[:1]]:
        status, headers, _ = http_get(s["http_port"], path, host="gocd.test")
        assert status == 301 and headers["location"] == target + path, (path, status, headers)
    conn = http.client.HTTPConnection("127.0.0.1", s["http_port"], timeout=5)
    try:
        conn.request("POST", "/go/api/x?a=b", body=b"x=1", headers={"Host": "gocd.test"})
        response = conn.getresponse()
        assert response.status == 308 and response.getheader("location") == target + "/go/api/x?a=b", \
            (response.status, response.getheaders())
    finally:
        conn.close()


def test_a_renamed_site_keeps_its_old_name_until_the_time_then_drops_it(request):
    """keep_previous_names_hours (SPEC 5e: Renames): gocd.test → new.gocd.test, both answer from GoCD; once the
    time in state.json has passed, the next `once` drops the old name (applied reason=kept-names-expired)."""
    s = setup_for("nginx", request, extra_proxy="keep_previous_names_hours = 1")
    r = once(s)
    assert r.returncode == 0, r.stderr
    http_port, https_port = s["http_port"], s["https_port"]
    s["gocd"].control(site_url=f"http://new.gocd.test:{http_port}", secure_site_url=f"https://new.gocd.test:{https_port}")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "reason=change" in r.stderr and "kept_names" in r.stderr and "gocd.test until" in r.stderr, r.stderr
    state_file = s["tmp"] / "state" / "state.json"
    state = json.loads(state_file.read_text())
    assert list(state["kept_names"]) == ["gocd.test"], state
    for host in ("new.gocd.test", "gocd.test"):
        status, _, body = http_get(https_port, "/go/pipelines", host=f"{host}:{https_port}", https=True)
        assert status == 200 and json.loads(body)["path"] == "/go/pipelines", (host, status, body)
        status, headers, _ = http_get(http_port, "/go/x", host=f"{host}:{http_port}")
        assert status == 301 and headers["location"] == f"https://new.gocd.test:{https_port}/go/x", (host, headers)
    # Nothing changed: the next cycle keeps the name and writes nothing.
    r = once(s)
    assert r.returncode == 0 and "applied" not in r.stderr.replace("last_applied", ""), r.stderr
    # The time has passed.
    state["kept_names"]["gocd.test"] = "2000-01-01T00:00:00Z"
    state_file.write_text(json.dumps(state))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "reason=kept-names-expired" in r.stderr and "kept_names" not in r.stderr, r.stderr
    assert "kept_names" not in json.loads(state_file.read_text())
    # (nginx would still answer an unknown name from the port's default server: what counts is the file.)
    assert "server_name new.gocd.test;" in s["output"].read_text()
    assert "gocd.test" not in s["output"].read_text().replace("new.gocd.test", ""), s["output"].read_text()
    status, _, body = http_get(https_port, "/go/pipelines", host=f"new.gocd.test:{https_port}", https=True)
    assert status == 200, body


def through_proxy_protocol(port, header, host, source="127.0.0.1", https=True, headers=None):
    """One request to 127.0.0.1:port from `source` (another loopback address is another peer) that starts with
    the PROXY `header` (bytes, may be empty), with `host`'s name as SNI and `headers` (a dict) added to the
    request; returns (status, headers, body)."""
    import socket
    import ssl
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(5)
    try:
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", port))
        raw.sendall(header)
        conn = raw
        if https:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = ctx.wrap_socket(raw, server_hostname=host.rsplit(":", 1)[0])
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        conn.sendall(f"GET /go/pipelines HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    finally:
        raw.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body.decode(errors="replace")


def proxy_v1(source, destination, source_port, destination_port):
    return f"PROXY TCP4 {source} {destination} {source_port} {destination_port}\r\n".encode()


def proxy_v2(source, destination, source_port, destination_port):
    import socket
    import struct
    addresses = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!HH", source_port, destination_port)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses


def forwarded_for(body):
    seen = {k.lower(): v for k, v in json.loads(body)["header_list"]}
    return seen["x-forwarded-for"], seen["x-real-ip"]


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_proxy_protocol_passes_a_trusted_peers_client_address_and_is_confirmed(kind, request):
    s = setup_for(kind, request, extra_proxy='trusted_proxies = ["127.0.0.1/32"]\nproxy_protocol = true')
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "the proxy serves the new configuration" in r.stderr, r.stderr
    assert ("proxy_protocol" if kind == "nginx" else "RemoteIPProxyProtocol On") in s["output"].read_text()
    port = s["https_port"]
    host = f"gocd.test:{port}"
    for header in (proxy_v1("203.0.113.7", "127.0.0.1", 40000, port), proxy_v2("203.0.113.7", "127.0.0.1", 40000, port)):
        status, _, body = through_proxy_protocol(port, header, host)
        assert status == 200, body
        assert forwarded_for(body) == ("203.0.113.7", "203.0.113.7"), body
    # Every listener expects the header: a connection without one is closed by both, unanswered.
    import http.client
    with pytest.raises((OSError, http.client.HTTPException)):
        http_get(port, "/go/pipelines", host=host, https=True)
    # The next cycle confirms at start over the PROXY protocol too, and changes nothing.
    r = once(s)
    assert r.returncode == 0 and "applied" not in r.stderr.replace("last_applied", ""), r.stderr


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_proxy_protocol_takes_only_the_client_address_from_a_trusted_peer(kind, request):
    """Behind an L4 balancer (HAProxy send-proxy, AWS NLB) the peer is the balancer, which adds no headers: the
    X-Forwarded-* on its connection are the end client's. GoCD gets the PROXY header's client address and this
    proxy's own proto, host and port (security review: evil.example/http used to reach GoCD)."""
    s = setup_for(kind, request, extra_proxy='trusted_proxies = ["127.0.0.1/32"]\nproxy_protocol = true')
    r = once(s)
    assert r.returncode == 0, r.stderr
    port = s["https_port"]
    host = f"gocd.test:{port}"
    spoofed = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http", "X-Forwarded-Port": "1",
               "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6;host=evil.example"}
    for header in (proxy_v1("203.0.113.9", "127.0.0.1", 40000, port), proxy_v2("203.0.113.9", "127.0.0.1", 40000, port)):
        status, _, body = through_proxy_protocol(port, header, host, headers=spoofed)
        assert status == 200, body
        seen = {}
        for key, value in json.loads(body)["header_list"]:
            seen.setdefault(key.lower(), []).append(value)
        assert seen["x-forwarded-for"] == ["203.0.113.9"] and seen["x-real-ip"] == ["203.0.113.9"], seen
        assert seen["x-forwarded-proto"] == ["https"] and seen["x-forwarded-port"] == [str(port)], seen
        # nginx passes the host without the port ($host), Apache the Host header as received.
        assert seen["x-forwarded-host"] in (["gocd.test"], [host]), seen
        assert "forwarded" not in seen, seen
        assert not any("6.6.6.6" in v or "evil" in v for values in seen.values() for v in values), seen


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_proxy_protocol_from_an_untrusted_peer_is_not_believed(kind, request):
    """127.0.0.2 is not a trusted proxy: NGINX reads its header and passes on the connection's address; httpd
    cannot put that address back (mod_remoteip has already made the header's the client's), so it refuses a header
    that names another address than the peer's own (403) and serves one that names its own."""
    s = setup_for(kind, request, extra_proxy='trusted_proxies = ["127.0.0.1/32"]\nproxy_protocol = true')
    r = once(s)
    assert r.returncode == 0, r.stderr
    https_port, http_port = s["https_port"], s["http_port"]
    host = f"gocd.test:{https_port}"
    for header in (proxy_v1("203.0.113.7", "127.0.0.1", 40000, https_port),
                   proxy_v2("203.0.113.7", "127.0.0.1", 40000, https_port),
                   proxy_v1("127.0.0.1", "127.0.0.1", 40000, https_port)):
        status, _, body = through_proxy_protocol(https_port, header, host, source="127.0.0.2")
        if kind == "nginx":
            assert status == 200 and forwarded_for(body) == ("127.0.0.2", "127.0.0.2"), (header, status, body)
        else:
            assert status == 403 and "203.0.113.7" not in body, (header, status, body)
    # A header with the peer's own address claims nothing: served by both, with that address.
    status, _, body = through_proxy_protocol(https_port, proxy_v1("127.0.0.2", "127.0.0.1", 40000, https_port), host,
                                             source="127.0.0.2")
    assert status == 200 and forwarded_for(body) == ("127.0.0.2", "127.0.0.2"), (status, body)
    # The plain-HTTP redirect listener expects it too, and refuses on Apache the same way.
    status, headers, _ = through_proxy_protocol(http_port, proxy_v1("203.0.113.7", "127.0.0.1", 40000, http_port),
                                                f"gocd.test:{http_port}", source="127.0.0.2", https=False)
    assert status == (301 if kind == "nginx" else 403), (status, headers)


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_proxy_protocol_is_confirmed_from_an_address_that_is_not_trusted(kind, request):
    """The probes send a v1 header with their own addresses: believed or not, it names the probe itself."""
    s = setup_for(kind, request, extra_proxy='trusted_proxies = ["192.0.2.0/24"]\nproxy_protocol = true')
    if kind == "apache":  # with mod_http2, for the HTTP/2 request below
        from conftest import APACHE_MODULES
        s[kind].stop()
        s[kind].modules = APACHE_MODULES + ["http2"]
        s[kind].write()
        s[kind].start()
    r = once(s)
    assert r.returncode == 0 and "the proxy serves the new configuration" in r.stderr, r.stderr
    port = s["https_port"]
    status, _, body = through_proxy_protocol(port, proxy_v1("203.0.113.7", "127.0.0.1", 40000, port), f"gocd.test:{port}")
    if kind == "nginx":
        assert status == 200 and forwarded_for(body) == ("127.0.0.1", "127.0.0.1"), body
    else:
        assert status == 403, body
    # Over HTTP/2 too (on httpd the request runs on a secondary connection, which keeps the peer's address):
    # curl's own v1 header names itself.
    r = subprocess.run(["curl", "-sk", "--http2", "--haproxy-protocol", "-o", "-", "-w", "\n%{http_version} %{http_code}",
                        "--resolve", f"gocd.test:{port}:127.0.0.1", f"https://gocd.test:{port}/go/pipelines"],
                       capture_output=True, text=True, timeout=20)
    body, _, versions = r.stdout.rpartition("\n")
    assert versions == "2 200" and forwarded_for(body) == ("127.0.0.1", "127.0.0.1"), r
    r = once(s)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_proxy_protocol_without_trusted_proxies_is_exit_2(kind, request):
    s = setup_for(kind, request, extra_proxy="proxy_protocol = true")
    r = once(s)
    assert r.returncode == 2 and "proxy.proxy_protocol: needs trusted_proxies" in r.stderr, r.stderr


ANOTHER_SITE = {
    "nginx": """server {{
    listen 127.0.0.1:{http} default_server;
    server_name _;
    return 410;
}}
server {{
    listen 127.0.0.1:{https} ssl http2 default_server;
    server_name _;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    return 410;
}}
""",
    # The first VirtualHost of an address and port is httpd's default; the GoCD file's Listen lines open the ports.
    "apache": """<VirtualHost 127.0.0.1:{http}>
    ServerName another.invalid
    Redirect gone /
</VirtualHost>
<VirtualHost 127.0.0.1:{https}>
    ServerName another.invalid
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    Redirect gone /
</VirtualHost>
""",
}


def answered_by(s, host, https=True):
    """Who answers `host` on the setup's HTTP or HTTPS port: "gocd" (the stand-in, through the GoCD file),
    "redirect" (the GoCD file's redirect listener) or "another site" (the port's default, 410)."""
    port = s["https_port"] if https else s["http_port"]
    status, headers, body = through_proxy_protocol(port, b"", f"{host}:{port}", https=https)
    if status == 200 and json.loads(body)["path"] == "/go/pipelines":
        return "gocd"
    if status == 301 and headers["location"].startswith(f"https://new.gocd.test:{s['https_port']}/"):
        return "redirect"
    return "another site" if status == 410 else (status, headers, body)


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_kept_names_outlive_a_restart_and_the_first_cycle_after_their_time_drops_them(kind, request):
    """keep_previous_names_hours across restarts, on a real proxy where another site answers the names the GoCD file
    does not have: a rename keeps the old name; `once` and a restarted `run` keep serving it from state.json's
    record; the first cycle of `run` after the time drops it (applied reason=kept-names-expired)."""
    from conftest import run
    from test_daemon import Daemon
    s = setup_for(kind, request, extra_proxy="keep_previous_names_hours = 0.005")  # 18 s
    proxy = s[kind]
    (proxy.confd / "000-another-site.conf").write_text(ANOTHER_SITE[kind].format(
        http=s["http_port"], https=s["https_port"], cert=s["certs"]["cert"], key=s["certs"]["key"]))
    subprocess.run(proxy.reload_command, check=True, capture_output=True)
    r = once(s)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: answered_by(s, "gocd.test") == "gocd", what="the GoCD file serving its name")
    assert answered_by(s, "new.gocd.test") == "another site"

    s["gocd"].control(site_url=f"http://new.gocd.test:{s['http_port']}",
                      secure_site_url=f"https://new.gocd.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 0 and "reason=change" in r.stderr and "gocd.test until" in r.stderr, r.stderr
    state_file = s["tmp"] / "state" / "state.json"
    until = json.loads(state_file.read_text())["kept_names"]["gocd.test"]
    # (A worker of the previous configuration may still take a connection for a moment after the reload.)
    for host in ("new.gocd.test", "gocd.test"):
        wait_for(lambda: answered_by(s, host) == "gocd", what=f"{host} served through the GoCD file")
        wait_for(lambda: answered_by(s, host, https=False) == "redirect", what=f"{host} redirected")
    # Another process: the record in state.json keeps the name, nothing is applied.
    r = once(s)
    assert r.returncode == 0 and "applied" not in r.stderr.replace("last_applied", ""), r.stderr
    assert json.loads(state_file.read_text())["kept_names"] == {"gocd.test": until}
    # The daemon started, stopped, started again: the first cycle of each keeps it too.
    first = Daemon(s["cfg"])
    try:
        wait_for(lambda: "nothing to do" in first.text(), what="the first daemon's first cycle")
    finally:
        assert first.stop() == 0
    assert "applied" not in first.text().replace("last_applied", ""), first.text()
    assert answered_by(s, "gocd.test") == "gocd"
    second = Daemon(s["cfg"])
    try:
        wait_for(lambda: "nothing to do" in second.text(), what="the second daemon's first cycle")
        assert answered_by(s, "gocd.test") == "gocd"
        # The time passes; the first cycle after it drops the name. (Deadline: the 18 s window, plus slack.)
        wait_for(lambda: "reason=kept-names-expired" in second.text(), timeout=40, interval=0.2,
                 what="the kept name dropped")
    finally:
        assert second.stop() == 0
    log = second.text()
    applied = [line for line in log.splitlines() if "reason=kept-names-expired" in line]
    assert len(applied) == 1 and " kept_names=" not in applied[0], log
    assert "kept_names" not in json.loads(state_file.read_text())
    wait_for(lambda: answered_by(s, "gocd.test") == "another site", what="the old name gone from the GoCD file")
    wait_for(lambda: answered_by(s, "gocd.test", https=False) == "another site", what="the old name's redirect gone")
    assert answered_by(s, "new.gocd.test") == "gocd"
    r = once(s)
    assert r.returncode == 0 and "applied" not in r.stderr.replace("last_applied", ""), r.stderr


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_proxy_protocol_on_a_port_another_site_uses_is_refused(kind, request):
    """Both proxies turn the PROXY protocol on per address and port, not per site: on a port another site uses,
    NGINX would close that site's plain connections and Apache would let any peer claim any address there. The
    plan is refused (exit 4) before anything is written, naming the other site; the other site keeps answering."""
    s = setup_for(kind, request, extra_proxy='trusted_proxies = ["127.0.0.1/32"]\nproxy_protocol = true')
    proxy = s[kind]
    other = proxy.confd / "000-another-site.conf"
    other.write_text(ANOTHER_SITE[kind].format(
        http=s["http_port"], https=s["https_port"], cert=s["certs"]["cert"], key=s["certs"]["key"]))
    if kind == "apache":
        # The GoCD file's Listen lines would open these ports: without it, the other site listens itself.
        other.write_text(f"Listen 127.0.0.1:{s['http_port']}\nListen 127.0.0.1:{s['https_port']}\n" + other.read_text())
    subprocess.run(proxy.reload_command, check=True, capture_output=True)
    wait_for(lambda: http_get(s["http_port"], "/", host="another.invalid")[0] == 410, what="the other site up")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "with proxy_protocol = true the PROXY protocol would be expected on that site's connections too" in r.stderr
    assert str(other) in r.stderr, r.stderr
    assert not s["output"].exists()
    assert http_get(s["http_port"], "/", host="another.invalid")[0] == 410

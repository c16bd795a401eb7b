"""The rendered site an operator expects (issue 13): HTTP/2, HSTS, a verified https upstream, Apache modules."""
import socket
import ssl

import pytest

from conftest import TOKEN, Apache, free_port, http_get, once, proxied_setup, run, wait_for, write_config


@pytest.fixture
def nginx_setup(tmp_path, standin, nginx, certs):
    return proxied_setup(tmp_path, standin, nginx, certs, kind="nginx", extra_proxy="hsts_max_age_seconds = 31536000")


@pytest.fixture
def apache_setup(tmp_path, standin, apache, certs):
    return proxied_setup(tmp_path, standin, apache, certs, kind="apache",
                         extra_proxy="apache_listen_ports = []\nhsts_max_age_seconds = 31536000")


def alpn(port, host):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            return tls.selected_alpn_protocol()


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_hsts_on_every_https_response_proxied_ones_included(kind, request):
    s = request.getfixturevalue(f"{kind}_setup")
    r = once(s)
    assert r.returncode == 0, r.stderr
    status, headers, _ = wait_for(lambda: (lambda a: a if a[0] == 200 else None)(
        http_get(s["https_port"], "/go/pipelines", host="gocd.test", https=True)), what="proxied")
    assert headers.get("strict-transport-security") == "max-age=31536000"
    status, headers, _ = http_get(s["http_port"], "/go", host="gocd.test")
    assert status == 301 and "strict-transport-security" not in headers, "never on plain HTTP"


def test_nginx_offers_http2_and_the_websocket_still_upgrades(nginx_setup):
    from conftest import websocket_upgrade
    s = nginx_setup
    assert once(s).returncode == 0
    wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="served")
    assert alpn(s["https_port"], "gocd.test") == "h2"
    # Browsers open websockets over HTTP/1.1 when NGINX does not offer extended CONNECT (1.22 does not).
    answer = websocket_upgrade(s["https_port"], f"gocd.test:{s['https_port']}")
    assert answer.startswith("HTTP/1.1 101"), answer


def https_upstream(s, certs, ca=True):
    text = s["cfg"].read_text()
    upstream = next(line for line in text.splitlines() if line.startswith("upstream ="))
    port = s["gocd"].port
    extra = f'upstream_ca_file = "{certs["ca"]}"\n' if ca else ""
    s["cfg"].write_text(text.replace(upstream, f'upstream = "https://localhost:{port}"\n{extra}'))


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_an_https_upstream_is_verified_and_works(kind, tmp_path, standin, nginx, apache, certs):
    proxy = nginx if kind == "nginx" else apache
    http_port, https_port = free_port(), free_port()
    gocd = standin(tls=certs, token=TOKEN, site_url=f"http://gocd.test:{http_port}",
                   secure_site_url=f"https://gocd.test:{https_port}")
    cfg, _ = write_config(tmp_path, gocd.base, kind=kind, output=proxy.confd / "gocd.conf",
                          test_command=proxy.test_command, reload_command=proxy.reload_command, certs=certs,
                          extra_gocd=f'ca_file = "{certs["ca"]}"',
                          extra_proxy="apache_listen_ports = []" if kind == "apache" else "")
    proxy.start()
    s = {"cfg": cfg, "gocd": gocd}
    https_upstream(s, certs)
    r = run("once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "upstream_unreachable" not in r.stderr, r.stderr
    status, _, body = wait_for(lambda: (lambda a: a if a[0] == 200 else None)(
        http_get(https_port, "/go/pipelines", host="gocd.test", https=True)), what="proxied over TLS")
    assert '"standin": "gocd"' in body
    # Without the CA the upstream's certificate is not trusted: a warning, the new file stays.
    https_upstream(s, certs, ca=False)
    s["cfg"].write_text(s["cfg"].read_text().replace(f'upstream_ca_file = "{certs["ca"]}"\n', ""))
    r = run("once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "upstream_unreachable" in r.stderr and "HTTP 50" in r.stderr, r.stderr  # nginx 502, httpd 500
    assert "proxy_error_log=" in r.stderr
    assert "rolled_back" not in r.stderr


def test_check_names_every_missing_apache_module(tmp_path, standin, certs):
    from conftest import APACHE_MODULES
    apache = Apache(tmp_path, modules=[m for m in APACHE_MODULES if m not in ("headers", "ssl")])
    gocd = standin(token=TOKEN, site_url="", secure_site_url=f"https://gocd.test:{free_port()}")
    cfg, _ = write_config(tmp_path, gocd.base, kind="apache", output=apache.confd / "gocd.conf",
                          test_command=apache.test_command, reload_command=apache.reload_command, certs=certs,
                          extra_proxy="apache_listen_ports = []")
    r = run("check", "--config", str(cfg))
    assert r.returncode == 2, r.stdout
    assert "FAIL: Apache modules missing: headers, ssl: run a2enmod headers ssl" in r.stdout, r.stdout
    r = run("once", "--config", str(cfg))
    assert r.returncode == 5 and "a2enmod headers ssl" in r.stderr, r.stderr


def test_without_a_listen_address_nginx_serves_ipv6_too(nginx_setup):
    s = nginx_setup
    text = s["cfg"].read_text()
    s["cfg"].write_text(text.replace('listen_address = "127.0.0.1"\n', ""))
    r = once(s)
    assert r.returncode == 0, r.stderr
    conf = s["output"].read_text()
    assert f"listen [::]:{s['https_port']} ssl http2;" in conf, conf
    import http.client
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("::1", s["https_port"], timeout=5, context=ctx)
    conn.request("GET", "/go/pipelines", headers={"Host": "gocd.test"})
    assert conn.getresponse().status == 200, "served on [::1]"


def test_the_older_httpd_websocket_form_works_on_a_real_httpd(tmp_path, standin, apache, certs):
    """httpd before 2.4.47 gets mod_rewrite's websocket form; 2.4.71 still understands it, so run it for real."""
    from conftest import websocket_upgrade
    import os
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apache2").write_text('#!/bin/sh\n[ "$1" = -v ] && { echo "Server version: Apache/2.4.37 (Red Hat Enterprise Linux)"; '
                                  'exit 0; }\nexec /usr/sbin/apache2 "$@"\n')
    (fake / "apache2").chmod(0o755)
    s = proxied_setup(tmp_path, standin, apache, certs, kind="apache", extra_proxy="apache_listen_ports = []")
    r = run("once", "--config", str(s["cfg"]), env={"PATH": f"{fake}:{os.environ['PATH']}"})
    assert r.returncode == 0, r.stderr
    conf = s["output"].read_text()
    assert "upgrade=websocket" not in conf and "RewriteCond %{HTTP:Upgrade} =websocket [NC]" in conf
    wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="served")
    answer = websocket_upgrade(s["https_port"], f"gocd.test:{s['https_port']}")
    assert answer.startswith("HTTP/1.1 101"), answer


def _connections_to(port):
    """Sockets of this host connected to 127.0.0.1:port, in any state but LISTEN (from /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    count = 0
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if fields[2] == want and fields[3] != "0A":
            count += 1
    return count


def test_nginx_keeps_upstream_connections_open(tmp_path, standin, nginx, certs):
    """A new upstream connection per request left one socket in TIME_WAIT per request; the upstream block
    with keepalive reuses a few."""
    s = proxied_setup(tmp_path, standin, nginx, certs, kind="nginx")
    assert once(s).returncode == 0
    upstream_port = s["gocd"].port
    before = _connections_to(upstream_port)
    for _ in range(200):
        assert http_get(s["https_port"], "/go/api/v1/health", host="gocd.test", https=True)[0] == 200
    after = _connections_to(upstream_port)
    # nginx keeps at most 32 idle connections per worker (one worker here); without keepalive: ~200 TIME_WAIT.
    assert after - before <= 40, f"{after - before} sockets to GoCD after 200 requests"


def test_the_apache_redirect_answers_a_large_upload_with_its_redirect_not_413(tmp_path, standin, apache, certs):
    """httpd's default LimitRequestBody (1 GiB since 2.4.53) answered a GoCD agent's 2 GiB PUT to the http URL
    with 413 instead of the redirect to https."""
    s = proxied_setup(tmp_path, standin, apache, certs, kind="apache")
    assert once(s).returncode == 0
    wait_for(lambda: http_get(s["http_port"], "/go/x", host="gocd.test")[0] == 301, what="redirect served")
    with socket.create_connection(("127.0.0.1", s["http_port"]), timeout=10) as c:
        c.sendall(f"PUT /go/remoting/files/x HTTP/1.1\r\nHost: gocd.test:{s['http_port']}\r\n"
                  "Content-Length: 2147483648\r\nExpect: 100-continue\r\n\r\n".encode())
        status = c.recv(4096).split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 308"), status

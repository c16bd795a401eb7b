"""SPEC 5d, certificates as operators get them (issue 25): redirects that keep the method, the TLS profile and
the ACME http-01 challenge, on a real nginx and a real httpd."""
import http.client

import pytest

from conftest import http_get, once, proxied_setup, wait_for


def send(port, method, path, host, body=None):
    """One plain-HTTP request to 127.0.0.1:port; returns (status, headers dict, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Host": host}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
    finally:
        conn.close()


def setup(kind, request_fixture, tmp_path, standin, certs, extra_proxy=""):
    proxy = request_fixture.getfixturevalue(kind)
    extra = ("apache_listen_ports = []\n" if kind == "apache" else "") + extra_proxy
    return proxied_setup(tmp_path, standin, proxy, certs, kind=kind, extra_proxy=extra)


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_redirect_keeps_the_method(kind, request, tmp_path, standin, certs):
    s = setup(kind, request, tmp_path, standin, certs)
    r = once(s)
    assert r.returncode == 0, r.stderr
    target = f"https://gocd.test:{s['https_port']}/go/api/agents?x=1"
    host = f"gocd.test:{s['http_port']}"
    status, headers, _ = wait_for(lambda: (lambda a: a if a[0] == 301 else None)(
        request_("GET", s, "/go/api/agents?x=1", host)), what="redirect served")
    assert headers["location"] == target
    status, headers, _ = request_("HEAD", s, "/go/api/agents?x=1", host)
    assert (status, headers["location"]) == (301, target)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        status, headers, _ = send(s["http_port"], method, "/go/api/agents?x=1", host, body='{"agent": "a1"}')
        assert (status, headers.get("location")) == (308, target), (method, status, headers)
    assert "/go/api/agents" not in s["gocd"].snapshot()["paths"], "a redirect is never forwarded to GoCD"


def request_(method, s, path, host):
    return send(s["http_port"], method, path, host)


"""The operator's own site (issue 24, SPEC 5e): what reaches GoCD is what this proxy saw, front proxies, includes."""
import json

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

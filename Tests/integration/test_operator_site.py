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

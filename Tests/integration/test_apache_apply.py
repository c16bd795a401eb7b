"""Apache httpd 2.4 end to end: the same guarantees as NGINX, against a real apache2."""
import json
import os

import pytest

from conftest import once, proxied_setup, TOKEN, Apache, free_port, http_get, invocations, run, wait_for, websocket_upgrade, write_config


@pytest.fixture
def setup(tmp_path, standin, apache, certs):
    return proxied_setup(tmp_path, standin, apache, certs, kind="apache", extra_proxy="apache_listen_ports = []")


def test_first_apply_serves_both_listeners(setup):
    s = setup
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert invocations(s["counts"]) == ["test", "reload"]
    text = s["output"].read_text()
    assert f"Listen 127.0.0.1:{s['https_port']}" in text and f"Listen 127.0.0.1:{s['http_port']}" in text
    redirect = lambda: http_get(s["http_port"], "/go/pipelines?x=1", host=f"gocd.test:{s['http_port']}")
    wait_for(lambda: redirect()[0] == 301, what="redirect vhost")
    assert redirect()[1]["location"] == f"https://gocd.test:{s['https_port']}/go/pipelines?x=1"
    status, _, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        http_get(s["https_port"], "/go/pipelines", host=f"gocd.test:{s['https_port']}", https=True,
                 headers={"X-Agent-GUID": "g-1", "X-Go-Artifact-Size": "123"})), what="https proxy")
    echoed = json.loads(body)["headers"]
    assert echoed["Host"] == f"gocd.test:{s['https_port']}"
    assert echoed["X-Forwarded-Proto"] == "https"
    assert echoed["X-Agent-GUID"] == "g-1" and echoed["X-Go-Artifact-Size"] == "123"


def test_websocket_upgrade_reaches_upstream(setup):
    s = setup
    assert once(s).returncode == 0
    wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="served")
    answer = websocket_upgrade(s["https_port"], f"gocd.test:{s['https_port']}")
    assert answer.startswith("HTTP/1.1 101"), answer
    assert "X-Standin-Upgraded: yes" in answer


def test_second_once_writes_and_reloads_nothing(setup):
    s = setup
    assert once(s).returncode == 0
    before = os.stat(s["output"])
    assert once(s).returncode == 0
    after = os.stat(s["output"])
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert invocations(s["counts"]) == ["test", "reload"]


def test_change_is_applied_after_graceful_reload(setup):
    s = setup
    assert once(s).returncode == 0
    new_port = free_port()
    s["gocd"].control(secure_site_url=f"https://new.gocd.test:{new_port}")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "server_name gocd.test → new.gocd.test" in r.stderr
    status, _, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        http_get(new_port, "/go", host=f"new.gocd.test:{new_port}", https=True)), timeout=15, what="new listener")
    assert json.loads(body)["headers"]["Host"] == f"new.gocd.test:{new_port}"


def test_change_httpd_rejects_is_rolled_back(setup, tmp_path):
    s = setup
    assert once(s).returncode == 0
    wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="served")
    before = s["output"].read_bytes()
    # A missing certificate is refused by the pre-flight (test_served.py); a missing chain file only httpd sees.
    chain = tmp_path / "missing-chain.pem"
    s["cfg"].write_text(s["cfg"].read_text().replace("[proxy]\n", f'[proxy]\ntls_certificate_chain = "{chain}"\n', 1))
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    r = once(s)
    assert r.returncode == 5, r.stderr
    assert "missing-chain.pem" in r.stderr, "httpd's own words are in the log"
    assert s["output"].read_bytes() == before
    assert invocations(s["counts"])[-2:] == ["test", "test"]
    assert http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200


def test_missing_module_names_a2enmod(tmp_path, standin, certs):
    apache = Apache(tmp_path, modules=[m for m in __import__("conftest").APACHE_MODULES if m != "headers"])
    gocd = standin(token=TOKEN, site_url="", secure_site_url=f"https://gocd.test:{free_port()}")
    cfg, _ = write_config(tmp_path, gocd.base, kind="apache", output=apache.confd / "gocd.conf",
                          test_command=apache.test_command, reload_command=apache.reload_command, certs=certs,
                          extra_proxy="apache_listen_ports = []\nredirect_http_to_https = false")
    r = run("once", "--config", str(cfg))
    assert r.returncode == 5, r.stderr
    assert "Invalid command 'RequestHeader'" in r.stderr
    assert "a2enmod headers" in r.stderr
    assert not (apache.confd / "gocd.conf").exists()


def test_default_listen_ports_skip_80_and_443(tmp_path):
    cfg, _ = write_config(tmp_path, "http://127.0.0.1:9", kind="apache", output=tmp_path / "gocd.conf",
                          test_command=["true"], reload_command=["true"], counting=False,
                          certs={"cert": "/etc/ssl/gocd.pem", "key": "/etc/ssl/gocd.key"})
    r = run("render", "--config", str(cfg), "--site-url", "http://gocd.test", "--secure-site-url", "https://gocd.test:8443")
    assert r.returncode == 0, r.stderr
    assert "Listen 127.0.0.1:8443" in r.stdout
    assert "Listen 127.0.0.1:80\n" not in r.stdout

"""On the hosts operators have (issue 20): ports the proxy holds whoever /proc shows holding them, a dump that is
never skipped silently, and a dump read as the proxy reads it. Real nginx and apache2 on loopback."""
import subprocess

import pytest

from conftest import BIN, free_port, http_get, once, proxied_setup, run, wait_for

WITHOUT_PTRACE = ["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", "--"]


@pytest.fixture
def setup(tmp_path, standin, nginx, certs):
    return proxied_setup(tmp_path, standin, nginx, certs, kind="nginx")


def once_unseen(s):
    """`once` as under the unit: root, but without CAP_SYS_PTRACE, so another process's descriptors are hidden."""
    return subprocess.run(WITHOUT_PTRACE + [BIN, "once", "--config", str(s["cfg"])], capture_output=True, text=True,
                          timeout=60)


def add_site(s, name, text):
    (s["nginx"].confd / name).write_bytes(text.encode() if isinstance(text, str) else text)
    subprocess.run(s["nginx"].reload_command, check=True)


def test_a_port_another_site_of_the_proxy_listens_on_is_the_proxys_even_unseen(setup):
    s = setup
    assert once(s).returncode == 0
    port = free_port()
    add_site(s, "other.conf", f'server {{ listen 127.0.0.1:{port}; server_name other.test; location / {{ return 200 "other"; }} }}\n')
    wait_for(lambda: http_get(port, "/", host="other.test")[2] == "other", what="the other site")
    s["gocd"].control(site_url=f"http://gocd.test:{port}", secure_site_url="")
    r = once_unseen(s)
    assert r.returncode == 0, r.stderr
    assert "applied" in r.stderr
    assert "gocd-stand-in" in http_get(port, "/go/api/v1/health", host=f"gocd.test:{port}")[2] or \
        http_get(port, "/go/api/v1/health", host=f"gocd.test:{port}")[0] == 200
    assert http_get(port, "/", host="other.test")[2] == "other", "the other site still answers its own name"


def test_a_port_held_by_a_program_that_is_not_the_proxy_is_still_refused_unseen(setup):
    s = setup
    assert once(s).returncode == 0
    port = free_port()
    squatter = subprocess.Popen(["python3", "-c", "import socket, time; s = socket.socket(); "
                                 f"s.bind(('127.0.0.1', {port})); s.listen(); print('up', flush=True); time.sleep(60)"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "up"
        before = s["output"].read_bytes()
        s["gocd"].control(secure_site_url=f"https://gocd.test:{port}")
        r = once_unseen(s)
        assert r.returncode == 4, r.stderr
        assert f"127.0.0.1:{port} is held by another program" in r.stderr, r.stderr
        assert "not a port the proxy's configuration listens on" in r.stderr
        assert s["output"].read_bytes() == before
    finally:
        squatter.kill()
        squatter.wait()


def without_dump_command(s):
    text = s["cfg"].read_text()
    lines = [l for l in text.splitlines() if not l.startswith("dump_command")]
    assert len(lines) < len(text.splitlines()), "the harness names a dump command for its wrapper"
    s["cfg"].write_text("\n".join(lines) + "\n")


def test_a_wrapper_test_command_without_dump_command_refuses_and_check_fails(setup):
    s = setup
    without_dump_command(s)
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "dump_command" in r.stderr and "count.sh" in r.stderr
    assert not s["output"].exists()
    c = run("check", "--config", str(s["cfg"]))
    assert c.returncode != 0
    assert any(l.startswith("FAIL: ") and "dump_command" in l for l in c.stdout.splitlines()), c.stdout


def test_check_other_sites_false_turns_it_off_with_a_warning(setup):
    s = setup
    without_dump_command(s)
    s["cfg"].write_text(s["cfg"].read_text().replace("[proxy]\n", "[proxy]\ncheck_other_sites = false\n", 1))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "check_other_sites = false" in r.stderr and "WARNING" in r.stderr.upper()
    c = run("check", "--config", str(s["cfg"]))
    assert "warning: the other-sites check is OFF" in c.stdout, c.stdout


def test_a_dump_that_fails_while_the_test_passes_refuses(setup):
    s = setup
    text = s["cfg"].read_text()
    s["cfg"].write_text("\n".join('dump_command = ["false"]' if l.startswith("dump_command") else l
                                  for l in text.splitlines()) + "\n")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "dump_command failed while the config test passes" in r.stderr
    assert not s["output"].exists()


def test_with_dump_command_a_wrapper_still_sees_the_collision(setup):
    s = setup
    assert "dump_command" in s["cfg"].read_text()
    port = free_port()
    add_site(s, "intranet.conf", f'server {{ listen 127.0.0.1:{port}; server_name intranet.test; location / {{ return 200 "intranet"; }} }}\n')
    s["gocd"].control(site_url=f"http://intranet.test:{port}", secure_site_url="")
    r = once(s)
    assert r.returncode == 4 and "intranet.test is already served" in r.stderr, r.stderr


NGINX_CASES = {
    # name: (files to add {name: text}, the other site's host, the name GoCD claims, the reason expected)
    "include_in_server": ({"names.inc": "server_name wiki.example.com;\n",
                           "wiki.conf": 'server {{ listen 127.0.0.1:{port}; include {confd}/names.inc; location / {{ return 200 "other"; }} }}\n'},
                          "wiki.example.com", "wiki.example.com", "already served"),
    "crlf_with_comment": ({"crlf.conf": 'server {{\r\n    # the intranet\r\n    listen 127.0.0.1:{port};\r\n    server_name crlf.example.com;\r\n    location / {{ return 200 "other"; }}\r\n}}\r\n'},
                          "crlf.example.com", "crlf.example.com", "already served"),
    "regex_name": ({"regex.conf": 'server {{ listen 127.0.0.1:{port}; server_name ~^wiki\\d+\\.test$; location / {{ return 200 "other"; }} }}\n'},
                   "wiki1.test", "wiki1.test", "already served"),
    "suffix_wildcard": ({"suffix.conf": 'server {{ listen 127.0.0.1:{port}; server_name www.example.*; location / {{ return 200 "other"; }} }}\n'},
                        "www.example.com", "www.example.com", "already served"),
    "trailing_dot": ({"dot.conf": 'server {{ listen 127.0.0.1:{port}; server_name dotted.example.com.; location / {{ return 200 "other"; }} }}\n'},
                     "dotted.example.com", "dotted.example.com", "already served"),
}


@pytest.mark.parametrize("case", sorted(NGINX_CASES))
def test_nginx_reader_cases(setup, case):
    s = setup
    files, host, claimed, reason = NGINX_CASES[case]
    assert once(s).returncode == 0
    port = free_port()
    for name, text in files.items():
        (s["nginx"].confd / name).write_bytes(text.format(port=port, confd=s["nginx"].confd).encode())
    subprocess.run(s["nginx"].reload_command, check=True)
    wait_for(lambda: http_get(port, "/", host=host)[2] == "other", what="the other site")
    before = s["output"].read_bytes()
    s["gocd"].control(site_url=f"http://{claimed}:{port}", secure_site_url="")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert reason in r.stderr, r.stderr
    assert s["output"].read_bytes() == before
    assert http_get(port, "/", host=host)[2] == "other", "the other site still answers its own Host"


def test_nginx_ssl_on_makes_a_tls_port(setup):
    s = setup
    assert once(s).returncode == 0
    port = free_port()
    add_site(s, "legacy.conf", f'server {{ listen 127.0.0.1:{port}; ssl on; ssl_certificate {s["certs"]["cert"]}; '
                               f'ssl_certificate_key {s["certs"]["key"]}; server_name legacy.test; location / {{ return 200 "other"; }} }}\n')
    wait_for(lambda: http_get(port, "/", host="legacy.test", https=True)[2] == "other", what="the TLS site")
    s["gocd"].control(site_url=f"http://gocd.test:{port}", secure_site_url="")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert f"port {port} is used by another site" in r.stderr and "with https" in r.stderr
    assert http_get(port, "/", host="legacy.test", https=True)[2] == "other"


def test_a_dump_over_20_mib_is_read_and_checked(setup):
    s = setup
    assert once(s).returncode == 0
    port = free_port()
    (s["nginx"].confd / "aaa-big.conf").write_text("# a large generated file, read as a stream\n" * 500_000)  # 22 MiB
    add_site(s, "zzz-after.conf", f'server {{ listen 127.0.0.1:{port}; server_name after.test; location / {{ return 200 "other"; }} }}\n')
    # nginx reads 22 MiB before its new workers answer: wait for the site, as for any reload.
    wait_for(lambda: http_get(port, "/", host="after.test")[2] == "other", timeout=60, what="the site after the large file")
    s["gocd"].control(site_url=f"http://after.test:{port}", secure_site_url="")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "after.test is already served" in r.stderr, r.stderr
    assert http_get(port, "/", host="after.test")[2] == "other"


APACHE_VHOST = """<VirtualHost 127.0.0.1:{port}>\r
    ServerName main.example.com\r
    ServerAlias *.wild.example.com\r
    # a comment in a CRLF file\r
{tls}    Alias / {page}\r
    <Location />\r
        Require all granted\r
    </Location>\r
</VirtualHost>\r
"""


@pytest.mark.parametrize("tls", [False, True])
def test_apache_wildcard_alias_and_sslengine_in_a_crlf_file(tmp_path, standin, apache, certs, tls):
    port = free_port()
    page = "/etc/hostname"  # readable by httpd's own user; the other site serves it
    other = open(page).read()
    tls_lines = (f"    SSLEngine on\r\n    SSLCertificateFile {certs['cert']}\r\n    SSLCertificateKeyFile {certs['key']}\r\n"
                 if tls else "")
    (apache.confd / "other.conf").write_bytes(
        (f"Listen 127.0.0.1:{port}\r\n" + APACHE_VHOST.format(port=port, tls=tls_lines, page=page)).encode())
    s = proxied_setup(tmp_path, standin, apache, certs, kind="apache", extra_proxy="apache_listen_ports = []")
    assert once(s).returncode == 0
    wait_for(lambda: http_get(port, "/", host="a.wild.example.com", https=tls)[2] == other, what="the other site")
    if tls:
        s["gocd"].control(site_url=f"http://gocd.test:{port}", secure_site_url="")
        expected = f"port {port} is used by another site"
    else:
        s["gocd"].control(site_url=f"http://deep.wild.example.com:{port}", secure_site_url="")
        expected = "deep.wild.example.com is already served"
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert expected in r.stderr, r.stderr
    assert http_get(port, "/", host="a.wild.example.com", https=tls)[2] == other
    assert s["apache"].proc.poll() is None


def test_apache_listen_that_overlaps_another_is_refused_before_anything_is_written(tmp_path, standin, apache, certs):
    """Another site has `Listen 127.0.0.1:P`; a GoCD site on P for all addresses would add `Listen P`: configtest
    passes, the graceful restart cannot bind and httpd exits. Refused before writing; httpd's master unchanged."""
    port = free_port()
    (apache.confd / "other.conf").write_text(
        f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n    ServerName other.example.com\n</VirtualHost>\n")
    s = proxied_setup(tmp_path, standin, apache, certs, kind="apache", extra_proxy="apache_listen_ports = []")
    s["cfg"].write_text(s["cfg"].read_text().replace('listen_address = "127.0.0.1"\n', ""))
    assert once(s).returncode == 0
    master = s["apache"].proc.pid
    before = s["output"].read_bytes()
    s["gocd"].control(site_url=f"http://gocd.test:{port}", secure_site_url="")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert f"Apache already listens on 127.0.0.1:{port}" in r.stderr and "overlaps" in r.stderr, r.stderr
    assert s["output"].read_bytes() == before
    assert s["apache"].proc.poll() is None and s["apache"].proc.pid == master, "httpd's master is still the same"

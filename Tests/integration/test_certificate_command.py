"""Obtaining a certificate (README; issue 25 item 3): with certificate_command, a new HTTPS name without a
certificate is asked for through a stand-in ACME client (fake_acme.py) that checks the challenge through the real
proxy, on a real nginx and a real httpd."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import BIN, free_port, http_get, once, proxied_setup, run, wait_for
from test_certificate_dir import put
from test_served import leaf_of, make_cert, presented_leaf

FAKE_ACME = Path(__file__).resolve().parent / "fake_acme.py"


def asked(log):
    """The names of each invocation of the fake ACME client, one entry per invocation."""
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def webroot():
    """certbot's --webroot directory: root's, 0755 (the proxies' workers read the tokens; Apache's as www-data)."""
    root = Path(tempfile.mkdtemp(prefix="gps-webroot-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def command_setup(kind, request, tmp_path, standin, certs, webroot, fail=(), no_cover=()):
    """gocd.test served from live/gocd.test/ (its redirect on http_port, HTTPS on https_port), the challenge on
    acme_port, and certificate_command = fake_acme.py. Returns the setup with `live`, `acme_port` and `asked` (the
    fake's invocation log)."""
    proxy = request.getfixturevalue(kind)
    s = proxied_setup(tmp_path, standin, proxy, certs, kind=kind,
                      extra_proxy="apache_listen_ports = []" if kind == "apache" else "")
    live, log, acme_port = tmp_path / "live", tmp_path / "acme-invocations.log", free_port()
    put(live / "gocd.test", *make_cert(certs, f"cmd-gocd-{kind}", "DNS:gocd.test"))
    os.chmod(FAKE_ACME, 0o755)
    command = [str(FAKE_ACME), "--port", str(acme_port), "--live", str(live), "--ca", certs["ca"],
               "--ca-key", str(certs["dir"] / "ca.key"), "--log", str(log)]
    for name in fail:
        command += ["--fail", name]
    for name in no_cover:
        command += ["--no-cover", name]
    text = re.sub(r'tls_certificate = ".*"\ntls_certificate_key = ".*"\n',
                  f'tls_certificate_dir = "{live}"\nacme_challenge_dir = "{webroot}"\nacme_http_port = {acme_port}\n'
                  f'certificate_command = {json.dumps(command)}\n', s["cfg"].read_text())
    assert "certificate_command" in text
    s["cfg"].write_text(text)
    s.update(live=live, asked=log, acme_port=acme_port, kind=kind)
    return s


def state(s):
    return json.loads((s["tmp"] / "state" / "state.json").read_text())


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_new_name_is_obtained_and_served(kind, request, tmp_path, standin, certs, webroot):
    s = command_setup(kind, request, tmp_path, standin, certs, webroot)
    r = once(s)
    assert r.returncode == 0, r.stderr
    # Every name covered: the command is not run.
    assert asked(s["asked"]) == [] and "certificate_requested" not in r.stderr, r.stderr
    s["gocd"].control(secure_site_url=f"https://new.test:{s['https_port']}")
    # check says the daemon will ask for it, rather than that the plan would be refused; it runs nothing.
    r = run("check", "--config", str(s["cfg"]))
    assert "warning: no certificate in tls_certificate_dir covers new.test yet" in r.stdout, r.stdout
    assert f"ok: certificate_command {FAKE_ACME}: an executable only root can change" in r.stdout, r.stdout
    assert "FAIL" not in r.stdout and asked(s["asked"]) == [], r.stdout
    r = once(s)
    print(r.stderr)
    assert r.returncode == 0, r.stderr
    # Once, with the new name only; the fake checked the challenge through the proxy before it wrote the pair.
    assert asked(s["asked"]) == ["new.test"]
    lines = r.stderr.splitlines()
    order = [next(i for i, line in enumerate(lines) if marker in line) for marker in
             ("reason=challenge", "certificate_requested", "certificate_obtained", "reason=change")]
    assert order == sorted(order), r.stderr
    assert "names=new.test" in lines[order[2]] and f"{s['live']}/new.test/fullchain.pem" in lines[order[2]]
    assert (s["live"] / "new.test" / "fullchain.pem").exists()
    wanted = leaf_of(str(s["live"] / "new.test" / "fullchain.pem"))
    # nginx's workers of the previous configuration may accept for a moment after the reload.
    assert wait_for(lambda: presented_leaf(s["https_port"], "new.test") == wanted, timeout=10,
                    what="the new leaf presented")
    text = s["output"].read_text()
    assert f"{s['live']}/new.test/fullchain.pem" in text and "gocd.test/fullchain.pem" not in text, text
    assert "certificate_requests" not in state(s)
    # In sync now: nothing is asked again.
    r = once(s)
    assert r.returncode == 0 and "applied" not in r.stderr, r.stderr
    assert asked(s["asked"]) == ["new.test"]


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_failing_command_refuses_and_is_not_asked_again_within_the_hour(kind, request, tmp_path, standin, certs,
                                                                          webroot):
    s = command_setup(kind, request, tmp_path, standin, certs, webroot, fail=["bad.test"])
    assert once(s).returncode == 0
    old_leaf = leaf_of(str(s["live"] / "gocd.test" / "fullchain.pem"))
    s["gocd"].control(secure_site_url=f"https://bad.test:{s['https_port']}")
    r = once(s)
    print(r.stderr)
    assert r.returncode == 4, r.stderr
    assert asked(s["asked"]) == ["bad.test"]
    failed = [line for line in r.stderr.splitlines() if "certificate_request_failed" in line]
    assert len(failed) == 1, r.stderr
    assert "names=bad.test" in failed[0] and "exit status 1" in failed[0], failed[0]
    assert "the CA refused the order for bad.test" in failed[0], failed[0]  # the command's own words
    assert "next_attempt_at=" in failed[0] and "failures=1" in failed[0], failed[0]
    record = state(s)["certificate_requests"]["bad.test"]
    assert record["failures"] == 1 and record["next_attempt_at"] > record["last_failed_at"], record
    # The site in place keeps serving, with its own certificate.
    assert presented_leaf(s["https_port"], "gocd.test") == old_leaf
    assert http_get(s["https_port"], "/go/api/v1/health", host="gocd.test", https=True)[0] == 200
    # A second once: refused at once, saying when it asks again; the command is not run.
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert f"asked again at {record['next_attempt_at']}" in r.stderr, r.stderr
    assert asked(s["asked"]) == ["bad.test"]
    # Nor by the daemon, over several cycles of a fresh process.
    daemon = subprocess.Popen([BIN, "run", "--config", str(s["cfg"]), "--log-level", "debug"],
                              stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        def refused_three_times():
            line = daemon.stderr.readline()
            if "rejected" in line and "asked again at" in line:
                seen.append(line)
            return len(seen) >= 3
        wait_for(refused_three_times, timeout=30, interval=0, what="three refused cycles")
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
    assert "repeat=suppressed" in seen[1], seen  # logged at its full level once per process
    assert asked(s["asked"]) == ["bad.test"]
    assert presented_leaf(s["https_port"], "gocd.test") == old_leaf


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_certificate_that_still_does_not_cover_the_name_is_a_failed_request(kind, request, tmp_path, standin,
                                                                              certs, webroot):
    s = command_setup(kind, request, tmp_path, standin, certs, webroot, no_cover=["odd.test"])
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    s["gocd"].control(secure_site_url=f"https://odd.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    failed = [line for line in r.stderr.splitlines() if "certificate_request_failed" in line]
    assert len(failed) == 1 and "certificate_command exited 0, but" in failed[0], r.stderr
    assert "does not cover odd.test" in failed[0], failed[0]
    assert state(s)["certificate_requests"]["odd.test"]["failures"] == 1
    # The file in place is the site as it was plus the challenge for odd.test; never the refused plan.
    text = s["output"].read_text()
    assert "odd.test" in text and "live/odd.test/fullchain.pem" not in text, text
    assert before != s["output"].read_bytes()


def test_the_keys_it_needs_are_exit_2(tmp_path, standin, certs, nginx, webroot):
    s = command_setup("nginx", _Request(nginx), tmp_path, standin, certs, webroot)
    good = s["cfg"].read_text()
    for drop, key in ((r'acme_challenge_dir = ".*"\n', "acme_challenge_dir"),
                      (r'tls_certificate_dir = ".*"\n', "tls_certificate_dir")):
        s["cfg"].write_text(re.sub(drop, "", good))
        r = once(s)
        assert r.returncode == 2, r.stderr
        assert f"proxy.certificate_command: needs {key}" in r.stderr, r.stderr
    s["cfg"].write_text(good.replace(f'certificate_command = ["{FAKE_ACME}"', 'certificate_command = ["fake_acme.py"'))
    r = once(s)
    assert r.returncode == 2 and "proxy.certificate_command: the program must be an absolute path" in r.stderr, r.stderr
    # A program others could write is refused at start, and by check.
    loose = tmp_path / "loose-acme"
    shutil.copyfile(FAKE_ACME, loose)
    loose.chmod(0o777)
    s["cfg"].write_text(good.replace(str(FAKE_ACME), str(loose)))
    r = once(s)
    assert r.returncode == 2, r.stderr
    assert f"proxy.certificate_command: {loose} is writable by group or others" in r.stderr, r.stderr
    r = run("check", "--config", str(s["cfg"]))
    assert f"FAIL: certificate_command {loose}: {loose} is writable by group or others" in r.stdout, r.stdout
    assert not s["output"].exists()


class _Request:
    """What command_setup needs of pytest's request when the proxy fixture is already at hand."""
    def __init__(self, proxy):
        self.proxy = proxy

    def getfixturevalue(self, _name):
        return self.proxy


HOOK = Path(__file__).resolve().parents[2] / "deploy" / "certbot-certificate-command"


def test_the_certbot_hook_asks_for_one_certificate_for_the_names(tmp_path):
    """deploy/certbot-certificate-command with a stand-in certbot on PATH that records its arguments."""
    bin_dir, seen = tmp_path / "bin", tmp_path / "certbot-args"
    bin_dir.mkdir()
    (bin_dir / "certbot").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {seen}\n')
    (bin_dir / "certbot").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", GOCD_PROXY_SYNC_ACME_WEBROOT="/var/www/acme",
               GOCD_PROXY_SYNC_NAMES="a.test b.test")
    r = subprocess.run([str(HOOK), "a.test", "b.test"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert seen.read_text().split("\n")[:-1] == [
        "certonly", "--non-interactive", "--agree-tos", "--keep-until-expiring", "--webroot", "-w", "/var/www/acme",
        "--cert-name", "a.test", "-d", "a.test", "-d", "b.test"]
    seen.unlink()
    for bad in (["-d", "x.test"], ["A.test"], ["a.test;reboot"]):
        r = subprocess.run([str(HOOK), *bad], env=env, capture_output=True, text=True)
        assert r.returncode == 64 and "refusing" in r.stderr and not seen.exists(), (bad, r.stderr)
    del env["GOCD_PROXY_SYNC_ACME_WEBROOT"]
    r = subprocess.run([str(HOOK), "a.test"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and not seen.exists(), r.stderr


def test_a_command_that_hangs_is_killed_at_its_timeout_and_is_a_failed_request(tmp_path, standin, certs, nginx,
                                                                               webroot):
    s = command_setup("nginx", _Request(nginx), tmp_path, standin, certs, webroot)
    assert once(s).returncode == 0
    hang, started = tmp_path / "hang.sh", tmp_path / "hang.started"
    # It would sleep far past its timeout (and its child with it: the whole process group is killed).
    hang.write_text(f"#!/bin/sh\necho \"$@\" >> {started}\nsleep 6017 &\nwait\n")
    hang.chmod(0o755)
    text = re.sub(r"certificate_command = .*\n",
                  f'certificate_command = ["{hang}"]\ncertificate_command_timeout_seconds = 1\n', s["cfg"].read_text())
    s["cfg"].write_text(text)
    s["gocd"].control(secure_site_url=f"https://slow.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert started.read_text() == "slow.test\n"
    failed = [line for line in r.stderr.splitlines() if "certificate_request_failed" in line]
    assert len(failed) == 1 and "timed out and was killed" in failed[0], r.stderr
    assert state(s)["certificate_requests"]["slow.test"]["failures"] == 1
    lingering = subprocess.run(["pgrep", "-f", "sleep 6017"], capture_output=True, text=True).stdout.split()
    assert lingering == [], lingering


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_with_nothing_in_place_the_first_name_is_obtained_too(kind, request, tmp_path, standin, certs, webroot):
    """A first start for a name without a certificate: what can be served without it (here only its challenge) goes
    in first, then the site."""
    s = command_setup(kind, request, tmp_path, standin, certs, webroot)
    s["gocd"].control(site_url=f"http://first.test:{s['http_port']}",
                      secure_site_url=f"https://first.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert asked(s["asked"]) == ["first.test"]
    challenge = next(line for line in r.stderr.splitlines() if "reason=challenge" in line)
    assert "reason=initial" not in r.stderr and "reason=change" in r.stderr, r.stderr
    assert f"first.test:{s['acme_port']} (ACME challenge only)" in challenge, challenge
    wanted = leaf_of(str(s["live"] / "first.test" / "fullchain.pem"))
    assert wait_for(lambda: presented_leaf(s["https_port"], "first.test") == wanted, timeout=10,
                    what="the new leaf presented")
    status, headers, _ = http_get(s["http_port"], "/go", host=f"first.test:{s['http_port']}")
    assert status == 301 and headers["location"] == f"https://first.test:{s['https_port']}/go"

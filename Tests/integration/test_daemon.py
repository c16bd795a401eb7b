"""`run`: the daemon against the GoCD stand-in and a real nginx, with real signals and sockets."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import proxied_setup, BIN, TOKEN, free_port, http_get, run, wait_for


class Daemon:
    def __init__(self, cfg, env=None):
        full_env = dict(os.environ)
        full_env.pop("JOURNAL_STREAM", None)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.update(env or {})
        self.log_path = cfg.parent / f"daemon-{time.time_ns()}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "run", "--config", str(cfg), "--log-level", "debug"], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=full_env)

    def text(self):
        return self.log_path.read_text()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code


@pytest.fixture
def env(tmp_path, standin, nginx, certs):
    s = proxied_setup(tmp_path, standin, nginx, certs)
    daemons = []
    def start(**kw):
        d = Daemon(s["cfg"], **kw)
        daemons.append(d)
        return d
    s["start"] = start
    yield s
    for d in daemons:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def test_run_converges_rejects_and_stops_cleanly(env):
    d = env["start"]()
    wait_for(lambda: env["output"].exists(), what="first apply")
    wait_for(lambda: http_get(env["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="served")
    new_port = free_port()
    env["gocd"].control(secure_site_url=f"https://gocd.test:{new_port}")
    wait_for(lambda: http_get(new_port, "/go", host=f"gocd.test:{new_port}", https=True)[0] == 200, timeout=15,
             what="converged on the new port")
    assert f"https port {env['https_port']} → {new_port}" in d.text()
    before = env["output"].read_bytes()
    env["gocd"].control(site_url="http://gocd.test;evil")
    wait_for(lambda: "rejected" in d.text(), timeout=10, what="rejection logged")
    assert env["output"].read_bytes() == before
    assert d.proc.poll() is None, "a rejection does not stop the daemon"
    # The lock is held: a concurrent `once` is refused with exit 8.
    assert run("once", "--config", str(env["cfg"])).returncode == 8
    started = time.time()
    assert d.stop() == 0
    assert time.time() - started < 15, "SIGTERM ends the wait at once (generous bound for a loaded machine)"
    assert "stopping" in d.text()


def test_outage_backs_off_and_keeps_file(env):
    d = env["start"]()
    wait_for(lambda: env["output"].exists(), what="first apply")
    before = env["output"].read_bytes()
    env["gocd"].control(mode="starting")
    n0 = env["gocd"].snapshot()["api_requests"]
    time.sleep(9)
    during = env["gocd"].snapshot()["api_requests"] - n0
    # interval 1 s, max backoff 4 s: 2 + 4 + 4 s ... → at most 5 requests in 9 s (10 without backoff).
    assert 2 <= during <= 5, during
    assert env["output"].read_bytes() == before
    assert d.proc.poll() is None
    assert "GoCD is starting" in d.text()
    env["gocd"].control(mode="normal")
    n1 = env["gocd"].snapshot()["api_requests"]
    # Back to the 1 s interval after a success: three more requests come well within the 4 s backoff cap × 3.
    wait_for(lambda: env["gocd"].snapshot()["api_requests"] - n1 >= 4, timeout=11, what="the interval again")
    assert d.stop() == 0


def test_sighup_rereads_config_and_keeps_old_when_invalid(env):
    d = env["start"]()
    wait_for(lambda: env["output"].exists(), what="first apply")
    good = env["cfg"].read_text()
    env["cfg"].write_text(good.replace("[sync]", "[sync]\nnot_a_key = 1"))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_invalid" in d.text(), what="config_invalid")
    assert "not_a_key" in d.text()
    assert d.proc.poll() is None
    env["cfg"].write_text(good.replace("max_backoff_seconds = 4", "max_backoff_seconds = 8"))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reloaded" in d.text(), what="config_reloaded")
    assert d.stop() == 0


def test_sd_notify_messages(env, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    d = env["start"](env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    messages = []
    def drain():
        try:
            while True:
                messages.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
        return messages
    wait_for(lambda: any("READY=1" in m for m in drain()), what="READY=1")
    ready = next(m for m in messages if "READY=1" in m)
    assert "STATUS=in sync with https://gocd.test:" in ready
    wait_for(lambda: sum("WATCHDOG=1" in m for m in drain()) >= 3, timeout=10, what="watchdog pings")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any("RELOADING=1" in m for m in drain()), what="RELOADING=1")
    assert d.stop() == 0
    drain()
    assert "STOPPING=1" in messages[-1]
    sock.close()


def test_journald_records_carry_priority_and_event(env, tmp_path):
    path = str(tmp_path / "journal.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    env["gocd"].control(site_url="https://x;include /etc/shadow;")
    d = env["start"](env={"JOURNAL_STREAM": "8:12345", "GOCD_PROXY_SYNC_JOURNAL_SOCKET": path})
    records = []
    def drain():
        try:
            while True:
                raw = sock.recv(65536)
                fields = {}
                for line in raw.split(b"\n"):
                    if b"=" in line:
                        k, v = line.split(b"=", 1)
                        fields[k.decode()] = v.decode(errors="replace")
                records.append(fields)
        except socket.timeout:
            pass
        return records
    wait_for(lambda: any(r.get("EVENT") == "rejected" for r in drain()), what="rejected record")
    rejected = next(r for r in records if r.get("EVENT") == "rejected")
    assert rejected["PRIORITY"] == "3"
    assert rejected["SYSLOG_IDENTIFIER"] == "gocd-proxy-sync"
    assert rejected["GOCD_PROXY_SYNC_FIELD"] == "site_url"
    assert any(r.get("EVENT") == "started" and r.get("PRIORITY") == "5" for r in records)
    assert d.stop() == 0
    assert TOKEN not in json.dumps(records)
    sock.close()


def test_journald_fallback_prefixes_stderr(env, tmp_path):
    d = env["start"](env={"JOURNAL_STREAM": "8:12345", "GOCD_PROXY_SYNC_JOURNAL_SOCKET": str(tmp_path / "missing.sock")})
    wait_for(lambda: "<5>started:" in d.text(), what="prefixed started line")
    assert d.stop() == 0


def test_sigterm_during_apply_lets_the_apply_finish(env, tmp_path):
    # A slow config test: SIGTERM arrives while the new file is being tested.
    slow = tmp_path / "slow-test.sh"
    marker = tmp_path / "testing"
    slow.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 2\nexec \"$@\"\n")
    slow.chmod(0o755)
    text = env["cfg"].read_text()
    env["cfg"].write_text(text.replace('test_command = ["', f'test_command = ["{slow}", "', 1))
    d = env["start"]()
    wait_for(lambda: marker.exists(), what="the config test started")
    d.proc.send_signal(signal.SIGTERM)
    assert d.stop() == 0
    log = d.text()
    assert "applied" in log and "reloaded" in log, log
    assert log.index("reloaded") < log.index("stopping"), "the apply completed before the daemon stopped"
    assert env["output"].read_text().startswith("# Managed by gocd-proxy-sync")
    state = json.loads((env["tmp"] / "state" / "state.json").read_text())
    assert state.get("apply_in_progress") is None


def test_sighup_with_a_new_state_dir_keeps_the_locked_one_until_restart(env, tmp_path):
    d = env["start"]()
    wait_for(lambda: env["output"].exists(), what="first apply")
    new_state = tmp_path / "other-state"
    env["cfg"].write_text(env["cfg"].read_text().replace(str(tmp_path / "state"), str(new_state)))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "state_dir changed" in d.text(), what="the warning")
    new_port = free_port()
    env["gocd"].control(secure_site_url=f"https://gocd.test:{new_port}")
    wait_for(lambda: json.loads((tmp_path / "state" / "state.json").read_text())["last_applied_secure_site_url"]
             == f"https://gocd.test:{new_port}", timeout=15, what="state recorded in the locked directory")
    assert not (new_state / "state.json").exists()
    assert d.stop() == 0


def test_a_refused_plan_is_logged_once_per_change_and_still_said_every_cycle(env, tmp_path):
    """The log says a refusal once per change of the refused value (again at most hourly), not every cycle; the
    metrics' outcome and the STATUS line keep saying it is refused."""
    text = env["cfg"].read_text().replace("interval_seconds = 1", "interval_seconds = 0.2")
    textfile = tmp_path / "metrics.prom"
    env["cfg"].write_text(text + f'\n[metrics]\ntextfile = "{textfile}"\n')
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.1)
    statuses = []
    def drain():
        try:
            while True:
                statuses.extend(line for line in sock.recv(4096).decode().splitlines() if line.startswith("STATUS="))
        except socket.timeout:
            pass
        return statuses
    def rejected_cycles():
        m = re.search(r'^gocd_proxy_sync_cycles_total\{outcome="rejected"\} (\S+)$',
                      textfile.read_text() if textfile.exists() else "", re.M)
        return float(m.group(1)) if m else 0
    def errors():
        return [line for line in d.text().splitlines() if " ERROR rejected:" in line]
    d = env["start"](env={"NOTIFY_SOCKET": path})
    wait_for(lambda: any(s.startswith("STATUS=in sync") for s in drain()), timeout=15, what="first apply")
    env["gocd"].control(site_url="http://gocd.test;evil")
    wait_for(lambda: rejected_cycles() >= 10, timeout=30, what="ten refused cycles")
    assert len(errors()) == 1, errors()
    assert "gocd.test;evil" in errors()[0]
    assert sum(" DEBUG rejected:" in line for line in d.text().splitlines()) >= 9, "the repeats at debug level"
    drain()
    assert statuses[-1].startswith("STATUS=rejected site_url:"), statuses[-1]
    # Another refused value is news: logged at once, then quiet again.
    seen = rejected_cycles()
    env["gocd"].control(site_url="http://gocd.test{evil")
    wait_for(lambda: rejected_cycles() >= seen + 10, timeout=30, what="ten more refused cycles")
    assert len(errors()) == 2 and "gocd.test{evil" in errors()[1], errors()
    drain()
    assert statuses[-1].startswith("STATUS=rejected site_url:"), statuses[-1]
    assert d.stop() == 0
    sock.close()


def test_status_sees_the_daemon_running_outside_systemd(env):
    """`make demo` runs the daemon without the unit (no RuntimeDirectory, so no live record): status still says it
    runs (it holds the state directory's lock), with its pid, and that the figures are the last recorded ones."""
    d = env["start"]()
    wait_for(lambda: env["output"].exists(), what="first apply")
    # state.json is written first when the apply starts: wait for the cycle's own record of its success.
    wait_for(lambda: json.loads((env["tmp"] / "state" / "state.json").read_text()).get("last_success_at"),
             what="the first cycle's success recorded")
    r = run("status", "--config", str(env["cfg"]))
    assert r.returncode == 0, r.stderr
    assert f"daemon:               running (pid {d.proc.pid}, holds {env['tmp'] / 'state'}/lock)" in r.stdout, r.stdout
    assert "not running" not in r.stdout
    assert re.search(r"last success: +\S+Z \(\d+s ago\) \(as last recorded", r.stdout), r.stdout
    j = json.loads(run("status", "--config", str(env["cfg"]), "--json").stdout)
    assert j["daemon"] == {"running": True, "pid": d.proc.pid, "live_record": False}, j["daemon"]
    assert d.stop() == 0
    r = run("status", "--config", str(env["cfg"]))
    assert "daemon:               not running (nothing holds" in r.stdout, r.stdout
    assert json.loads(run("status", "--config", str(env["cfg"]), "--json").stdout)["daemon"] == {"running": False}


def test_a_state_dir_made_unsafe_while_running_is_logged_and_the_file_kept(env, tmp_path):
    holder = tmp_path / "holder"
    holder.mkdir(mode=0o755)
    state_dir = holder / "state"
    env["cfg"].write_text(env["cfg"].read_text().replace(str(tmp_path / "state"), str(state_dir)))
    d = env["start"]()
    wait_for(lambda: env["output"].exists() and (state_dir / "state.json").exists(), what="first apply")
    before = env["output"].read_bytes()
    os.chown(holder, 65534, 65534)
    env["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    wait_for(lambda: "write_failed" in d.text() and f"{holder} is owned by uid 65534" in d.text(), timeout=15,
             what="the refusal logged")
    assert env["output"].read_bytes() == before, "the file in place is kept"
    assert d.proc.poll() is None, "the daemon keeps running"
    os.chown(holder, 0, 0)
    wait_for(lambda: env["output"].read_bytes() != before, timeout=15, what="applied once the directory is safe again")
    assert d.stop() == 0
    # At start-up an unsafe state directory stops `run` before anything is written (exit 7).
    os.chown(holder, 65534, 65534)
    r = run("run", "--config", str(env["cfg"]), timeout=30)
    assert r.returncode == 7 and f"{holder} is owned by uid 65534" in r.stderr, r.stderr

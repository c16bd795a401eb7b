"""[metrics] textfile: the daemon's metrics through node_exporter's textfile collector, against the GoCD stand-in
and a private nginx."""
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import free_port, proxied_setup, run, wait_for
from test_daemon import Daemon

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMTOOL = shutil.which("promtool")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^{}]*\})? (\S+)$')


def parse(text):
    """{'name{labels}': value} for every sample line; fails on any line that is neither a comment nor a sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def configure(s, textfile, interval, max_backoff):
    text = s["cfg"].read_text()
    text = re.sub(r"interval_seconds = \S+", f"interval_seconds = {interval}", text)
    text = re.sub(r"max_backoff_seconds = \S+", f"max_backoff_seconds = {max_backoff}", text)
    s["cfg"].write_text(text + f'\n[metrics]\ntextfile = "{textfile}"\n')


@pytest.fixture
def env(tmp_path, standin, nginx, certs):
    s = proxied_setup(tmp_path, standin, nginx, certs)
    s["textdir"] = tmp_path / "textfile"
    s["textdir"].mkdir()
    s["textfile"] = s["textdir"] / "gocd-proxy-sync.prom"
    started = []
    def start(*args, **kw):
        p = args[0](*args[1:], **kw)
        started.append(p)
        return p
    s["start"] = start
    yield s
    for p in started:
        proc = getattr(p, "proc", p)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if isinstance(p, Daemon):
            p.log.close()


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return parse(r.read().decode())


def ours(samples):
    return {k: v for k, v in samples.items() if k.startswith("gocd_proxy_sync_")}


@pytest.mark.skipif(not NODE_EXPORTER, reason="prometheus-node-exporter is not installed")
def test_scraped_through_node_exporter(env):
    configure(env, env["textfile"], interval=0.5, max_backoff=1)
    port = free_port()
    exporter = env["start"](subprocess.Popen, [
        NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", f"--collector.textfile.directory={env['textdir']}",
        "--collector.disable-defaults", "--collector.textfile"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: scrape(port), what="node_exporter up")
    d = env["start"](Daemon, env["cfg"])

    m = wait_for(lambda: (lambda s: s if s.get('gocd_proxy_sync_cycles_total{outcome="applied"}', 0) >= 1 else None)(
        scrape(port)), timeout=20, what="the first apply, scraped")
    print("\nscraped after the first apply:")
    for key in sorted(ours(m)):
        print(f"  {key} {m[key]}")
    assert any(k.startswith("gocd_proxy_sync_build_info{") and 'version="' in k and 'libcurl="' in k and v == 1
               for k, v in m.items())
    assert abs(m["gocd_proxy_sync_last_success_timestamp_seconds"] - time.time()) < 30
    assert abs(m["gocd_proxy_sync_last_change_timestamp_seconds"] - time.time()) < 30
    assert m["gocd_proxy_sync_consecutive_failures"] == 0
    assert m["gocd_proxy_sync_reload_owed"] == 0
    assert m["gocd_proxy_sync_serving"] == 1
    assert m["gocd_proxy_sync_apply_duration_seconds_count"] >= 1
    assert m["gocd_proxy_sync_gocd_request_duration_seconds_count"] >= 1
    expiry = m[f'gocd_proxy_sync_certificate_expiry_timestamp_seconds{{path="{env["certs"]["cert"]}"}}']
    assert 59 * 86400 < expiry - time.time() <= 60 * 86400 + 60, "the test certificate is valid for 60 days (conftest)"
    assert m['node_textfile_scrape_error'] == 0
    mtime = m.get(f'node_textfile_mtime_seconds{{file="{env["textfile"]}"}}') or \
        m.get('node_textfile_mtime_seconds{file="gocd-proxy-sync.prom"}')
    assert mtime and abs(mtime - time.time()) < 30, "node_exporter read the file"

    env["gocd"].control(mode="error500")
    failing = wait_for(lambda: (lambda s: s if s["gocd_proxy_sync_consecutive_failures"] > 0 else None)(scrape(port)),
                       timeout=20, what="consecutive_failures > 0")
    errors = failing['gocd_proxy_sync_cycles_total{outcome="gocd_error"}']
    assert errors >= 1
    later = wait_for(lambda: (lambda s: s if s['gocd_proxy_sync_cycles_total{outcome="gocd_error"}'] > errors
                              else None)(scrape(port)), timeout=20, what="gocd_error rising")
    assert later["gocd_proxy_sync_consecutive_failures"] > failing["gocd_proxy_sync_consecutive_failures"]
    assert later["gocd_proxy_sync_last_success_timestamp_seconds"] == \
        failing["gocd_proxy_sync_last_success_timestamp_seconds"], "no success while GoCD fails"
    assert later["gocd_proxy_sync_gocd_request_duration_seconds_count"] > \
        failing["gocd_proxy_sync_gocd_request_duration_seconds_count"], "failed requests are timed too"

    env["gocd"].control(mode="normal")
    healed = wait_for(lambda: (lambda s: s if s["gocd_proxy_sync_consecutive_failures"] == 0 else None)(scrape(port)),
                      timeout=20, what="consecutive_failures back to 0")
    assert healed["gocd_proxy_sync_last_success_timestamp_seconds"] > later["gocd_proxy_sync_last_success_timestamp_seconds"]
    assert healed['gocd_proxy_sync_cycles_total{outcome="unchanged"}'] >= 1
    assert d.stop() == 0
    assert exporter.poll() is None
    assert sorted(os.listdir(env["textdir"])) == ["gocd-proxy-sync.prom"], "no temporary file left"


def test_textfile_always_parses_while_cycling_fast(env):
    configure(env, env["textfile"], interval=0.1, max_backoff=0.1)
    d = env["start"](Daemon, env["cfg"])
    wait_for(lambda: env["textfile"].exists(), timeout=20, what="the textfile")
    deadline = time.time() + 3
    reads, seen_cycles = 0, set()
    while time.time() < deadline:
        text = env["textfile"].read_text()
        samples = parse(text)
        assert "gocd_proxy_sync_consecutive_failures" in samples, text
        seen_cycles.add(sum(v for k, v in samples.items() if k.startswith("gocd_proxy_sync_cycles_total")))
        reads += 1
    assert reads > 100
    assert len(seen_cycles) > 5, f"the file was rewritten while read ({len(seen_cycles)} versions seen)"
    assert d.stop() == 0
    assert sorted(os.listdir(env["textdir"])) == ["gocd-proxy-sync.prom"], "no temporary file left"
    mode = os.stat(env["textfile"]).st_mode & 0o777
    assert mode == 0o644, oct(mode)
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=env["textfile"].read_text(), text=True,
                               capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_once_counts_its_one_cycle(env):
    configure(env, env["textfile"], interval=30, max_backoff=60)
    r = run("once", "--config", str(env["cfg"]))
    assert r.returncode == 0, r.stderr
    m = parse(env["textfile"].read_text())
    assert m['gocd_proxy_sync_cycles_total{outcome="applied"}'] == 1
    assert sum(v for k, v in m.items() if k.startswith("gocd_proxy_sync_cycles_total")) == 1
    env["gocd"].control(mode="error500")
    r = run("once", "--config", str(env["cfg"]))
    assert r.returncode == 3
    m = parse(env["textfile"].read_text())
    assert m['gocd_proxy_sync_cycles_total{outcome="gocd_error"}'] == 1
    assert m['gocd_proxy_sync_cycles_total{outcome="applied"}'] == 0
    assert m["gocd_proxy_sync_consecutive_failures"] == 1
    assert abs(m["gocd_proxy_sync_last_success_timestamp_seconds"] - time.time()) < 60, \
        "an earlier run's last success, from state.json"
    assert sorted(os.listdir(env["textdir"])) == ["gocd-proxy-sync.prom"]


def test_unwritable_textfile_is_one_warning_not_a_failed_cycle(env):
    missing = env["textdir"] / "missing" / "x.prom"
    configure(env, missing, interval=0.1, max_backoff=0.1)
    r = run("once", "--config", str(env["cfg"]))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("cannot write the metrics textfile") == 1
    assert str(missing) in r.stderr
    d = env["start"](Daemon, env["cfg"])
    wait_for(lambda: d.text().count("unchanged") >= 5, timeout=20, what="a few cycles")
    assert d.proc.poll() is None
    assert d.stop() == 0
    assert d.text().count("cannot write the metrics textfile") == 1, d.text()
    assert os.listdir(env["textdir"]) == []


def test_sighup_turns_metrics_on_moves_and_off(env):
    configure(env, env["textfile"], interval=0.2, max_backoff=0.2)
    without = env["cfg"].read_text().replace(f'[metrics]\ntextfile = "{env["textfile"]}"\n', "")
    env["cfg"].write_text(without)
    d = env["start"](Daemon, env["cfg"])
    wait_for(lambda: d.text().count("unchanged") >= 2, timeout=20, what="cycles without metrics")
    assert os.listdir(env["textdir"]) == []
    env["cfg"].write_text(without + f'\n[metrics]\ntextfile = "{env["textfile"]}"\n')
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: env["textfile"].exists(), timeout=20, what="metrics turned on by SIGHUP")
    moved = env["textdir"] / "moved.prom"
    env["cfg"].write_text(without + f'\n[metrics]\ntextfile = "{moved}"\n')
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: moved.exists(), timeout=20, what="the new path written")
    assert not env["textfile"].exists(), "the old path is removed"
    assert parse(moved.read_text())["gocd_proxy_sync_consecutive_failures"] == 0
    env["cfg"].write_text(without)
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: not moved.exists(), timeout=20, what="the textfile removed when metrics are turned off")
    assert d.stop() == 0

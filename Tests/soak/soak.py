#!/usr/bin/env python3
"""make soak: the real `gocd-proxy-sync run` for many cycles against a GoCD stand-in and a private nginx,
with a fault injected every ~100 cycles, then checks that nothing leaked.

The daemon polls every 0.1 s (`max_backoff_seconds = 0.4`, `confirm_timeout_seconds = 2`,
`timeout_seconds = 1`). Cycles are counted by the stand-in's site-URL requests. The faults, in turn:

  gocd-503 gocd-500 gocd-401 gocd-403 gocd-404 gocd-timeout gocd-garbage gocd-huge   the stand-in's modes
  gocd-reset       the stand-in closes the connection mid-body
  gocd-down        the stand-in's process is stopped, then a new one is started on the same port
  gocd-tls         SIGHUP into a config whose server_url is https:// on the plain-HTTP stand-in (handshake fails)
  test-fails       SIGHUP into a config whose test refuses the next site URL's port, then that change
  test-false       SIGHUP into a config whose test_command is ["false"] (fails on the old file too), a change
  reload-fails     SIGHUP into a config whose reload_command is ["false"], then a site-URL change
  include-readonly the include directory bind-mounted read-only, then a site-URL change
  sighup-invalid   SIGHUP with an invalid config (the old one must be kept)
  sighup-valid     SIGHUP with a valid one

For each: inject, wait for its event in the daemon's stderr, remove it, wait until in sync again (the file is
what `render --site-url` prints for GoCD's current site URL and nginx answers its generation on the
listener). Half-way between faults the site URL changes (a real apply). After the warm-up (--warmup cycles
and one round of every fault: a first use, such as OpenSSL's tables on the first https request, is not a
leak) the daemon's open fds, threads, zombie children and VmRSS are sampled; at the end fds and threads (the
mode of the first and of the last samples) must be equal, no zombie may persist and VmRSS may have grown by
at most 1 MiB.

Options: --cycles N [CYCLES, 10000], --warmup N (200), --report PATH (write the Markdown report).
Exit status 1 on any failure. Needs root (nginx on loopback, a bind mount).
"""
import argparse
import collections
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from conftest import GENERATION_PATH, GENERATION_RE, BIN, STANDIN, TOKEN, Nginx, free_port, http_get, wait_for  # noqa: E402

EVENT_RE = re.compile(r"^\S+ ([A-Z]+) ([a-z_]+): ")
HOST = "gocd.test"
EVENT_TIMEOUT = 30.0
SYNC_TIMEOUT = 45.0


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Failure(Exception):
    pass


class Gocd:
    """The stand-in on a port that survives a restart (the gocd-down fault)."""

    def __init__(self, root: Path, site_url: str):
        self.root, self.site_url, self.port, self.offset, self.proc = root, site_url, 0, 0, None
        self.start()

    def start(self):
        port_file = self.root / f"standin-{time.time_ns()}.port"
        self.proc = subprocess.Popen(
            [sys.executable, str(STANDIN), "--port", str(self.port), "--port-file", str(port_file),
             "--token", TOKEN, "--site-url", self.site_url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = int(wait_for(lambda: port_file.exists() and port_file.read_text(), what="stand-in port"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.offset += self.snapshot()["api_requests"]
            except OSError:
                pass
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def control(self, **change):
        if "site_url" in change:
            self.site_url = change["site_url"]
        req = urllib.request.Request(self.base + "/_control", data=json.dumps(change).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200

    def snapshot(self):
        with urllib.request.urlopen(self.base + "/_control", timeout=10) as r:
            return json.loads(r.read())

    def cycles(self):
        return self.offset + self.snapshot()["api_requests"]


class Daemon:
    """`gocd-proxy-sync run` with its stderr read line by line into `lines` (and a log file)."""

    def __init__(self, cfg: Path, logfile: Path):
        env = dict(os.environ)
        for name in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "GOCD_PROXY_SYNC_FAILPOINT"):
            env.pop(name, None)
        self.lines, self.lock = [], threading.Lock()
        self.logfile = open(logfile, "w")
        self.proc = subprocess.Popen([BIN, "run", "--config", str(cfg)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.pid = self.proc.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.logfile.write(line)
            self.logfile.flush()
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def mark(self):
        with self.lock:
            return len(self.lines)

    def events_since(self, mark):
        with self.lock:
            new = self.lines[mark:]
        out = []
        for line in new:
            m = EVENT_RE.match(line)
            if m:
                out.append((m.group(2), m.group(1), line))
        return out

    def wait_event(self, names, mark, timeout=EVENT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event, level, line in self.events_since(mark):
                if event in names:
                    return event, level, line
            self.check_alive()
            time.sleep(0.05)
        raise Failure(f"no {'/'.join(names)} event within {timeout:.0f} s; since then: "
                      + " | ".join(line for _, _, line in self.events_since(mark)[-5:]))

    def check_alive(self):
        if self.proc.poll() is not None:
            raise Failure(f"the daemon exited with {self.proc.returncode}; last lines: "
                          + " | ".join(self.lines[-5:]))

    def tail(self, n=20):
        with self.lock:
            return "\n".join(self.lines[-n:])


def sample(pid):
    """fds, threads, VmRSS (KiB), zombie children (pids)."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = len(os.listdir(f"/proc/{pid}/task"))
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    zombies = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            zombies.append(int(p))
    return dict(fds=fds, threads=threads, rss=rss, zombies=zombies, t=time.monotonic())


def fd_targets(pid):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return sorted(out)


def mode(values):
    return collections.Counter(values).most_common(1)[0][0]


class Soak:
    def __init__(self, root: Path, cycles: int, warmup: int):
        self.root, self.target, self.warmup = root, cycles, warmup
        self.nginx = Nginx(root)
        self.output = self.nginx.confd / "gocd.conf"
        self.state_dir = root / "state"
        self.token_file = root / "token"
        self.token_file.write_text(TOKEN + "\n")
        self.token_file.chmod(0o600)
        self.port = free_port()
        self.gocd = Gocd(root, self.url())
        self.cfg = root / "config.toml"
        self.render_cfg = root / "render.toml"
        self.render_cfg.write_text(self.config())
        self.cfg.write_text(self.config())
        self.rendered = {}
        self.mounted = False
        self.daemon = None
        self.faults = collections.OrderedDict((name, dict(count=0, events=collections.Counter(), example="",
                                                          recover=[])) for name, *_ in FAULTS)
        self.changes = 0
        self.samples = []
        self.zombie_failures = []
        self.last_fault = ""
        self.fd_targets = None
        self.spacing = None

    def url(self):
        return f"http://{HOST}:{self.port}"

    def config(self, test=None, reload=None, server_url=None, invalid=False):
        test = test or self.nginx.test_command
        reload = reload or self.nginx.reload_command
        return f"""# soak config
[gocd]
server_url = "{server_url or f'http://127.0.0.1:{self.gocd.port}/go'}"
token_file = "{self.token_file}"
timeout_seconds = 1

[proxy]
kind = "nginx"
output = "{self.output}"
upstream = "http://127.0.0.1:{self.gocd.port}"
listen_address = "127.0.0.1"
test_command = {json.dumps(test)}
dump_command = {json.dumps([a for a in self.nginx.test_command if a not in ("-t", "-q")] + ["-T"])}
reload_command = {json.dumps(reload)}
command_timeout_seconds = 20
confirm_timeout_seconds = 2
{'not_a_key = true' if invalid else ''}

[sync]
interval_seconds = 0.1
state_dir = "{self.state_dir}"
max_backoff_seconds = 0.4
"""

    # The checks --------------------------------------------------------------------------------------

    def expected(self):
        url = self.gocd.site_url
        if url not in self.rendered:
            r = subprocess.run([BIN, "render", "--config", str(self.render_cfg), "--site-url", url],
                               capture_output=True, timeout=60)
            if r.returncode != 0:
                raise Failure(f"render failed: {r.stderr.decode(errors='replace')}")
            self.rendered = {url: r.stdout}  # only the current one is ever needed again
        return self.rendered[url]

    def in_sync(self):
        want = self.expected()
        try:
            data = self.output.read_bytes()
        except OSError:
            return False
        if data != want:
            return False
        gen = GENERATION_RE.search(data).group(1).decode()
        try:
            status, _, body = http_get(self.port, GENERATION_PATH, host=f"{HOST}:{self.port}", timeout=2)
        except OSError:
            return False
        return status == 200 and body.strip() == f"gocd-proxy-sync-generation={gen}"

    def wait_in_sync(self, what):
        deadline = time.monotonic() + SYNC_TIMEOUT
        while time.monotonic() < deadline:
            self.daemon.check_alive()
            if self.in_sync():
                return
            time.sleep(0.05)
        raise Failure(f"not in sync {SYNC_TIMEOUT:.0f} s after {what}; daemon's last lines:\n{self.daemon.tail()}")

    def cycles(self):
        return self.gocd.cycles()

    def sighup(self, text):
        """Writes the config and sends SIGHUP; waits for the daemon's answer (config_reloaded/config_invalid)."""
        mark = self.daemon.mark()
        self.cfg.write_text(text)
        os.kill(self.daemon.pid, signal.SIGHUP)
        return self.daemon.wait_event(("config_reloaded", "config_invalid"), mark)

    def change_site_url(self):
        self.port = free_port()
        self.gocd.control(site_url=self.url())

    # The faults --------------------------------------------------------------------------------------

    def fault(self, name, inject, remove, events):
        entry = self.faults[name]
        mark = self.daemon.mark()
        inject(self)
        event, level, line = self.daemon.wait_event(events, mark)
        entry["count"] += 1
        entry["events"][f"{event} ({level.lower()})"] += 1
        if not entry["example"]:
            entry["example"] = line.split(" ", 1)[1][:160]
        t0 = time.monotonic()
        remove(self)
        self.wait_in_sync(f"removing {name}")
        entry["recover"].append(time.monotonic() - t0)
        self.last_fault = name

    def readonly_include(self):
        """A read-only bind mount of the include directory on itself (root ignores permissions); where mounts
        are not allowed, the immutable attribute (chattr +i, ext4/xfs/btrfs)."""
        d = str(self.nginx.confd)
        if subprocess.run(["mount", "--bind", d, d], capture_output=True).returncode == 0:
            self.mounted = "mount"
            subprocess.run(["mount", "-o", "remount,bind,ro", d], check=True)
            return
        r = subprocess.run(["chattr", "+i", d], capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure(f"cannot make the include directory read-only (mount --bind, chattr +i): {r.stderr.strip()}")
        self.mounted = "chattr"

    def writable_include(self):
        if self.mounted == "mount":
            subprocess.run(["umount", str(self.nginx.confd)], check=True)
        elif self.mounted == "chattr":
            subprocess.run(["chattr", "-i", str(self.nginx.confd)], check=True)
        self.mounted = False

    # Resources ---------------------------------------------------------------------------------------

    def take_sample(self):
        s = sample(self.daemon.pid)
        if s["zombies"]:
            # A child that just exited is a zombie until the daemon's waitpid; only one that stays counts.
            time.sleep(1.0)
            again = sample(self.daemon.pid)
            stuck = sorted(set(s["zombies"]) & set(again["zombies"]))
            if stuck:
                self.zombie_failures.append(stuck)
            s["zombies"] = stuck
        s["cycle"] = self.cycles()
        s["after"] = self.last_fault
        if len(self.samples) in (0, 10) or self.fd_targets is None:
            self.fd_targets = fd_targets(self.daemon.pid)
        self.samples.append(s)
        return s

    # The run -----------------------------------------------------------------------------------------

    def start(self):
        self.nginx.start()
        self.daemon = Daemon(self.cfg, self.root / "daemon.log")

    def run(self):
        t_start = time.monotonic()
        self.daemon.wait_event(("applied",), 0)
        self.wait_in_sync("start")
        log(f"daemon {self.daemon.pid} in sync on port {self.port}; {self.target} cycles, warm-up {self.warmup}")
        first_fault = min(50, self.warmup)
        spacing = self.spacing or max(10, min(100, (self.target - first_fault) // (2 * len(FAULTS))))
        next_fault, next_change, k = first_fault, None, 0
        last_sample, last_report = 0.0, 0.0
        while True:
            self.daemon.check_alive()
            c = self.cycles()
            if c >= self.target:
                break
            now = time.monotonic()
            # The warm-up ends after `warmup` cycles and one round of every fault: a first use is not a leak
            # (the first https request loads OpenSSL's tables: +2 MiB, a few fds), a second one would be.
            if c >= self.warmup and k >= len(FAULTS) and now - last_sample >= 1.0:
                s = self.take_sample()
                last_sample = now
                if len(self.samples) == 1:
                    log(f"post-warm-up sample at cycle {c}: fds {s['fds']}, threads {s['threads']}, "
                        f"VmRSS {s['rss']} KiB")
            if c >= next_fault:
                name, inject, remove, events = FAULTS[k % len(FAULTS)]
                k += 1
                self.fault(name, inject, remove, events)
                log(f"cycle {c}: {name} → {dict(self.faults[name]['events'])}, in sync after "
                    f"{self.faults[name]['recover'][-1]:.2f} s")
                c = self.cycles()
                next_fault = max(next_fault + spacing, c + 5)
                next_change = c + spacing // 2
            elif next_change is not None and c >= next_change:
                # A real apply between faults.
                mark = self.daemon.mark()
                self.change_site_url()
                self.daemon.wait_event(("applied",), mark)
                self.wait_in_sync("a site-URL change")
                self.changes += 1
                next_change = None
            if now - last_report >= 30:
                last_report = now
                log(f"cycle {c} ({c / max(now - t_start, 1e-9):.1f}/s)")
            time.sleep(0.1)
        self.wait_in_sync("the last cycle")
        # The end: samples while idle, so the mode is taken over a few between-cycle moments.
        for _ in range(10):
            self.take_sample()
            time.sleep(0.3)
        self.elapsed = time.monotonic() - t_start
        self.cycles_done = self.cycles()
        self.end_fd_targets = fd_targets(self.daemon.pid)
        mark = self.daemon.mark()
        self.daemon.proc.send_signal(signal.SIGTERM)
        rc = self.daemon.proc.wait(timeout=30)
        self.daemon.reader.join(timeout=5)
        self.exit_code = rc
        self.stopping_seen = any(e == "stopping" for e, _, _ in self.daemon.events_since(mark))

    def verdict(self):
        problems = []
        post = self.samples
        if len(post) < 12:
            problems.append(f"only {len(post)} resource samples after the warm-up")
            return problems
        head, tail = post[:10], post[-10:]
        self.res = dict(
            fds=(mode(s["fds"] for s in head), mode(s["fds"] for s in tail), min(s["fds"] for s in post),
                 max(s["fds"] for s in post)),
            threads=(mode(s["threads"] for s in head), mode(s["threads"] for s in tail),
                     min(s["threads"] for s in post), max(s["threads"] for s in post)),
            rss=(post[0]["rss"], post[-1]["rss"], min(s["rss"] for s in post), max(s["rss"] for s in post)),
            start_cycle=post[0]["cycle"], samples=len(post))
        # Growth fails; a worker thread that was alive at the start and has since exited (libdispatch lets
        # an idle one go after a while) is the wobble the mode cannot always hide.
        if self.res["fds"][1] > self.res["fds"][0]:
            gone = collections.Counter(self.fd_targets) - collections.Counter(self.end_fd_targets)
            new = collections.Counter(self.end_fd_targets) - collections.Counter(self.fd_targets)
            problems.append(f"open fds {self.res['fds'][0]} → {self.res['fds'][1]} (new: {sorted(new.elements())}, "
                            f"gone: {sorted(gone.elements())})")
        if self.res["threads"][1] > self.res["threads"][0]:
            problems.append(f"threads {self.res['threads'][0]} → {self.res['threads'][1]}")
        growth = self.res["rss"][1] - self.res["rss"][0]
        if growth > 1024:
            problems.append(f"VmRSS grew by {growth} KiB (> 1 MiB)")
        if self.zombie_failures:
            problems.append(f"zombie children that stayed: {self.zombie_failures}")
        if self.exit_code != 0:
            problems.append(f"SIGTERM: the daemon exited {self.exit_code}")
        if not self.stopping_seen:
            problems.append("SIGTERM: no stopping event")
        for name, entry in self.faults.items():
            if entry["count"] == 0:
                problems.append(f"fault {name} never injected")
        return problems

    def cleanup(self):
        try:
            self.writable_include()
        except Exception as e:  # noqa: BLE001
            log(f"cleanup: umount: {e}")
        if self.daemon and self.daemon.proc.poll() is None:
            self.daemon.proc.kill()
            self.daemon.proc.wait()
        self.nginx.stop()
        self.gocd.stop()


def gocd_mode(mode_name, **extra):
    return (lambda s: s.gocd.control(mode=mode_name, **extra)), (lambda s: s.gocd.control(mode="normal"))


def _down(s):
    s.gocd.stop()


def _tls(s):
    s.sighup(s.config(server_url=f"https://127.0.0.1:{s.gocd.port}/go"))


def _normal(s):
    event = s.sighup(s.config())
    if event[0] != "config_reloaded":
        raise Failure(f"the normal config was not taken back: {event[2]}")


def _test_false(s):
    s.sighup(s.config(test=["false"]))
    s.change_site_url()


def _test_refuses(s):
    """A config test that refuses the next site URL's port (and passes the current file)."""
    port = free_port()
    script = s.root / "test-refuses.sh"
    script.write_text(f"#!/bin/sh\nif grep -q ':{port};' {s.output}; then echo 'soak: port {port} refused' >&2; "
                      f"exit 1; fi\nexec \"$@\"\n")
    script.chmod(0o755)
    s.sighup(s.config(test=[str(script), *s.nginx.test_command]))
    s.port = port
    s.gocd.control(site_url=s.url())


def _reload_false(s):
    s.sighup(s.config(reload=["false"]))
    s.change_site_url()


def _readonly(s):
    s.readonly_include()
    s.change_site_url()


FAULTS = [
    ("gocd-503", *gocd_mode("starting"), ("gocd_error",)),
    ("gocd-500", *gocd_mode("error500"), ("gocd_error",)),
    ("gocd-401", lambda s: s.gocd.control(token="wrong"), lambda s: s.gocd.control(token=TOKEN), ("gocd_error",)),
    ("gocd-403", lambda s: s.gocd.control(admin=False), lambda s: s.gocd.control(admin=True), ("gocd_error",)),
    ("gocd-404", *gocd_mode("not_found"), ("gocd_error",)),
    ("gocd-timeout", *gocd_mode("slow", slow_seconds=3), ("gocd_error",)),
    ("gocd-garbage", *gocd_mode("garbage"), ("gocd_error",)),
    ("gocd-huge", *gocd_mode("huge"), ("gocd_error",)),
    ("gocd-reset", *gocd_mode("reset"), ("gocd_error",)),
    ("gocd-down", _down, lambda s: s.gocd.start(), ("gocd_error",)),
    ("gocd-tls", _tls, _normal, ("gocd_error",)),
    ("test-fails", _test_refuses, _normal, ("test_failed",)),
    ("test-false", _test_false, _normal, ("proxy_broken",)),
    ("reload-fails", _reload_false, _normal, ("reload_failed",)),
    ("include-readonly", _readonly, lambda s: s.writable_include(), ("write_failed",)),
    ("sighup-invalid", lambda s: s.sighup(s.config(invalid=True)), _normal, ("config_invalid",)),
    ("sighup-valid", lambda s: s.sighup(s.config()), lambda s: None, ("config_reloaded",)),
]


NOTES = """## Found

Found and fixed by the soak: the `run` command kept its first engine in a local for the life of the process,
so after the first SIGHUP replaced it, the first GoCD client (its curl handle, its wake-up socket pair and
its keep-alive connection) stayed open: 3 fds more after the first SIGHUP, and after GoCD restarted that
connection sat in CLOSE_WAIT for good. Bounded (one client, not one per SIGHUP), now gone: the daemon alone
holds the engine.

Not a leak: the first https request (the gocd-tls fault) loads OpenSSL's tables, +2 MiB resident once, so
the warm-up includes one round of every fault; the thread count moves between 5 and 6 (the threads besides
the main one are libdispatch's root-queue workers, `com.apple.root.*-qos`, which come and go).
"""


def report(s, problems, path):
    nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    rows = []
    for name, e in s.faults.items():
        rec = sorted(e["recover"])
        med = f"{rec[len(rec) // 2]:.2f}" if rec else "—"
        worst = f"{rec[-1]:.2f}" if rec else "—"
        events = ", ".join(f"`{k}` ×{v}" for k, v in e["events"].items()) or "—"
        rows.append(f"| {name} | {e['count']} | {events} | {med} | {worst} | `{e['example'].replace('|', '/')}` |")
    r = s.res
    text = f"""# Soak: `gocd-proxy-sync run` under injected faults

`make soak CYCLES={s.target}` (`Tests/soak/soak.py`): the real daemon against the GoCD stand-in and a private
nginx, `interval_seconds = 0.1`, `max_backoff_seconds = 0.4`, `confirm_timeout_seconds = 2`,
`timeout_seconds = 1`; a fault every ~100 cycles (fewer cycles: spaced so every kind comes twice), each
removed once its event was logged, then the run must be back in sync (the file is what `render` prints for
GoCD's site URL and nginx answers its generation); half-way between faults a site-URL change (a real apply).

- Machine: {os.cpu_count()} cores (`nproc`), {platform.system()} {platform.release()}, {nginx_v}
- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}
- Binary: {'debug' if '/debug/' in BIN else 'release'} build (`{BIN}`)
- Cycles: {s.cycles_done} (GoCD requests) in {s.elapsed:.0f} s ({s.cycles_done / s.elapsed:.1f} cycles/s);
  {sum(e['count'] for e in s.faults.values())} faults, {s.changes} site-URL changes between them
- Result: {'**pass**' if not problems else '**FAIL**: ' + '; '.join(problems)}

## Faults

| fault | injected | event seen (level) | back in sync, median s | worst s | first event line |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

## Resources

Sampled about once a second from cycle {r['start_cycle']} (the warm-up: {s.warmup} cycles and one round of every
fault, since a first use is not a leak: the first https request alone loads OpenSSL, +2 MiB) to the end,
{r['samples']} samples; fds and threads compare the mode of the first 10 samples with that of the last 10
(taken while idle; more at the end fails, fewer does not); VmRSS the first sample with the last.

| | start | end | min | max |
| --- | --- | --- | --- | --- |
| open fds (`/proc/PID/fd`) | {r['fds'][0]} | {r['fds'][1]} | {r['fds'][2]} | {r['fds'][3]} |
| threads (`/proc/PID/task`) | {r['threads'][0]} | {r['threads'][1]} | {r['threads'][2]} | {r['threads'][3]} |
| VmRSS, KiB | {r['rss'][0]} | {r['rss'][1]} | {r['rss'][2]} | {r['rss'][3]} |

Zombie children that stayed (a child still unreaped 1 s after it was seen): {len(s.zombie_failures)}.
SIGTERM at the end: exit {s.exit_code}, `stopping` logged: {'yes' if s.stopping_seen else 'no'}.

{NOTES}"""
    if path:
        Path(path).write_text(text)
    print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=int(os.environ.get("CYCLES", "10000")))
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--report")
    ap.add_argument("--spacing", type=int, help="cycles between faults (default: ~100, less for short runs)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak: needs root (nginx, a bind mount)")
    root = Path(tempfile.mkdtemp(prefix="gocd-proxy-sync-soak-"))
    s = None
    problems = []
    try:
        s = Soak(root, args.cycles, min(args.warmup, max(args.cycles // 2, 1)))
        s.spacing = args.spacing
        s.start()
        s.run()
        problems = s.verdict()
    except Failure as e:
        problems = [str(e)]
    finally:
        if s:
            s.cleanup()
            (root / "samples.json").write_text(json.dumps(s.samples))
    if problems and not hasattr(s, "res"):
        print("\n".join(f"[soak] FAIL: {p}" for p in problems), flush=True)
        print(f"[soak] daemon log: {root / 'daemon.log'}")
        sys.exit(1)
    report(s, problems, args.report)
    if problems:
        print("\n".join(f"[soak] FAIL: {p}" for p in problems), flush=True)
        print(f"[soak] daemon log: {root / 'daemon.log'}")
        sys.exit(1)
    if not args.keep:
        subprocess.run(["rm", "-rf", str(root)])


if __name__ == "__main__":
    main()

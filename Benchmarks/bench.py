#!/usr/bin/env python3
"""make bench: what a cycle costs, how fast a change converges, how small the daemon stays, against the
shell loop in baseline.sh. Everything runs on loopback with the GoCD stand-in and a real nginx; each
figure is reported with the baseline measured in the same run. Writes Benchmarks/results.md.

Environment: BENCH_CYCLES (1000), BENCH_CHANGES (20), BENCH_IDLE_SECONDS (600), BENCH_RUNNING_CYCLES (60, in windows of 5);
BENCH_ONLY=idle measures only the running daemon's idle cycle, BENCH_ONLY=apply only the applies, and prints the
figures (results.md is left alone). BENCH_ONLY=load (not part of the full run) puts h2load through each proxy's
rendered site against a fast backend, beside h2load straight at the backend (BENCH_LOAD_REQUESTS, 50000 per
proxy, five times that straight at the backend: a few seconds each).

The headline idle figure is the daemon as it runs: `gocd-proxy-sync run` at a 1 s interval, the whole process's
CPU from its CPU-time clock (threads that exited included; a sum over /proc/PID/task/*/schedstat lost them),
context switches from /proc/PID/task/*/status with exited threads' last counts kept. The in-process
hot loop (proxy-sync-bench) is kept as a secondary row, labelled as such.
"""
import datetime
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from conftest import APACHE_MODULES, Apache, Nginx, Standin, free_port, http_get, wait_for  # noqa: E402

CYCLES = int(os.environ.get("BENCH_CYCLES", "1000"))
CHANGES = int(os.environ.get("BENCH_CHANGES", "20"))
IDLE = int(os.environ.get("BENCH_IDLE_SECONDS", "600"))
RUNNING_CYCLES = int(os.environ.get("BENCH_RUNNING_CYCLES", "60"))
WINDOW = 5  # cycles per measurement window of the running daemon
TOKEN = "bench000TOKEN1111222233334444555566667777"
REL = ROOT / ".build" / "release"


def log(msg):
    print(f"[bench] {msg}", flush=True)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def rss_kib(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def rss_by_mapping(pid, top=8):
    """Resident KiB per mapped file (anonymous memory as [anon]) from /proc/PID/smaps, largest first."""
    totals, name = {}, "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and len(parts) >= 5:
            name = parts[5] if len(parts) > 5 else "[anon]"
            name = name.rsplit("/", 1)[-1]
        elif parts and parts[0] == "Rss:":
            totals[name] = totals.get(name, 0) + int(parts[1])
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def process_cpu_ns(pid):
    """CPU time of the whole process in ns, threads that have exited included: the process's CPU-time clock
    (what clock_getcpuclockid(pid) returns: ((~pid) << 3) | CPUCLOCK_SCHED). A sum over /proc/PID/task/*/schedstat
    misses every thread that exited between two samples (a short-lived worker's whole CPU time). Falls back to
    /proc/PID/stat's utime + stime (also the whole process, in clock ticks)."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)
    except OSError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


class TaskCounters:
    """(CPU ns of the whole process, context switches on all its threads, live threads) of one process over
    time. Linux keeps no whole-process switch count that another process can read, so each thread's last seen
    count is remembered and a thread that has exited keeps counting with it (only its switches after the last
    sample are lost, where a plain sum over /proc/PID/task dropped all of them)."""

    def __init__(self, pid):
        self.pid = pid
        self.switches_seen = {}

    def __call__(self):
        threads = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                switches = 0
                for line in (task / "status").read_text().splitlines():
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        switches += int(line.split()[1])
                self.switches_seen[task.name] = switches
                threads += 1
            except (FileNotFoundError, ProcessLookupError):
                pass
        return process_cpu_ns(self.pid), sum(self.switches_seen.values()), threads


class UnitEnvironment:
    """What the daemon gets under its unit and does every cycle there: a notify socket (READY, STATUS after every
    cycle, WATCHDOG pings; drained here like systemd would), `$RUNTIME_DIRECTORY` on a tmpfs (the live record
    rewritten after every cycle) and `$WATCHDOG_USEC` (300 s, as the unit's WatchdogSec)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="gps-bench-run.", dir="/dev/shm"))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.dir / "notify"))
        self.messages = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        while True:
            try:
                self.sock.recv(4096)
                self.messages += 1
            except OSError:
                return

    def env(self):
        return dict(os.environ, NOTIFY_SOCKET=str(self.dir / "notify"), RUNTIME_DIRECTORY=str(self.dir / "runtime"),
                    WATCHDOG_USEC="300000000")

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def running_daemon(binary, cfg, gocd, https_port, as_unit=True):
    """`run` at its own cadence (1 s), in its unit's environment unless `as_unit` is false: CPU of all threads
    and context switches per idle cycle, threads, RSS."""
    unit = UnitEnvironment()
    (unit.dir / "runtime").mkdir()
    daemon = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=unit.env() if as_unit else dict(os.environ))
    try:
        wait_for(lambda: http_get(https_port, "/go", host="gocd.bench", https=True)[0] == 200, timeout=20, what="applied")
        time.sleep(5)  # warm-up
        # Windows of WINDOW cycles; the figure is the median window, so that one burst of another process on
        # this shared machine (which slows the daemon's cycles too: caches, migrations) does not make the row.
        task_counters = TaskCounters(daemon.pid)
        n0, (cpu0, sw0, _) = gocd.snapshot()["api_requests"], task_counters()
        windows, n_prev, cpu_prev, sw_prev = [], n0, cpu0, sw0
        while n_prev < n0 + RUNNING_CYCLES:
            wait_for(lambda: gocd.snapshot()["api_requests"] >= n_prev + WINDOW, timeout=WINDOW * 2 + 30,
                     interval=0.2, what="cycles")
            n, (cpu, sw, threads) = gocd.snapshot()["api_requests"], task_counters()
            windows.append(((cpu - cpu_prev) / 1e6 / (n - n_prev), (sw - sw_prev) / (n - n_prev)))
            n_prev, cpu_prev, sw_prev = n, cpu, sw
        cycles = n_prev - n0
        if as_unit:
            assert (unit.dir / "runtime" / "live.json").exists() and unit.messages > cycles, "not run as under the unit"
        return {"cycles": cycles, "windows": len(windows),
                "cpu_ms_per_cycle": percentile([w[0] for w in windows], 50),
                "cpu_ms_per_cycle_mean": (cpu_prev - cpu0) / 1e6 / cycles,
                "context_switches_per_cycle": percentile([w[1] for w in windows], 50),
                "context_switches_per_cycle_mean": (sw_prev - sw0) / cycles,
                "threads": threads, "rss_kib": rss_kib(daemon.pid)}
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
        unit.close()


def apply_overhead(bench, cfg, output, tmp):
    """CHANGES real applies in one process, the commands, pre-flight and confirmation timed apart."""
    log(f"apply overhead: x{CHANGES}")
    r = subprocess.run([bench, "apply", cfg, str(CHANGES)], capture_output=True, text=True, check=True)
    result = json.loads(r.stdout)
    assert result["applied"] == CHANGES, f"only {result['applied']} of {CHANGES} changes applied"
    output.unlink()
    shutil.rmtree(tmp / "state", ignore_errors=True)
    return result


def running_idle(binary, cfg, gocd, https_port, env, tmp):
    """The running daemon's idle cycle, with metrics off and on, and the shell loop at the same cadence."""
    daemon_row = running_daemon(binary, cfg, gocd, https_port)
    daemon_row["bare"] = running_daemon(binary, cfg, gocd, https_port, as_unit=False)
    plain = cfg.read_text()
    (tmp / "metrics").mkdir(exist_ok=True)
    cfg.write_text(plain + f'\n[metrics]\ntextfile = "{tmp / "metrics" / "gps.prom"}"\n')
    daemon_row["with_metrics"] = running_daemon(binary, cfg, gocd, https_port)
    cfg.write_text(plain)
    subprocess.run([ROOT / "Benchmarks/baseline.sh", "1", "0"], env=env, check=True)  # its own first apply
    cpu0 = children_cpu()
    subprocess.run([ROOT / "Benchmarks/baseline.sh", str(RUNNING_CYCLES), "1"], env=env, check=True)
    loop_row = {"iterations": RUNNING_CYCLES, "cpu_ms_per_iteration": (children_cpu() - cpu0) * 1000 / RUNNING_CYCLES}
    return daemon_row, loop_row


def confirmation_cost(binary, cfg, gocd, https_port):
    """What confirmation adds to an apply: `once` applies timed with confirmation on and off."""
    def applies(confirm):
        text = cfg.read_text().replace("confirm_timeout_seconds = 0\n", "")
        if not confirm:
            text = text.replace("[proxy]\n", "[proxy]\nconfirm_timeout_seconds = 0\n", 1)
        cfg.write_text(text)
        walls, confirmed, served = [], [], []
        for _ in range(CHANGES):
            port = free_port()
            gocd.control(secure_site_url=f"https://gocd.bench:{port}")
            t0 = time.monotonic()
            r = subprocess.run([binary, "once", "--config", cfg], capture_output=True, text=True)
            walls.append((time.monotonic() - t0) * 1000)
            assert r.returncode == 0, r.stderr
            if not confirm:
                # NGINX's own reload: from `once` returning (right after `nginx -s reload` returned) until the new
                # listener answers, asked every millisecond by this script.
                t1 = time.monotonic()
                while time.monotonic() - t1 < 5:
                    try:
                        if http_get(port, "/.well-known/gocd-proxy-sync/generation", host=f"gocd.bench:{port}",
                                    https=True, timeout=1)[0] == 200:
                            break
                    except OSError:
                        pass
                    time.sleep(0.001)
                served.append((time.monotonic() - t1) * 1000)
            for word in r.stderr.split():
                if word.startswith("confirmed_after_ms="):
                    confirmed.append(int(word.split("=")[1]))
            time.sleep(0.3)  # let nginx's old workers go
        return walls, confirmed, served
    off, _, nginx_reload = applies(False)
    on, confirmed, _ = applies(True)
    gocd.control(secure_site_url=f"https://gocd.bench:{https_port}")
    cfg.write_text(cfg.read_text().replace("confirm_timeout_seconds = 0\n", ""))
    return {"applies": CHANGES, "once_off_p50_ms": percentile(off, 50), "once_on_p50_ms": percentile(on, 50),
            "added_p50_ms": percentile(on, 50) - percentile(off, 50),
            "confirmed_after_p50_ms": percentile(confirmed, 50), "confirmed_after_p95_ms": percentile(confirmed, 95),
            "nginx_reload_p50_ms": percentile(nginx_reload, 50), "nginx_reload_p95_ms": percentile(nginx_reload, 95)}


def staged_cost(binary, cfg, gocd, https_port):
    """What testing the new file before it is live (a private mount namespace per config test) adds to an apply:
    `once` applies timed with the staged test and without it (the same binary with CAP_SYS_ADMIN dropped from
    its bounding set, so the namespace cannot be made and the file is tested at the live path), alternating."""
    walls = {True: [], False: []}
    for i in range(2 * CHANGES):
        staged = i % 2 == 0
        port = free_port()
        gocd.control(secure_site_url=f"https://gocd.bench:{port}")
        # Both through setpriv, so both pay its exec; only the second loses what a mount namespace needs.
        prefix = ["setpriv", "--bounding-set=-sys_time"] if staged else [
            "setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin"]
        t0 = time.monotonic()
        r = subprocess.run(prefix + [binary, "once", "--config", cfg], capture_output=True, text=True)
        walls[staged].append((time.monotonic() - t0) * 1000)
        assert r.returncode == 0, r.stderr
        assert ("cannot be tested before it is live" in r.stderr) != staged, r.stderr
        time.sleep(0.3)  # let nginx's old workers go
    gocd.control(secure_site_url=f"https://gocd.bench:{https_port}")
    on, off = percentile(walls[True], 50), percentile(walls[False], 50)
    return {"applies": CHANGES, "once_staged_p50_ms": on, "once_live_p50_ms": off, "added_p50_ms": on - off,
            "once_staged_p95_ms": percentile(walls[True], 95), "once_live_p95_ms": percentile(walls[False], 95)}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    if os.environ.get("BENCH_ONLY") == "load":
        # The daemon only renders and applies the site here; what is measured is the proxies. The debug build will do.
        subprocess.run(["swift", "build"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        tmp = Path(tempfile.mkdtemp(prefix="gps-bench."))
        try:
            print(json.dumps(load_row(tmp, ROOT / ".build" / "debug" / "gocd-proxy-sync"), indent=2))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    log("building the static-stdlib release binaries")
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    binary, bench = REL / "gocd-proxy-sync", REL / "proxy-sync-bench"
    tmp = Path(tempfile.mkdtemp(prefix="gps-bench."))
    results = {"nproc": os.cpu_count(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        run_all(tmp, binary, bench, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if os.environ.get("BENCH_ONLY") in ("idle", "apply", "staged"):
        print(json.dumps({k: v for k, v in results.items() if k in ("running", "running_baseline", "apply", "staged")},
                         indent=2))
        return
    write_results(results)


def setup(tmp, http_port, https_port):
    certs = tmp / "tls"
    certs.mkdir(exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=gocd.bench",
                    "-keyout", certs / "key.pem", "-out", certs / "cert.pem", "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True)
    gocd = Standin(tmp, token=TOKEN, site_url=f"http://gocd.bench:{http_port}", secure_site_url=f"https://gocd.bench:{https_port}")
    nginx = Nginx(tmp)
    nginx.start()
    (tmp / "token").write_text(TOKEN + "\n")
    (tmp / "token").chmod(0o600)
    return gocd, nginx, certs


def write_config(tmp, gocd, nginx, certs, output, interval=1):
    cfg = tmp / "config.toml"
    cfg.write_text(f"""
[gocd]
server_url = "{gocd.base}/go"
token_file = "{tmp / 'token'}"
[proxy]
kind = "nginx"
output = "{output}"
upstream = "http://127.0.0.1:{gocd.port}"
listen_address = "127.0.0.1"
tls_certificate = "{certs / 'cert.pem'}"
tls_certificate_key = "{certs / 'key.pem'}"
test_command = {json.dumps(nginx.test_command)}
reload_command = {json.dumps(nginx.reload_command)}
[sync]
interval_seconds = {interval}
state_dir = "{tmp / 'state'}"
max_backoff_seconds = 4
""")
    return cfg


def baseline_env(tmp, gocd, nginx, certs, output):
    return dict(os.environ, GOCD=f"{gocd.base}/go", TOKEN_FILE=str(tmp / "token"), OUTPUT=str(output),
                UPSTREAM=f"http://127.0.0.1:{gocd.port}", CERT=str(certs / "cert.pem"), KEY=str(certs / "key.pem"),
                NGINX_PREFIX=str(nginx.prefix), NGINX_CONF=str(nginx.conf))


def run_all(tmp, binary, bench, results):
    http_port, https_port = free_port(), free_port()
    gocd, nginx, certs = setup(tmp, http_port, https_port)
    output = nginx.confd / "gocd.conf"
    cfg = write_config(tmp, gocd, nginx, certs, output)
    try:
        if os.environ.get("BENCH_ONLY") == "apply":
            results["apply"] = apply_overhead(bench, cfg, output, tmp)
            return
        if os.environ.get("BENCH_ONLY") == "staged":
            subprocess.run([binary, "once", "--config", cfg], capture_output=True, check=True)
            results["staged"] = staged_cost(binary, cfg, gocd, https_port)
            return
        # 0. The idle cycle as the daemon runs (headline), and the shell loop at the same cadence.
        env = baseline_env(tmp, gocd, nginx, certs, output)
        log(f"running daemon: {RUNNING_CYCLES} idle cycles at 1 s, then the shell loop likewise")
        results["running"], results["running_baseline"] = running_idle(binary, cfg, gocd, https_port, env, tmp)
        if os.environ.get("BENCH_ONLY") == "idle":
            return
        output.unlink()
        shutil.rmtree(tmp / "state", ignore_errors=True)
        log(f"confirmation cost: {CHANGES} applies with confirmation off, then on")
        subprocess.run([binary, "once", "--config", cfg], capture_output=True, check=True)
        results["confirmation"] = confirmation_cost(binary, cfg, gocd, https_port)
        log(f"staged test cost: {CHANGES} applies tested before they are live, {CHANGES} tested at the live path")
        results["staged"] = staged_cost(binary, cfg, gocd, https_port)
        output.unlink()
        shutil.rmtree(tmp / "state", ignore_errors=True)

        # 1. Unchanged cycle in one hot process (secondary: not how the daemon runs) vs the shell loop.
        log(f"unchanged cycles: daemon x{CYCLES}")
        r = subprocess.run([bench, "unchanged", cfg, str(CYCLES)], capture_output=True, text=True, check=True)
        results["unchanged"] = json.loads(r.stdout)
        output.unlink()
        base_cycles = CYCLES
        env = baseline_env(tmp, gocd, nginx, certs, output)
        subprocess.run([ROOT / "Benchmarks/baseline.sh", "1", "0"], env=env, check=True)  # first apply
        log(f"unchanged cycles: shell loop x{base_cycles}")
        cpu0, wall0 = children_cpu(), time.monotonic()
        subprocess.run([ROOT / "Benchmarks/baseline.sh", str(base_cycles), "0"], env=env, check=True)
        results["baseline_unchanged"] = {"cycles": base_cycles, "cpu_ms_per_cycle": (children_cpu() - cpu0) * 1000 / base_cycles,
                                         "wall_ms_per_cycle": (time.monotonic() - wall0) * 1000 / base_cycles}

        # 2a. The daemon's own overhead inside an apply, commands excluded.
        output.unlink()
        results["apply"] = apply_overhead(bench, cfg, output, tmp)

        # 2b. Convergence: site-URL change on GoCD → nginx answering on the new listener.
        log("convergence: daemon")
        daemon = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: http_get(https_port, "/go", host="gocd.bench", https=True)[0] == 200, timeout=20, what="daemon apply")
            results["converge_daemon"] = converge(gocd, https_port)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=20)
        output.unlink()
        log("convergence: shell loop")
        gocd.control(secure_site_url=f"https://gocd.bench:{https_port}")
        loop = subprocess.Popen([ROOT / "Benchmarks/baseline.sh", "100000", "1"], env=env)
        try:
            wait_for(lambda: http_get(https_port, "/go", host="gocd.bench", https=True)[0] == 200, timeout=20, what="loop apply")
            results["converge_baseline"] = converge(gocd, https_port)
        finally:
            loop.terminate()
            loop.wait(timeout=20)
        output.unlink()
        gocd.control(secure_site_url=f"https://gocd.bench:{https_port}")

        # 3. Footprint: start-up to first request, RSS while idle-polling at 1 s.
        log(f"footprint: idle-polling for {IDLE} s")
        shutil.rmtree(tmp / "state", ignore_errors=True)
        n0 = gocd.snapshot()["api_requests"]
        start = time.monotonic()
        daemon = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: gocd.snapshot()["api_requests"] > n0, interval=0.002, what="first request")
            results["startup_ms"] = (time.monotonic() - start) * 1000
            time.sleep(max(0, 60 - (time.monotonic() - start)))
            rss60 = rss_kib(daemon.pid)
            time.sleep(max(0, IDLE - (time.monotonic() - start)))
            results["rss_by_mapping_kib"] = rss_by_mapping(daemon.pid)
            results["footprint"] = {"idle_seconds": IDLE, "rss_60s_kib": rss60, "rss_end_kib": rss_kib(daemon.pid),
                                    "peak_kib": rss_kib(daemon.pid, "VmHWM"),
                                    "cycles": gocd.snapshot()["api_requests"] - n0}
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=20)
        stripped = tmp / "stripped"
        shutil.copy(binary, stripped)
        subprocess.run(["strip", "--strip-unneeded", stripped], check=True)
        results["binary"] = {"bytes": binary.stat().st_size, "stripped_bytes": stripped.stat().st_size,
                             "swift_runtime_linked": "libswift" in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout}
    finally:
        nginx.stop()
        gocd.stop()


# Requests per target, a few seconds each on 2 cores, by 64 clients each with one request in flight (HTTP/2 over
# TLS through the proxies, HTTP/1.1 straight at the backend). NGINX ends an HTTP/2 connection after
# keepalive_requests (1000) with GOAWAY and h2load does not reconnect (its failed requests say so), so no client
# makes more than 1000: 50,000 over 64 clients is 782 each.
LOAD_REQUESTS = int(os.environ.get("BENCH_LOAD_REQUESTS", "50000"))
LOAD_CLIENTS = 64
LOAD_PATH = "/go/api/v1/health"


class Backend(Nginx):
    """The stand-in for GoCD under load: a second private nginx answering every path with a static 200 over
    HTTP/1.1 keep-alive (Python would be the bottleneck), and stub_status on its status port, whose `accepts`
    counts the connections opened to it."""

    def __init__(self, root):
        super().__init__(root)
        self.port = free_port()
        p = self.prefix
        self.conf.write_text(f"""
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {p}/tmp/body;
    server {{ listen 127.0.0.1:{self.status_port}; location / {{ stub_status; }} }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{ default_type application/json; return 200 '{{"health":"OK"}}'; }}
    }}
}}
""")

    def accepts(self):
        """Connections the backend has accepted so far, this status request's own included."""
        _, _, body = http_get(self.status_port, "/")
        return int(body.splitlines()[2].split()[0])


def h2load(args):
    """Runs h2load; returns req/s, requests done and succeeded, 2xx count and the protocol it spoke."""
    out = subprocess.run(["h2load", *args], capture_output=True, text=True, check=True).stdout
    figures = {}
    for line in out.splitlines():
        words = line.replace(",", "").split()
        if line.startswith("finished in"):
            figures["req_per_s"] = float(words[3])
        elif line.startswith("requests:"):
            figures["requests"], figures["succeeded"] = int(words[1]), int(words[7])
            figures["failed"], figures["errored"], figures["timeout"] = int(words[9]), int(words[11]), int(words[13])
        elif line.startswith("status codes:"):
            figures["status_2xx"] = int(words[2])
        elif line.startswith("Application protocol:"):
            figures["protocol"] = words[2]
    if figures.get("failed") or not figures.get("succeeded"):
        figures["output"] = out[-1500:]
    return figures


def load_target(name, backend, args):
    """h2load `args`; adds the connections the backend accepted meanwhile (the upstream sockets opened)."""
    log(f"load: {name}")
    before = backend.accepts()
    figures = h2load(args)
    figures["upstream_connections_opened"] = backend.accepts() - before - 1  # the second status request's own
    return figures


def load_shapes(url, http1=False, authority=None):
    """h2load arguments for half of LOAD_CLIENTS clients (as many as NGINX's upstream keepalive 32 keeps) and then
    for LOAD_CLIENTS, each client with one request in flight and the same number of requests (< 1000) each."""
    shapes = {}
    for clients in (LOAD_CLIENTS // 2, LOAD_CLIENTS):  # the smaller first: its upstream sockets are opened cold
        requests = LOAD_REQUESTS * clients // LOAD_CLIENTS * (5 if http1 else 1)
        if not http1:
            requests = min(requests, clients * 999)
        args = ["-n", str(requests), "-c", str(clients)] + (["--h1"] if http1 else [])
        if authority:
            args += ["-H", f":authority: {authority}"]
        shapes[f"{clients}_clients"] = args + [url]
    return shapes


def load_row(tmp, binary):
    """The rendered site under load (HTTPS, HTTP/2) through a private nginx and a private httpd, each applied by
    `once`, against the fast backend; and straight at the backend over HTTP/1.1 for comparison."""
    backend = Backend(tmp / "backend")
    backend.start()
    certs = tmp / "tls"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=gocd.bench",
                    "-keyout", certs / "key.pem", "-out", certs / "cert.pem", "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "subjectAltName=DNS:gocd.bench"], check=True, capture_output=True)
    (tmp / "token").write_text(TOKEN + "\n")
    (tmp / "token").chmod(0o600)
    results = {"path": LOAD_PATH, "note": "each client has one request in flight"}
    try:
        results["direct"] = {
            shape: load_target(f"straight at the backend (HTTP/1.1), {shape}", backend, args)
            for shape, args in load_shapes(f"http://127.0.0.1:{backend.port}{LOAD_PATH}", http1=True).items()}
        for kind in ("nginx", "apache"):
            root = tmp / kind
            root.mkdir()
            if kind == "nginx":
                proxy = Nginx(root)
                proxy.conf.write_text(proxy.conf.read_text().replace("worker_connections 64;", "worker_connections 4096;"))
            else:
                proxy = Apache(root, modules=APACHE_MODULES + ["http2"])
            https_port = free_port()
            gocd = Standin(root, token=TOKEN, site_url="", secure_site_url=f"https://gocd.bench:{https_port}")
            try:
                proxy.start()
                cfg = root / "config.toml"
                cfg.write_text(f"""
[gocd]
server_url = "{gocd.base}/go"
token_file = "{tmp / 'token'}"
[proxy]
kind = "{kind}"
output = "{proxy.confd / 'gocd.conf'}"
upstream = "http://127.0.0.1:{backend.port}"
listen_address = "127.0.0.1"
tls_certificate = "{certs / 'cert.pem'}"
tls_certificate_key = "{certs / 'key.pem'}"
test_command = {json.dumps(proxy.test_command)}
reload_command = {json.dumps(proxy.reload_command)}
{"apache_listen_ports = []" if kind == "apache" else ""}
[sync]
interval_seconds = 1
state_dir = "{root / 'state'}"
""")
                r = subprocess.run([binary, "once", "--config", cfg], capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"once for {kind}: exit {r.returncode}: {r.stderr}")
                # A fresh start on the applied file: the previous generation's workers, finishing after the reload,
                # would close some of h2load's connections, which it does not reopen.
                proxy.stop()
                proxy.start()
                wait_for(lambda: http_get(https_port, LOAD_PATH, host=f"gocd.bench:{https_port}", https=True)[0] == 200,
                         what=f"{kind} serving the site")
                shapes = load_shapes(f"https://127.0.0.1:{https_port}{LOAD_PATH}", authority=f"gocd.bench:{https_port}")
                results[kind] = {
                    shape: load_target(f"through {kind}'s rendered site (HTTPS, HTTP/2), {shape}", backend, args)
                    for shape, args in shapes.items()}
                if any(figures.get("failed") for figures in results[kind].values()):
                    errors = (proxy.prefix / "logs" / "error.log") if kind == "nginx" else (proxy.root / "logs" / "error.log")
                    results[kind]["error_log"] = errors.read_text()[-1500:]
                version = subprocess.run([kind if kind == "nginx" else "apache2", "-v"], capture_output=True, text=True)
                results[kind]["version"] = (version.stdout + version.stderr).strip().splitlines()[0]
            finally:
                proxy.stop()
                gocd.stop()
    finally:
        backend.stop()
    for kind in ("nginx", "apache"):
        for shape, direct in results["direct"].items():
            results[kind][shape]["ratio_to_direct"] = results[kind][shape]["req_per_s"] / direct["req_per_s"]
    return results


def converge(gocd, https_port):
    """Changes the secure site URL CHANGES times; returns latencies (ms), total and after the first poll."""
    totals, after_poll = [], []
    for _ in range(CHANGES):
        new_port = free_port()
        time.sleep(random.uniform(0, 1))  # a change lands at a random phase of the 1 s interval
        gocd.control(secure_site_url=f"https://gocd.bench:{new_port}")
        t0 = time.time()
        deadline = t0 + 30
        while time.time() < deadline:
            try:
                if http_get(new_port, "/go", host=f"gocd.bench:{new_port}", https=True, timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.003)
        t1 = time.time()
        first_poll = min((q["time"] for q in gocd.snapshot()["requests"] if q["time"] >= t0), default=t0)
        totals.append((t1 - t0) * 1000)
        after_poll.append((t1 - first_poll) * 1000)
    return {"changes": CHANGES, "interval_s": 1, "total_p50_ms": percentile(totals, 50), "total_p95_ms": percentile(totals, 95),
            "after_poll_p50_ms": percentile(after_poll, 50), "after_poll_p95_ms": percentile(after_poll, 95)}


def write_results(r):
    u, b = r["unchanged"], r["baseline_unchanged"]
    cd, cb = r["converge_daemon"], r["converge_baseline"]
    f, a = r["footprint"], r["apply"]
    mib = lambda kib: kib / 1024
    growth = (f["rss_end_kib"] - f["rss_60s_kib"]) / f["rss_60s_kib"] * 100
    rd, rb, c = r["running"], r["running_baseline"], r["confirmation"]
    rows = [
        ("Idle cycle of the running daemon as under its unit (`run`, 1 s interval, all threads; STATUS + watchdog "
         "datagram and live record every cycle), CPU per cycle: median of 5-cycle windows (mean)",
         f"{rd['cpu_ms_per_cycle']:.2f} ms ({rd['cpu_ms_per_cycle_mean']:.2f}; {rd['cycles']} cycles; "
         f"{rd['context_switches_per_cycle']:.1f} context switches per cycle; {rd['threads']} threads; "
         f"RSS {rd['rss_kib'] / 1024:.1f} MiB)",
         f"{rb['cpu_ms_per_iteration']:.1f} ms ({rb['iterations']} iterations at 1 s)",
         f"{rb['cpu_ms_per_iteration'] / rd['cpu_ms_per_cycle']:.0f}× less CPU", "≤ 0.30 ms, ≤ 4 switches"),
        ("Same, outside systemd (no notify socket, no runtime directory)",
         f"{rd['bare']['cpu_ms_per_cycle']:.2f} ms ({rd['bare']['cpu_ms_per_cycle_mean']:.2f}; {rd['bare']['cycles']} cycles; "
         f"{rd['bare']['context_switches_per_cycle']:.1f} context switches per cycle; {rd['bare']['threads']} threads)",
         "", f"{rb['cpu_ms_per_iteration'] / rd['bare']['cpu_ms_per_cycle']:.0f}× less CPU", "≤ 0.30 ms, ≤ 4 switches"),
        ("Metrics textfile on (node_exporter collector), same idle cycle",
         f"{rd['with_metrics']['cpu_ms_per_cycle']:.2f} ms ({rd['with_metrics']['cpu_ms_per_cycle_mean']:.2f}) per cycle, "
         f"RSS {rd['with_metrics']['rss_kib'] / 1024:.1f} MiB",
         "n/a", f"{rd['with_metrics']['cpu_ms_per_cycle'] - rd['cpu_ms_per_cycle']:+.2f} ms CPU, "
         f"{(rd['with_metrics']['rss_kib'] - rd['rss_kib']) / 1024:+.1f} MiB", "≤ +0.05 ms, ≤ +1 MiB"),
        ("What confirmation adds to an apply (`once`, p50 with it on − off; includes waiting for NGINX's reload)",
         f"+{c['added_p50_ms']:.0f} ms ({c['once_off_p50_ms']:.0f} → {c['once_on_p50_ms']:.0f} ms); reload → confirmed "
         f"p50 / p95 {c['confirmed_after_p50_ms']} / {c['confirmed_after_p95_ms']} ms", "n/a (believes the reload)",
         f"NGINX's own reload (reload returned → new listener answers, polled every 1 ms): p50 / p95 "
         f"{c['nginx_reload_p50_ms']:.0f} / {c['nginx_reload_p95_ms']:.0f} ms, so confirmation adds "
         f"{c['confirmed_after_p50_ms'] - c['nginx_reload_p50_ms']:+.0f} ms (p50) beyond it; {c['applies']} applies each",
         "≤ 50 ms beyond NGINX's own reload"),
        ("What the staged config test adds to an apply (`once`, p50 tested before it is live − tested at the live "
         "path; a mount namespace, a bind mount and a shell per test)",
         f"{r['staged']['added_p50_ms']:+.0f} ms ({r['staged']['once_live_p50_ms']:.0f} → "
         f"{r['staged']['once_staged_p50_ms']:.0f} ms); p95 {r['staged']['once_live_p95_ms']:.0f} → "
         f"{r['staged']['once_staged_p95_ms']:.0f} ms", "n/a (tests the live file)",
         f"{r['staged']['applies']} applies each, alternating", ""),
        ("Unchanged cycle, CPU per cycle — secondary: back to back in one hot process, not the running daemon", f"{u['cpu_ms_per_cycle']:.3f} ms ({u['cycles']} cycles, {u['unchanged']} unchanged)",
         f"{b['cpu_ms_per_cycle']:.2f} ms ({b['cycles']} iterations)", f"{b['cpu_ms_per_cycle'] / u['cpu_ms_per_cycle']:.0f}× less CPU",
         "≤ 1 ms and ≥ 20× less"),
        ("Unchanged cycle, wall per cycle — secondary, hot loop", f"{u['wall_ms_per_cycle']:.3f} ms", f"{b['wall_ms_per_cycle']:.2f} ms",
         f"{b['wall_ms_per_cycle'] / u['wall_ms_per_cycle']:.0f}× faster", ""),
        ("Change → served, after the poll, p50 / p95", f"{cd['after_poll_p50_ms']:.0f} / {cd['after_poll_p95_ms']:.0f} ms",
         f"{cb['after_poll_p50_ms']:.0f} / {cb['after_poll_p95_ms']:.0f} ms",
         f"{cb['after_poll_p50_ms'] / cd['after_poll_p50_ms']:.1f}× (p50)", ""),
        ("Change → served, total incl. poll wait (interval 1 s; changes at random phases), p50 / p95", f"{cd['total_p50_ms']:.0f} / {cd['total_p95_ms']:.0f} ms",
         f"{cb['total_p50_ms']:.0f} / {cb['total_p95_ms']:.0f} ms", f"{cb['total_p50_ms'] / cd['total_p50_ms']:.1f}× (p50)", ""),
        ("Daemon's own work inside an apply (excl. nginx -t, the reload, the pre-flight and the confirmation), p50 / p95",
         f"{a['overhead_ms_p50']:.2f} / {a['overhead_ms_p95']:.2f} ms", "n/a",
         f"{a['applied']} of {a['changes']} changes applied; a whole apply p50 {a['total_ms_p50']:.0f} ms: commands "
         f"{a['commands_ms_per_apply']:.1f}, pre-flight {a['preflight_ms_per_apply']:.1f} (nginx -T and /proc), "
         f"confirmation + end-to-end {a['confirm_ms_per_apply']:.1f} ms per apply", "≤ 4.4 ms (no regression)"),
        ("RSS after 60 s / at the end / peak", f"{mib(f['rss_60s_kib']):.1f} / {mib(f['rss_end_kib']):.1f} / {mib(f['peak_kib']):.1f} MiB",
         "n/a (no resident process)", f"growth {growth:+.1f} % over {f['idle_seconds']} s ({f['cycles']} cycles)", "≤ 18 MiB, ≤ 5 % growth"),
        ("Binary (static Swift stdlib)", f"{r['binary']['bytes'] / 1e6:.1f} MB, stripped {r['binary']['stripped_bytes'] / 1e6:.1f} MB",
         "n/a", "Swift runtime linked dynamically: " + ("yes" if r["binary"]["swift_runtime_linked"] else "no"), ""),
        ("Start-up to first GoCD request", f"{r['startup_ms']:.0f} ms", "n/a", "", ""),
        ("Bytes per cycle to / from GoCD", f"{u['bytes_sent_per_cycle']:.0f} / {u['bytes_received_per_cycle']:.0f} B "
         f"({u['requests']} requests, one reused connection)", "", "", ""),
    ]
    lines = [
        "# Benchmark results",
        "",
        f"Run by `make bench` on {r['date']}, nproc = {r['nproc']}. Loopback only: the GoCD stand-in",
        "(`Tests/standin/gocd_standin.py`) and a private nginx. Baseline: `Benchmarks/baseline.sh`, measured in the same run.",
        "",
        "| measure | gocd-proxy-sync | shell loop | ratio / note | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    lines += ["", "Where the resident memory is at the end of the idle run (from `/proc/PID/smaps`, KiB):", "",
              "| mapping | RSS KiB |", "| --- | --- |"]
    lines += [f"| {name} | {kib} |" for name, kib in r["rss_by_mapping_kib"]]
    levers = ROOT / "Benchmarks" / "levers.md"
    if levers.exists():
        lines += ["", levers.read_text().rstrip("\n")]
    lines += ["", "Raw figures:", "", "```json", json.dumps(r, indent=2), "```", ""]
    text = "\n".join(lines)
    (ROOT / "Benchmarks" / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

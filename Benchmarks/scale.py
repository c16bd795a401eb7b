#!/usr/bin/env python3
"""make bench (scale rows): one apply of `gocd-proxy-sync once` (release build) beside N other sites of a real
nginx, for N = 10, 1000, 10000 and 40000 (BENCH_SCALE="10 1000" for others). Each other site is a server block
with three names on one shared address and port, in files of 100 sites each, the way a shared proxy looks.

Reported per row: the size of the proxy's dump (`nginx -T`), wall time, CPU (user + system, this program and
the commands it ran: the dump, the config test, the reload) and this program's peak RSS (its own maxrss, from
wait4; the proxy's commands are separate processes and not in it). Every `once` is an apply (a new site URL
each time), since the dump is read only on cycles that would write. The figures of nginx itself (`nginx -T`
run alone) are given beside them as the floor this program cannot go under. Writes Benchmarks/scale.md.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from conftest import Nginx, Standin, free_port  # noqa: E402

TOKEN = "bench000TOKEN1111222233334444555566667777"
BINARY = ROOT / ".build" / "release" / "gocd-proxy-sync"
SIZES = [int(n) for n in os.environ.get("BENCH_SCALE", "10 1000 10000 40000").split()]


def log(msg):
    print(f"[scale] {msg}", flush=True)


def measured(argv):
    """Runs argv; returns (exit status, wall s, cpu s of it and the commands it ran, its own cpu s, its own peak RSS
    in KiB, stderr). wait4's figures include the commands it waited for (nginx with 40,000 servers is far bigger
    than this program), so its own CPU and peak RSS are sampled from /proc every 5 ms while it runs: the last
    sample before it exits (VmHWM is a high-water mark, so only the last few milliseconds can be missed)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    own_cpu, own_hwm = 0.0, 0
    ticks = os.sysconf("SC_CLK_TCK")
    err_chunks = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()))
    reader.start()
    while True:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                break
            own_cpu = (int(fields[11]) + int(fields[12])) / ticks
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    own_hwm = int(line.split()[1])
        except (OSError, IndexError, ValueError):
            break
        time.sleep(0.005)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    reader.join()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = b"".join(err_chunks).decode(errors="replace")
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, own_cpu, own_hwm, err


def row(n, tmp):
    nginx = Nginx(tmp)
    shared = free_port()
    # Room for tens of thousands of names in nginx's server-name hash.
    nginx.conf.write_text(nginx.conf.read_text().replace(
        "http {", "http {\n    server_names_hash_max_size 1048576;\n    server_names_hash_bucket_size 128;", 1))
    for start in range(0, n, 100):
        blocks = []
        for i in range(start, min(n, start + 100)):
            blocks.append(f"server {{\n    listen 127.0.0.1:{shared};\n    server_name site{i}.example.test "
                          f"www.site{i}.example.test site{i}.internal.test;\n"
                          f"    location / {{ return 200 \"site {i}\"; }}\n}}\n")
        (nginx.confd / f"sites-{start // 100:05d}.conf").write_text("".join(blocks))
    nginx.start()
    gocd = Standin(tmp, token=TOKEN, site_url=f"http://gocd.bench:{free_port()}")
    (tmp / "token").write_text(TOKEN + "\n")
    (tmp / "token").chmod(0o600)
    cfg = tmp / "config.toml"
    cfg.write_text(f"""
[gocd]
server_url = "{gocd.base}/go"
token_file = "{tmp / 'token'}"
[proxy]
kind = "nginx"
output = "{nginx.confd / 'gocd.conf'}"
upstream = "http://127.0.0.1:{gocd.port}"
listen_address = "127.0.0.1"
test_command = {json.dumps(nginx.test_command)}
reload_command = {json.dumps(nginx.reload_command)}
command_timeout_seconds = 300
[sync]
state_dir = "{tmp / 'state'}"
""")
    try:
        dump = subprocess.run(nginx.base_args + ["-T"], capture_output=True, check=True).stdout
        _, floor_wall, floor_cpu, _, floor_rss, _ = measured(nginx.base_args + ["-T"])
        runs = []
        for attempt in range(3):
            gocd.control(site_url=f"http://gocd.bench:{free_port()}")
            status, wall, cpu, own, rss, err = measured([str(BINARY), "once", "--config", str(cfg)])
            if status != 0 or "applied" not in err:
                raise SystemExit(f"once beside {n} sites did not apply (exit {status}):\n{err[-2000:]}")
            runs.append((wall, cpu, own, rss))
        runs.sort()
        wall, cpu, own, _ = runs[len(runs) // 2]
        return {"sites": n, "dump_bytes": len(dump), "wall": wall, "cpu": cpu, "own_cpu": own,
                "rss_kib": max(r[3] for r in runs),
                "nginx_T_wall": floor_wall, "nginx_T_cpu": floor_cpu, "nginx_T_rss_kib": floor_rss}
    finally:
        nginx.stop()
        gocd.stop()


def main():
    if not BINARY.exists():
        log("building the static-stdlib release binary")
        subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib"], cwd=ROOT, check=True)
    rows = []
    for n in SIZES:
        with tempfile.TemporaryDirectory(prefix=f"scale-{n}-") as tmp:
            r = row(n, Path(tmp))
            log(f"{n} sites: dump {r['dump_bytes'] / 1048576:.1f} MiB, once {r['wall']:.2f} s wall, "
                f"{r['cpu']:.2f} s CPU with its commands ({r['own_cpu']:.2f} s its own), peak RSS {r['rss_kib'] / 1024:.1f} MiB")
            rows.append(r)
    lines = [
        "# Scale: one apply beside N other sites",
        "",
        f"Measured {datetime.date.today()} by `Benchmarks/scale.py` (part of `make bench`), release build, on this",
        f"machine ({os.cpu_count()} cores). Median of 3 applies for wall time and CPU; peak RSS is the largest of the 3.",
        "Wall time is the whole apply: the dump, the config test, the reload and the confirmation that the new",
        "configuration is served, so it includes nginx parsing its configuration three times. CPU is given with",
        "the commands `once` ran, and its own (sampled from /proc); peak RSS is `once`'s own (VmHWM).",
        "`nginx -T` alone is given as the floor: one parse by nginx, which the apply does at least three times.",
        "",
        "| other sites | dump | `once` wall | CPU with commands | `once`'s own CPU | `once` peak RSS | `nginx -T` alone: wall, CPU, RSS |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['sites']:,} | {r['dump_bytes'] / 1048576:.1f} MiB | {r['wall']:.2f} s | {r['cpu']:.2f} s | "
                     f"{r['own_cpu']:.2f} s | "
                     f"{r['rss_kib'] / 1024:.1f} MiB | {r['nginx_T_wall']:.2f} s, {r['nginx_T_cpu']:.2f} s, "
                     f"{r['nginx_T_rss_kib'] / 1024:.1f} MiB |")
    (ROOT / "Benchmarks" / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

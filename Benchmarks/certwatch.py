#!/usr/bin/env python3
"""What watching the certificates costs an idle cycle (`make bench`, or BENCH_ONLY=certwatch alone).

The real `run` (release build) at its own 1 s cadence against the GoCD stand-in and a private nginx, in two
set-ups: one `tls_certificate`/`tls_certificate_key` pair, and certbot's layout under `tls_certificate_dir`
(`live/<name>/fullchain.pem` and `privkey.pem`, links into `archive/`). After the first apply, strace follows
every thread of the daemon for WINDOW seconds; each file system call that names a path under the certificate
directory is counted, and divided by the idle cycles the stand-in saw in that time. The claim checked: an idle
cycle touches each certificate file with a `stat` and nothing more (no open, no read), plus, with
`tls_certificate_dir`, the lookup's `stat` of `live/<name>/fullchain.pem` per HTTPS name. Fails otherwise.
"""
import argparse
import collections
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from conftest import Nginx, Standin, TOKEN, free_port, http_get, wait_for  # noqa: E402

WINDOW = float(os.environ.get("CERTWATCH_SECONDS", "15"))
CALL = re.compile(r'^\s*\d+\s+(\d+\.\d+)\s+(\w+)\((.*)')


def certificate(d: Path, name: str, serial: int):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}", "-keyout", d / f"privkey{serial}.pem",
                    "-out", d / f"fullchain{serial}.pem"], check=True, capture_output=True)
    (d / f"privkey{serial}.pem").chmod(0o600)


def layouts(tmp: Path, name: str):
    """{label: (config lines, the directory whose paths are counted, the stats an idle cycle should make: one per
    file, and with the directory one more per name, the lookup's)}."""
    pair = tmp / "pair"
    pair.mkdir()
    certificate(pair, name, 1)
    letsencrypt = tmp / "letsencrypt"
    archive, live = letsencrypt / "archive" / name, letsencrypt / "live" / name
    archive.mkdir(parents=True)
    live.mkdir(parents=True)
    certificate(archive, name, 1)
    for f in ("fullchain", "privkey"):
        (live / f"{f}.pem").symlink_to(f"../../archive/{name}/{f}1.pem")
    return {
        "tls_certificate (one pair)": (
            f'tls_certificate = "{pair / "fullchain1.pem"}"\ntls_certificate_key = "{pair / "privkey1.pem"}"', pair, 2),
        "tls_certificate_dir (certbot live/, links)": (
            f'tls_certificate_dir = "{letsencrypt / "live"}"', letsencrypt, 3),
    }


def write_config(tmp: Path, gocd, nginx, tls_lines: str, label: str):
    cfg = tmp / f"config-{abs(hash(label))}.toml"
    cfg.write_text(f"""
[gocd]
server_url = "{gocd.base}/go"
token_file = "{tmp / 'token'}"
[proxy]
kind = "nginx"
output = "{nginx.confd / 'gocd.conf'}"
upstream = "http://127.0.0.1:{gocd.port}"
listen_address = "127.0.0.1"
{tls_lines}
test_command = {json.dumps(nginx.test_command)}
reload_command = {json.dumps(nginx.reload_command)}
[sync]
interval_seconds = 1
state_dir = "{tmp / ('state-' + str(abs(hash(label))))}"
max_backoff_seconds = 4
""")
    return cfg


def measure(binary, cfg, gocd, https_port, name, watched: Path):
    daemon = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trace = cfg.with_suffix(".strace")
    try:
        wait_for(lambda: http_get(https_port, "/go", host=name, https=True)[0] == 200, timeout=30, what="applied")
        time.sleep(3)  # the cycle after the apply records the certificate files
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-ttt", "-s", "512", "-e", "trace=%file,%desc", "-o", trace,
                                   "-p", str(daemon.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1)  # attached to every thread
        # Only the calls between the two readings of the stand-in's count are counted (strace -ttt and time.time()
        # are the same clock), so the window holds exactly the cycles it is divided by, give or take one.
        n0, t0 = gocd.snapshot()["api_requests"], time.time()
        time.sleep(WINDOW)
        n1, t1 = gocd.snapshot()["api_requests"], time.time()
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=20)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
    calls, paths = collections.Counter(), collections.Counter()
    for line in trace.read_text().splitlines():
        m = CALL.match(line)
        if m and t0 <= float(m.group(1)) <= t1 and str(watched) in m.group(3):
            calls[m.group(2)] += 1
            paths[f"{m.group(2)} {m.group(3).split(chr(34))[1].replace(str(watched), '…')}"] += 1
    cycles = max(n1 - n0, 1)
    return {"cycles": n1 - n0, "per_cycle": {k: v / cycles for k, v in sorted(calls.items())},
            "paths": {k: v / cycles for k, v in sorted(paths.items())}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", help="default: the release build, built (or brought up to date) first")
    ap.add_argument("--report", help="write the table here (make bench: Benchmarks/certwatch.md)")
    args = ap.parse_args()
    if not args.binary:
        subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        args.binary = str(ROOT / ".build/release/gocd-proxy-sync")
    name = "gocd.bench"
    failures, rows = [], []
    with tempfile.TemporaryDirectory(prefix="gps-certwatch.") as tmp:
        tmp = Path(tmp)
        (tmp / "token").write_text(TOKEN + "\n")
        (tmp / "token").chmod(0o600)
        for label, (tls_lines, watched, files) in layouts(tmp, name).items():
            http_port, https_port = free_port(), free_port()
            gocd = Standin(tmp, token=TOKEN, site_url=f"http://{name}:{http_port}",
                           secure_site_url=f"https://{name}:{https_port}")
            nginx = Nginx(tmp / f"nginx-{len(rows)}")
            nginx.start()
            try:
                result = measure(args.binary, write_config(tmp, gocd, nginx, tls_lines, label), gocd, https_port,
                                 name, watched)
            finally:
                nginx.stop()
                gocd.stop()
            per = result["per_cycle"]
            stats = sum(v for k, v in per.items() if "stat" in k)
            others = {k: v for k, v in per.items() if "stat" not in k}
            rows.append((label, result["cycles"], files, per))
            print(f"{label}: {result['cycles']} idle cycles, per cycle {per or 'nothing'}: {result['paths']}")
            if others or stats > files + 0.5:
                failures.append(f"{label}: {per}")
    table = ["| set-up | idle cycles traced | stats expected | calls naming a certificate path, per idle cycle |",
             "|---|---|---|---|"]
    for label, cycles, files, per in rows:
        calls = ", ".join(f"{k} {v:.2f}" for k, v in per.items()) or "none"
        table.append(f"| {label} | {cycles} | {files} | {calls} |")
    print("\n" + "\n".join(table))
    if args.report:
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        Path(args.report).write_text(
            f"# What watching the certificates costs an idle cycle\n\nRun by `make bench` (`Benchmarks/certwatch.py`) on "
            f"{date}, {Path(args.binary).relative_to(ROOT) if Path(args.binary).is_relative_to(ROOT) else args.binary}: "
            "strace over every thread of the running daemon (1 s cadence), counting the file system calls that name "
            "a certificate path, divided by the idle cycles in the same window. Expected: one `stat` per "
            "certificate and key file, and with `tls_certificate_dir` one more per HTTPS name (the lookup of "
            "`live/<name>/fullchain.pem`); nothing opened or read.\n\n" + "\n".join(table) + "\n")
    if failures:
        print("more than the expected stats: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

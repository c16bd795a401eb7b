#!/usr/bin/env python3
"""Which pages of the idle running daemon are resident, and why (issue 10, part 3).

Starts the GoCD stand-in, a private nginx and `gocd-proxy-sync run` at a 1 s interval (the set-up of
Benchmarks/bench.py), waits SECONDS, then reads /proc/PID/smaps and /proc/PID/pagemap (needs root for nothing
but --cold) and attributes every resident page of the executable's own mappings to its ELF section and, with a
linker map (-Xlinker -Map=FILE, gold or lld format), to the input object, hence the module (Swift runtime,
stdlib, FoundationEssentials, ArgumentParser, our targets, ...).

    python3 Benchmarks/rss_pages.py --binary .build/release/gocd-proxy-sync [--map FILE] [--seconds 60]
                                    [--cold] [--gocd-tls] [--no-tls-listener] [--json OUT]

--cold copies the binary to a fresh file and drops the page cache (echo 1 > /proc/sys/vm/drop_caches) just
before starting it, as a production install reads it: the kernel's fault-around then maps only neighbours that
read-ahead has already brought in, instead of every cached page of the 64 KiB window.
"""
import argparse
import bisect
import collections
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from conftest import Nginx, Standin, free_port, http_get, wait_for, stop  # noqa: E402

TOKEN = "bench000TOKEN1111222233334444555566667777"
PAGE = os.sysconf("SC_PAGE_SIZE")


def setup(tmp, https_port, gocd_tls, tls_listener):
    certs = tmp / "tls"
    certs.mkdir(exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", certs / "key.pem", "-out", certs / "cert.pem", "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "subjectAltName=DNS:localhost,DNS:gocd.bench"],
                   check=True, capture_output=True)
    tls = {"cert": str(certs / "cert.pem"), "key": str(certs / "key.pem"), "ca": str(certs / "cert.pem")} if gocd_tls else None
    gocd = Standin(tmp, tls=tls, token=TOKEN, site_url=f"http://gocd.bench:{free_port()}",
                   secure_site_url=f"https://gocd.bench:{https_port}" if tls_listener else "")
    nginx = Nginx(tmp)
    nginx.start()
    (tmp / "token").write_text(TOKEN + "\n")
    (tmp / "token").chmod(0o600)
    return gocd, nginx, certs


def write_config(tmp, gocd, nginx, certs, gocd_tls, tls_listener):
    cfg = tmp / "config.toml"
    ca = f'ca_file = "{certs / "cert.pem"}"\n' if gocd_tls else ""
    tls = (f'tls_certificate = "{certs / "cert.pem"}"\ntls_certificate_key = "{certs / "key.pem"}"\n'
           if tls_listener else "")
    cfg.write_text(f"""
[gocd]
server_url = "{gocd.base}/go"
token_file = "{tmp / 'token'}"
{ca}[proxy]
kind = "nginx"
output = "{nginx.confd / 'gocd.conf'}"
upstream = "http://127.0.0.1:{gocd.port}"
listen_address = "127.0.0.1"
{tls}test_command = {json.dumps(nginx.test_command)}
reload_command = {json.dumps(nginx.reload_command)}
[sync]
interval_seconds = 1
state_dir = "{tmp / 'state'}"
max_backoff_seconds = 4
""")
    return cfg


# ---------------------------------------------------------------------------------------------------- ELF, maps

def sections(binary):
    out = subprocess.run(["readelf", "-S", "-W", binary], capture_output=True, text=True, check=True).stdout
    secs = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+\S+\s+(\S*)", line)
        if m and int(m.group(3), 16) and m.group(2) != "NOBITS" or (m and m.group(1) in (".bss", ".tbss")):
            name, addr, size = m.group(1), int(m.group(3), 16), int(m.group(5), 16)
            if addr and size and name != ".tbss":
                secs.append((addr, addr + size, name))
    return sorted(secs)


def module_of(path):
    """A module name for an input file path from a linker map."""
    m = re.search(r"/([^/]+)\.build/[^/]+\.o\b", path)
    if m:
        return m.group(1)
    m = re.search(r"lib([A-Za-z_0-9]+)\.a\(([^)]+)\)", path)
    if m:
        lib, member = m.group(1), m.group(2)
        if lib == "swiftCore":
            return "stdlib (Swift)" if member.endswith(".swift.o") or member == "Swift.o" else "Swift runtime (C++)"
        return lib
    if "crt" in path or "/gcc/" in path or "libc_nonshared" in path:
        return "crt/libgcc"
    if path.startswith("<") or "**" in path or "linker" in path:
        return "(linker)"
    return Path(path.split("(")[0]).name


def parse_map(path):
    """[(start, end, module, input section, object)] from a gold or lld map file."""
    items = []
    text = Path(path).read_text(errors="replace").splitlines()
    if text and text[0].lstrip().startswith("VMA"):  # lld
        for line in text[1:]:
            m = re.match(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s{9}(\S.*)$", line)
            if not m:
                continue
            if int(m.group(1), 16) == 0:
                continue
            rest = m.group(3)
            if rest.startswith(" "):  # a symbol line (deeper indentation)
                continue
            mm = re.match(r"(.*):\((.*)\)$", rest)
            if not mm:
                continue
            start, size = int(m.group(1), 16), int(m.group(2), 16)
            if size:
                items.append((start, start + size, module_of(mm.group(1)), mm.group(2), mm.group(1)))
    else:  # gold
        pending = None
        in_memory_map = False
        out_sec = ""
        for line in text:
            if line.startswith("Memory map"):
                in_memory_map = True
                continue
            if not in_memory_map:
                continue
            m = re.match(r"^(\S+)", line)
            if m:
                out_sec = m.group(1)
                continue
            if out_sec.startswith((".debug", ".comment", ".note.GNU-stack", ".symtab", ".strtab", ".shstrtab")):
                continue
            m = re.match(r"^ (\S+)?\s*$", line)
            if m and m.group(1):
                pending = m.group(1)
                continue
            m = re.match(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
            if m:
                name = m.group(1) or pending
                start, size = int(m.group(2), 16), int(m.group(3), 16)
                if size and start:
                    items.append((start, start + size, module_of(m.group(4)), name or "?", m.group(4)))
                pending = None
    items.sort()
    return items


class Attributor:
    def __init__(self, items):
        self.items = items
        self.starts = [i[0] for i in items]

    def overlaps(self, lo, hi):
        i = max(0, bisect.bisect_right(self.starts, lo) - 1)
        # items may overlap badly only for linker-generated rows; walk forward
        while i < len(self.items) and self.items[i][0] < hi:
            s, e = self.items[i][0], self.items[i][1]
            if e > lo:
                yield self.items[i], min(e, hi) - max(s, lo)
            i += 1


# ---------------------------------------------------------------------------------------------- /proc readers

def smaps(pid):
    maps, cur = [], None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            cur = {"lo": lo, "hi": hi, "perms": parts[1], "offset": int(parts[2], 16),
                   "path": parts[5] if len(parts) > 5 else "[anon]"}
            maps.append(cur)
        elif parts and parts[0].endswith(":") and cur is not None and len(parts) >= 2 and parts[1].isdigit():
            cur[parts[0][:-1]] = int(parts[1])
    return maps


def by_mapping(maps):
    totals = collections.defaultdict(lambda: collections.Counter())
    for m in maps:
        name = m["path"].rsplit("/", 1)[-1]
        for k in ("Rss", "Private_Dirty", "Anonymous", "Shared_Clean", "Private_Clean"):
            totals[name][k] += m.get(k, 0)
    return sorted(((n, dict(c)) for n, c in totals.items()), key=lambda kv: -kv[1]["Rss"])


def resident_pages(pid, lo, hi):
    """[(vaddr, is_file_page)] for present pages in [lo, hi)."""
    out = []
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(lo // PAGE * 8)
        data = f.read((hi - lo) // PAGE * 8)
    for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
        if entry >> 63 & 1:
            out.append((lo + i * PAGE, bool(entry >> 61 & 1)))
    return out


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def attribute(pid, binary_path, secs, attributor):
    maps = smaps(pid)
    real = os.path.realpath(binary_path)
    mine = [m for m in maps if m["path"] == real]
    base = min(m["lo"] - m["offset"] for m in mine)
    # .bss past the file mapping is an anonymous mapping right after the last file mapping
    last = max(mine, key=lambda m: m["hi"])
    for m in maps:
        if m["lo"] == last["hi"] and m["path"] == "[anon]":
            mine.append(m)
    by_sec = collections.defaultdict(collections.Counter)
    by_mod = collections.defaultdict(collections.Counter)
    top_inputs = collections.Counter()
    sec_starts = [s[0] for s in secs]
    for m in mine:
        for vaddr, file_page in resident_pages(pid, m["lo"], m["hi"]):
            rel = vaddr - base
            kind = "file" if file_page else "anon"
            # sections on this page, by bytes
            i = max(0, bisect.bisect_right(sec_starts, rel) - 1)
            covered = 0
            while i < len(secs) and secs[i][0] < rel + PAGE:
                s, e, name = secs[i]
                ov = min(e, rel + PAGE) - max(s, rel)
                if ov > 0:
                    by_sec[name][kind] += ov
                    covered += ov
                i += 1
            if covered < PAGE:
                by_sec["(headers/padding)"][kind] += PAGE - covered
            if attributor:
                got = 0
                for item, ov in attributor.overlaps(rel, rel + PAGE):
                    group = ".text" if item[3].startswith(".text") else "data"
                    by_mod[(item[2], group)][kind] += ov
                    top_inputs[(item[2], item[3][:90])] += ov
                    got += ov
                if got < PAGE:
                    by_mod[("(unattributed)", "-")][kind] += PAGE - got
    return by_sec, by_mod, top_inputs


def kib(n):
    return round(n / 1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / ".build/release/gocd-proxy-sync"))
    ap.add_argument("--map")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--gocd-tls", action="store_true", help="GoCD over https (stand-in with TLS)")
    ap.add_argument("--no-tls-listener", action="store_true", help="no tls_certificate: no https listener, no cert checks")
    ap.add_argument("--json")
    ap.add_argument("--top", type=int, default=0, help="list the N input sections with most resident bytes")
    ap.add_argument("--perf", action="store_true", help="run the daemon under perf stat -e page-faults")
    ap.add_argument("--perf-record", help="record the daemon's user page faults (address, ip) into this perf.data")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gps-rss."))
    binary = a.binary
    if a.cold:
        binary = str(tmp / "gocd-proxy-sync")
        shutil.copy(a.binary, binary)
        os.sync()
    secs = sections(binary)
    attributor = Attributor(parse_map(a.map)) if a.map else None
    https_port = free_port()
    gocd, nginx, certs = setup(tmp, https_port, a.gocd_tls, not a.no_tls_listener)
    cfg = write_config(tmp, gocd, nginx, certs, a.gocd_tls, not a.no_tls_listener)
    result = {"binary": a.binary, "bytes": os.path.getsize(a.binary), "cold": a.cold, "gocd_tls": a.gocd_tls,
              "tls_listener": not a.no_tls_listener}
    daemon = None
    try:
        if a.cold:
            Path("/proc/sys/vm/drop_caches").write_text("1\n")
        n0 = gocd.snapshot()["api_requests"]
        cmd = [binary, "run", "--config", str(cfg)]
        if a.perf:
            cmd = ["perf", "stat", "-x,", "-o", str(tmp / "perf.txt"), "-e", "page-faults,minor-faults,major-faults"] + cmd
        if a.perf_record:
            cmd = ["perf", "record", "-q", "-e", "exceptions:page_fault_user", "-c", "1", "-g", "-o", a.perf_record] + cmd
        start = time.monotonic()
        daemon = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp / "stderr", "w"))
        wait_for(lambda: gocd.snapshot()["api_requests"] > n0, interval=0.002, timeout=20, what="first request")
        result["startup_ms"] = round((time.monotonic() - start) * 1000, 1)
        pid = daemon.pid
        if a.perf or a.perf_record:
            pid = int(wait_for(lambda: subprocess.run(["pgrep", "-P", str(daemon.pid)], capture_output=True,
                                                       text=True).stdout.split()[0]))
        time.sleep(max(0, a.seconds - (time.monotonic() - start)))
        result["cycles"] = gocd.snapshot()["api_requests"] - n0
        result["rss_kib"] = rss_kib(pid)
        maps = smaps(pid)
        result["by_mapping_kib"] = [(n, c["Rss"], c.get("Private_Dirty", 0)) for n, c in by_mapping(maps)[:10]]
        by_sec, by_mod, top = attribute(pid, binary, secs, attributor)
        result["binary_sections_kib"] = sorted(((n, kib(c["file"]), kib(c["anon"])) for n, c in by_sec.items()
                                                if c["file"] + c["anon"] >= 1024), key=lambda r: -(r[1] + r[2]))
        result["binary_modules_kib"] = sorted(((m, g, kib(c["file"]), kib(c["anon"])) for (m, g), c in by_mod.items()
                                               if c["file"] + c["anon"] >= 1024), key=lambda r: -(r[2] + r[3]))
        if a.top:
            result["top_inputs_kib"] = [(m, s, kib(n)) for (m, s), n in top.most_common(a.top)]
    finally:
        if daemon:
            stop(daemon, timeout=20)
        nginx.stop()
        gocd.stop()
        if a.perf and (tmp / "perf.txt").exists():
            result["perf"] = [l for l in (tmp / "perf.txt").read_text().splitlines() if l and not l.startswith("#")]
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    for k, v in result.items():
        if isinstance(v, list):
            print(f"{k}:")
            for row in v:
                print("   " + "  ".join(str(x) for x in row) if isinstance(row, (list, tuple)) else "   " + str(row))
        else:
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()

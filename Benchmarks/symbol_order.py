#!/usr/bin/env python3
"""Regenerate deploy/symbol-order.txt, the linker's symbol-ordering file for the release binary.

Why: every page of the binary that the idle daemon keeps resident was touched during start-up or a cycle, and
the kernel maps a 64 KiB fault-around window around every fault. Packing the functions that actually run next
to each other (lld --symbol-ordering-file, passed in Package.swift for Linux release builds) makes those windows
cover fewer pages of .text (Benchmarks/levers.md, "Resident memory").

How: runs the release binary's `run` under `valgrind --tool=callgrind` (complete, not sampled) in the set-up of
Benchmarks/rss_pages.py (GoCD stand-in, private nginx, 1 s interval, https listener with certificate checks),
dumps the counters after start-up and the first apply, after a few idle cycles, and after a second apply (the
stand-in's site URL changed through /_control), then stops it with SIGTERM (shut-down code is left out). The
file lists the executed functions of the binary itself (mangled, one a line): those of the idle cycles first,
hottest first, then the rest of start-up, then what only the second apply ran.

    swift build -c release --static-swift-stdlib --disable-local-rpath
    python3 Benchmarks/symbol_order.py [--binary .build/release/gocd-proxy-sync] [--out deploy/symbol-order.txt]

then rebuild the release binary (the order only changes the layout, never the code). Names that no longer exist
are ignored by the linker (--no-warn-symbol-ordering), so a stale file only costs memory, never a failed build.
Takes about a minute and needs valgrind.
"""
import argparse
import collections
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from rss_pages import setup, write_config  # noqa: E402
from conftest import free_port, wait_for, stop  # noqa: E402  (rss_pages put Tests/integration on the path)


def parse_callgrind(path, binary):
    """Self cost (Ir) per function of `binary` in one callgrind dump (--compress-strings=no)."""
    real = os.path.realpath(binary)
    cost = collections.Counter()
    ob = fn = None
    after_calls = False
    for line in open(path, errors="replace"):
        if line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("fn="):
            fn = line[3:].strip()
            cost.setdefault((ob, fn), 0)
        elif line.startswith("calls="):
            after_calls = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_calls:  # the inclusive cost of the call just named: not this function's own
                after_calls = False
                continue
            parts = line.split()
            if fn is not None and len(parts) >= 2:
                cost[(ob, fn)] += int(parts[1])
    out = collections.Counter()
    for (o, f), c in cost.items():
        if o and os.path.realpath(o) == real and not f.startswith("0x"):
            out[re.sub(r"'\d+$", "", f)] += c
    return out


def in_plain_text(objects):
    """Names defined in an input's plain `.text` section. swiftc -function-sections (and the static Swift
    libraries built with it) still put local functions (specialisations, closures, resumes) there, and packages
    built without it put everything there: listing one of those would move the whole section, up to 1.6 MB
    (libswiftCore's Swift.o), into the middle of the packed functions."""
    names = set()
    for obj in objects:
        r = subprocess.run(["objdump", "-t", obj], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            # 0000000000000000 l     F .text	0000000000000006 NAME  (flags are fixed-width columns)
            if "\t" in line and line[17:].split("\t")[0].split()[-1:] == [".text"]:
                names.add(line.rsplit(None, 1)[-1])
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / ".build/release/gocd-proxy-sync"))
    ap.add_argument("--out", default=str(ROOT / "deploy/symbol-order.txt"))
    ap.add_argument("--cycles", type=int, default=5, help="idle cycles between the dumps")
    ap.add_argument("--objects", nargs="*", help="the link's inputs, to find functions in plain .text "
                    "(default: .build/release/*.build/*.o and the static Swift libraries)")
    a = ap.parse_args()
    objects = a.objects if a.objects is not None else (
        glob.glob(str(ROOT / ".build/release/*.build/*.o"))
        + glob.glob(str(Path(os.path.realpath(shutil.which("swiftc"))).parents[1] / "lib/swift_static/linux/*.a")))

    tmp = Path(tempfile.mkdtemp(prefix="gps-order."))
    gocd, nginx, certs = setup(tmp, free_port(), False, True)
    cfg = write_config(tmp, gocd, nginx, certs, False, True)
    out = tmp / "callgrind.out"
    # valgrind 3.19 cannot read the DWARF 5 that swiftc emits: profile a copy without debug information (the
    # symbol table, which names the functions, stays)
    binary = tmp / "gocd-proxy-sync"
    subprocess.run(["objcopy", "--strip-debug", a.binary, str(binary)], check=True)
    conf = nginx.confd / "gocd.conf"
    daemon = None
    phases = []

    def requests():
        return gocd.snapshot()["api_requests"]

    def dump(label):
        n = len(glob.glob(f"{out}*"))
        subprocess.run(["callgrind_control", "--dump=" + label, str(daemon.pid)], check=True, capture_output=True)
        wait_for(lambda: len(glob.glob(f"{out}*")) > n, timeout=60, what=f"dump {label}")
        phases.append(label)

    try:
        daemon = subprocess.Popen(["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no",
                                   "--compress-pos=no", f"--callgrind-out-file={out}", "--vgdb=yes",
                                   str(binary), "run", "--config", str(cfg)],
                                  stdout=subprocess.DEVNULL, stderr=open(tmp / "stderr", "w"))
        def applied():
            if daemon.poll() is not None:
                sys.exit(f"the daemon exited under valgrind; see {tmp}/stderr")
            return conf.exists() and "gocd.bench" in conf.read_text()
        wait_for(applied, timeout=180, interval=0.2,
                 what="first apply")
        n = requests()
        wait_for(lambda: requests() > n, timeout=60, what="first idle request")
        dump("startup")
        n = requests()
        wait_for(lambda: requests() >= n + a.cycles, timeout=120, what="idle cycles")
        dump("idle")
        gocd.control(site_url=f"http://gocd2.bench:{free_port()}")
        wait_for(lambda: "gocd2.bench" in conf.read_text(), timeout=60, interval=0.2, what="second apply")
        n = requests()
        wait_for(lambda: requests() > n, timeout=60, what="request after the apply")
        dump("apply")
    finally:
        if daemon:
            stop(daemon, timeout=120)
        nginx.stop()
        gocd.stop()

    # callgrind names a dump FILE.N (N = 1, 2, ...); the final one at exit is FILE and is not used.
    files = sorted((f for f in glob.glob(f"{out}.*") if re.search(r"\.\d+$", f)), key=lambda f: int(f.rsplit(".", 1)[1]))
    if len(files) != len(phases):
        sys.exit(f"expected {len(phases)} dumps, found {files}; see {tmp}/stderr")
    costs = dict(zip(phases, (parse_callgrind(f, binary) for f in files)))
    order, seen = [], in_plain_text(objects)
    seen.add("(below main)")
    for label in ("idle", "startup", "apply"):
        for name, _ in costs[label].most_common():
            if name not in seen:
                seen.add(name)
                order.append(name)
    header = ("# lld --symbol-ordering-file for the release binary (Package.swift); generated by "
              "Benchmarks/symbol_order.py, do not edit.\n")
    Path(a.out).write_text(header + "".join(n + "\n" for n in order))
    counts = {k: len(v) for k, v in costs.items()}
    executed = set().union(*costs.values())
    print(f"{len(executed)} functions executed, {len(executed) - len(order)} of them in plain .text (left out);"
          f" {len(order)} listed ({counts}) -> {a.out}")
    subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()

"""`make demo` runs to completion non-interactively; its narrated checks fail it if the proxy misbehaves."""
import subprocess

from conftest import ROOT


def test_make_demo():
    r = subprocess.run(["make", "-s", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "FAIL" not in r.stdout
    for claim in ["GoCD sees the public host, port and scheme", "answers 301", "the log names the change",
                  "refused: the file is byte-identical", "gocd-proxy-sync exited 0"]:
        assert claim in r.stdout, claim
    leftovers = subprocess.run("ls -d /tmp/gocd-proxy-sync-demo.* 2>/dev/null", shell=True, capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "the demo leaves nothing behind"

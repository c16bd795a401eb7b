"""deploy/prometheus: the alerting rules are valid and their promtool unit tests pass (skipped without promtool,
which Debian's `prometheus` package ships)."""
import shutil
import subprocess

import pytest

from conftest import ROOT

PROMTOOL = shutil.which("promtool")
RULES = ROOT / "deploy" / "prometheus"

pytestmark = pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed (apt-get install prometheus)")


def promtool(*args):
    r = subprocess.run([PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_rules_check():
    assert "SUCCESS: 7 rules found" in promtool("check", "rules", "gocd-proxy-sync.rules.yml")


def test_rules_unit_tests():
    assert "SUCCESS" in promtool("test", "rules", "gocd-proxy-sync.rules.test.yml")

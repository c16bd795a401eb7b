"""`check` prints one line per check and exits non-zero on any failure; `status` reports the state file."""
import subprocess
import json

import pytest

from conftest import BIN, TOKEN, run, write_config


@pytest.fixture
def cfg_for(tmp_path, certs, proxy_master):
    def make(gocd, **kw):
        output = tmp_path / "conf.d" / "gocd.conf"
        output.parent.mkdir(exist_ok=True)
        # No proxy runs here, so nothing could confirm a reload: confirmation is off (test_served.py covers it).
        # Nor has it other sites: its dump (dump_command, since `true` is not the proxy's program) is empty.
        kw["extra_proxy"] = 'confirm_timeout_seconds = 0\ndump_command = ["true"]\n' + kw.get("extra_proxy", "")
        cfg, _ = write_config(tmp_path, gocd.base, output=output, test_command=["true"], reload_command=["true"],
                              certs=certs, counting=False, **kw)
        return cfg
    return make


def lines(r):
    return [l for l in r.stdout.splitlines() if l.strip()]


def test_check_all_ok(standin, cfg_for):
    gocd = standin(token=TOKEN, site_url="http://gocd.test", secure_site_url="https://gocd.test")
    r = run("check", "--config", str(cfg_for(gocd)))
    assert r.returncode == 0, r.stdout + r.stderr
    out = lines(r)
    assert all(l.startswith("ok: ") for l in out), out
    text = "\n".join(out)
    for words in ["config file", "credentials: a bearer token", "GoCD 26.1.0 reachable", "authorized for the site-URLs API",
                  "site URLs accepted", "test command found", "reload command found", "output directory",
                  "a new file is tested before it is live"]:
        assert words in text, words
    assert TOKEN not in r.stdout + r.stderr


def test_check_warns_where_a_new_file_cannot_be_tested_before_it_is_live(standin, cfg_for):
    """Without CAP_SYS_ADMIN (a container, a unit of one's own) no mount namespace: a warning, not a failure."""
    gocd = standin(token=TOKEN, site_url="http://gocd.test", secure_site_url="https://gocd.test")
    r = subprocess.run(["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", BIN, "check", "--config",
                        str(cfg_for(gocd))], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(l.startswith("warning: a new file cannot be tested before it is live here") for l in r.stdout.splitlines()), r.stdout


def test_check_security_disabled_says_remove_credentials(standin, cfg_for):
    gocd = standin(site_url="http://gocd.test")
    r = run("check", "--config", str(cfg_for(gocd)))
    assert r.returncode == 3
    assert any(l.startswith("FAIL: ") and "security is disabled" in l and "remove" in l for l in lines(r)), r.stdout


def test_check_old_gocd_and_missing_command(standin, cfg_for):
    gocd = standin(token=TOKEN, site_url="http://gocd.test")
    gocd.control(version="19.10.0")
    cfg = cfg_for(gocd)
    cfg.write_text(cfg.read_text().replace('reload_command = ["true"]', 'reload_command = ["no-such-reload-tool"]'))
    r = run("check", "--config", str(cfg))
    # The exit code is the first failing line's class (README: Exit codes): the GoCD line comes before the commands.
    assert r.returncode == 3, r.stdout
    out = lines(r)
    assert any(l.startswith("FAIL: GoCD 19.10.0 is older than 19.11") for l in out), out
    assert any(l.startswith("FAIL: reload command no-such-reload-tool not found") for l in out), out


def test_check_reports_rejected_site_url(standin, cfg_for):
    gocd = standin(token=TOKEN, site_url="http://gocd.test;x")
    r = run("check", "--config", str(cfg_for(gocd)))
    assert r.returncode == 4
    assert any(l.startswith("FAIL: site_url") and "semicolon" in l for l in lines(r)), r.stdout


def test_status_text_and_json(standin, cfg_for):
    gocd = standin(token=TOKEN, site_url="http://gocd.test", secure_site_url="https://gocd.test:8443")
    cfg = cfg_for(gocd)
    r = run("status", "--config", str(cfg))
    assert r.returncode == 0 and "no cycle recorded yet" in r.stdout
    assert run("once", "--config", str(cfg)).returncode == 0
    gocd.control(mode="starting")
    assert run("once", "--config", str(cfg)).returncode == 3
    r = run("status", "--config", str(cfg))
    assert "secure_site_url:      https://gocd.test:8443" in r.stdout
    assert "consecutive failures: 1" in r.stdout and "GoCD is starting" in r.stdout
    state = json.loads(run("status", "--config", str(cfg), "--json").stdout)
    assert state["last_applied_site_url"] == "http://gocd.test"
    assert state["consecutive_failures"] == 1 and state["last_outcome"] == "gocd_error"
    assert state["reload_owed"] is False


def test_tls_verify_false_warns_at_every_start(standin, cfg_for):
    gocd = standin(token=TOKEN, site_url="http://gocd.test")
    cfg = cfg_for(gocd, extra_gocd="tls_verify = false")
    for _ in range(2):
        r = run("once", "--config", str(cfg))
        assert r.returncode == 0
        assert "TLS verification of GoCD is OFF" in r.stderr and "WARNING" in r.stderr


def test_the_shipped_config_checks_clean_for_an_http_only_gocd(standin, tmp_path):
    """Right after installing: the example config, with only what the install steps say to set (the token, the
    commands of this test host), must pass `check` for an http-only GoCD; it once pointed at certificate files
    that do not exist (exit 2, so the postinst's `check && systemctl enable --now` stopped there)."""
    from conftest import ROOT
    gocd = standin(token=TOKEN, site_url="http://gocd.test")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    (tmp_path / "conf.d").mkdir()
    config = (ROOT / "Config" / "config.example.toml").read_text()
    for old, new in [('"http://127.0.0.1:8153/go"', f'"{gocd.base}/go"'),
                     ('"/etc/gocd-proxy-sync/token"', f'"{token}"'),
                     ('output = "/etc/nginx/conf.d/gocd.conf"', f'output = "{tmp_path}/conf.d/gocd.conf"'),
                     ('state_dir = "/var/lib/gocd-proxy-sync"', f'state_dir = "{tmp_path}/state"')]:
        assert old in config, old
        config = config.replace(old, new, 1)
    # The commands stay the defaults: this host's own nginx (Debian's package, as CI installs it) is tested and
    # dumped, as right after `dpkg -i` on a stock host.
    cfg = tmp_path / "config.toml"
    cfg.write_text(config)
    r = run("check", "--config", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(l.startswith(("ok: ", "warning: ")) for l in lines(r)), r.stdout
    assert any("site URLs accepted" in l for l in lines(r)), r.stdout

"""Each GoCD answer maps to its exit code and message; the file in place is never touched."""
import os
import pytest

from conftest import TOKEN, free_port, run, write_config


@pytest.fixture
def prepared(tmp_path, certs, proxy_master):
    output = tmp_path / "conf.d" / "gocd.conf"
    output.parent.mkdir()
    output.write_text("# the file in place\n")
    return tmp_path, output


def config_for(tmp_path, output, base, **kw):
    # No proxy runs here, so nothing could confirm a reload: confirmation is off (test_served.py covers it).
    # Nor has it other sites: its dump (dump_command, since `true` is not the proxy's program) is empty.
    kw["extra_proxy"] = 'confirm_timeout_seconds = 0\ndump_command = ["true"]\n' + kw.get("extra_proxy", "")
    cfg, _ = write_config(tmp_path, base, output=output, test_command=["true"], reload_command=["true"], **kw)
    return cfg


@pytest.mark.parametrize("mode,words", [
    ("starting", "GoCD is starting"),
    ("backup", "maintenance"),
    ("error500", "NullPointerException"),
    ("redirect", "points at a page, not the API"),
    ("garbage", "not the site-URLs JSON"),
    ("html", "not JSON"),
    ("huge", "64 KiB"),
    ("missing_field", "secure_site_url is missing"),
    ("null_field", "site_url is missing or not a string"),
])
def test_gocd_error_modes_exit_3(prepared, standin, mode, words):
    tmp, output = prepared
    gocd = standin(token=TOKEN, site_url="http://gocd.test")
    gocd.control(mode=mode)
    r = run("once", "--config", str(config_for(tmp, output, gocd.base)))
    assert r.returncode == 3, r.stderr
    assert words in r.stderr
    assert "gocd_error" in r.stderr
    assert output.read_text() == "# the file in place\n"
    assert TOKEN not in r.stderr + r.stdout


def test_wrong_token(prepared, standin):
    tmp, output = prepared
    gocd = standin(token="another-token-entirely-0000000000000000", site_url="http://gocd.test")
    r = run("once", "--config", str(config_for(tmp, output, gocd.base)))
    assert r.returncode == 3
    assert "GoCD refused the credentials (a bearer token was sent)" in r.stderr
    assert TOKEN not in r.stderr


def test_no_credentials_but_security_on(prepared, standin):
    tmp, output = prepared
    gocd = standin(token=TOKEN, site_url="http://gocd.test")
    r = run("once", "--config", str(config_for(tmp, output, gocd.base, token=None)))
    assert r.returncode == 3
    assert "needs credentials" in r.stderr


def test_security_disabled_says_remove_credentials(prepared, standin):
    tmp, output = prepared
    gocd = standin(site_url="http://gocd.test")
    r = run("once", "--config", str(config_for(tmp, output, gocd.base)))
    assert r.returncode == 3
    assert "security is disabled" in r.stderr and "remove" in r.stderr


def test_basic_auth_and_not_admin(prepared, standin):
    tmp, output = prepared
    gocd = standin(user="admin", password="s3cret-pass", site_url="http://gocd.test")
    pw = tmp / "password"
    pw.write_text("s3cret-pass\n")
    pw.chmod(0o600)
    gocd.control(admin=False)
    cfg = config_for(tmp, output, gocd.base, token=None, extra_gocd=f'username = "admin"\npassword_file = "{pw}"')
    r = run("once", "--config", str(cfg))
    assert r.returncode == 3
    assert "not a GoCD system administrator" in r.stderr
    assert "s3cret-pass" not in r.stderr + r.stdout
    pw.write_text("wrong\n")
    gocd.control(admin=True)
    r = run("once", "--config", str(cfg))
    assert r.returncode == 3 and "basic auth" in r.stderr


def test_wrong_context_path_is_404_hint(prepared, standin):
    tmp, output = prepared
    gocd = standin(site_url="http://gocd.test")
    cfg = config_for(tmp, output, gocd.base, token=None)
    cfg.write_text(cfg.read_text().replace(f'{gocd.base}/go"', f'{gocd.base}/gocd"'))
    r = run("once", "--config", str(cfg))
    assert r.returncode == 3
    assert "server_url ends in /go" in r.stderr


def test_unreachable(prepared):
    tmp, output = prepared
    r = run("once", "--config", str(config_for(tmp, output, f"http://127.0.0.1:{free_port()}")))
    assert r.returncode == 3
    assert "cannot reach GoCD" in r.stderr
    assert output.read_text() == "# the file in place\n"


def test_timeout(prepared, standin):
    tmp, output = prepared
    gocd = standin(token=TOKEN, site_url="http://gocd.test")
    gocd.control(mode="slow", slow_seconds=10)
    cfg = config_for(tmp, output, gocd.base)
    cfg.write_text(cfg.read_text().replace("timeout_seconds = 5", "timeout_seconds = 1"))
    r = run("once", "--config", str(cfg))
    assert r.returncode == 3
    assert "timed out" in r.stderr.lower() or "timeout" in r.stderr.lower()


def test_https_gocd_with_ca_file_and_tls_failure_without(prepared, standin, certs):
    tmp, output = prepared
    gocd = standin(tls=certs, token=TOKEN, site_url="http://gocd.test:18080")
    cfg = config_for(tmp, output, gocd.base, extra_gocd=f'ca_file = "{certs["ca"]}"')
    r = run("once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert output.read_text().startswith("# Managed")
    # Without the CA the certificate cannot be verified: exit 3, file kept.
    cfg2 = config_for(tmp, output, gocd.base)
    gocd.control(site_url="http://other.gocd.test")
    before = output.read_text()
    r = run("once", "--config", str(cfg2))
    assert r.returncode == 3
    assert "certificate" in r.stderr.lower()
    assert output.read_text() == before


def test_an_empty_systemd_credential_means_no_credentials(prepared, standin):
    """GoCD with security disabled under the unit: LoadCredential= fails the start when its file is missing, so the
    operator empties it instead; nothing is sent then, and the apply goes through. A non-empty one is a token."""
    tmp, output = prepared
    gocd = standin(site_url="http://gocd.test:18080")
    creds = tmp / "creds"
    creds.mkdir(mode=0o700)
    (creds / "gocd-token").write_text("\n")
    (creds / "gocd-token").chmod(0o600)
    cfg = config_for(tmp, output, gocd.base, token=None)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(creds))
    r = run("once", "--config", str(cfg), env=env)
    assert r.returncode == 0, r.stderr
    assert output.read_text().startswith("# Managed")
    (creds / "gocd-token").write_text("a-token-security-does-not-want\n")
    (creds / "gocd-token").chmod(0o600)
    gocd.control(site_url="http://other.gocd.test:18080")
    r = run("once", "--config", str(cfg), env=env)
    assert r.returncode == 3, r.stderr
    assert "security is disabled" in r.stderr and ": > /etc/gocd-proxy-sync/token" in r.stderr
    assert "a-token-security-does-not-want" not in r.stderr

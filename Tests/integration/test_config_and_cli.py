"""The command line and the config file: exit 2 for every mistake, with the file, key and reason."""
import os

import pytest

from conftest import TOKEN, run, write_config


@pytest.fixture
def cfg(tmp_path):
    output = tmp_path / "conf.d" / "gocd.conf"
    output.parent.mkdir()
    c, _ = write_config(tmp_path, "http://127.0.0.1:9", output=output, test_command=["true"], reload_command=["true"])
    return c


@pytest.mark.parametrize("edit,words", [
    (lambda t: t.replace("[sync]", "[sync]\nbogus_key = 1"), "sync.bogus_key"),
    (lambda t: t.replace("timeout_seconds = 5", 'timeout_seconds = "5"'), "gocd.timeout_seconds"),
    (lambda t: t.replace('kind = "nginx"', 'kind = "caddy"'), "proxy.kind"),
    (lambda t: t.replace('upstream = "http://127.0.0.1:9"', 'upstream = "http://127.0.0.1:9/go"'), "proxy.upstream"),
    (lambda t: "\n".join(l for l in t.splitlines() if not l.startswith("server_url")), "gocd.server_url"),
    (lambda t: t.replace('state_dir = "/', 'state_dir = "'), "sync.state_dir"),
    (lambda t: t + "\n[extra]\n", "[extra]"),
    (lambda t: t.replace('listen_address = "127.0.0.1"', 'listen_address = "0.0.0.0; evil"'), "proxy.listen_address"),
    (lambda t: t.replace('[sync]', '[sync]\ninterval_seconds = 5'), "sync.interval_seconds appears twice"),
    (lambda t: t.replace("[gocd]", "[gocd\n"), "line"),
])
def test_config_mistakes_exit_2(cfg, edit, words):
    cfg.write_text(edit(cfg.read_text()))
    r = run("once", "--config", str(cfg))
    assert r.returncode == 2, r.stderr
    assert str(cfg) in r.stderr and words in r.stderr
    assert len([l for l in r.stderr.splitlines() if l.strip()]) == 1


def test_loose_token_file_is_refused(cfg, tmp_path):
    os.chmod(tmp_path / "token", 0o644)
    r = run("once", "--config", str(cfg))
    assert r.returncode == 2
    assert "chmod 600" in r.stderr
    assert TOKEN not in r.stderr


def test_missing_config_and_env_variable(tmp_path, cfg):
    r = run("once", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "nope.toml" in r.stderr
    r = run("render", "--site-url", "http://gocd.test", env={"GOCD_PROXY_SYNC_CONFIG": str(cfg)})
    assert r.returncode == 0 and "server_name gocd.test;" in r.stdout


def test_bad_flag_is_exit_2(cfg):
    r = run("once", "--config", str(cfg), "--frobnicate")
    assert r.returncode == 2


def test_version():
    r = run("--version")
    assert r.returncode == 0 and "gocd-proxy-sync" in r.stdout and "libcurl" in r.stdout


def test_render_offline_and_rejection(cfg):
    r = run("render", "--config", str(cfg), "--site-url", "HTTP://GoCD.Example.COM.:8080/go/")
    assert r.returncode == 0, r.stderr
    assert "# Source: site_url=http://gocd.example.com:8080 secure_site_url=\"\"" in r.stdout
    r = run("render", "--config", str(cfg), "--site-url", "https://gocd.example.com")
    assert r.returncode == 4 and "tls_certificate" in r.stderr
    r = run("render", "--config", str(cfg), "--site-url", "http://a b")
    assert r.returncode == 4


def test_credentials_directory_token(cfg, tmp_path):
    text = cfg.read_text()
    cfg.write_text("\n".join(l for l in text.splitlines() if not l.startswith("token_file")))
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "gocd-token").write_text("abc\n")
    os.chmod(creds / "gocd-token", 0o400)
    r = run("once", "--config", str(cfg), "--dry-run", env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert r.returncode == 3  # nothing listens on port 9; the token was accepted as a credential
    assert "abc" not in r.stderr

"""The command line and the config file: exit 2 for every mistake, with the file, key and reason."""
import os
import random

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


def _one_line_exit_2(r, path):
    """Exit 2 and one line naming the path (on stderr; `check` reports on stdout)."""
    assert r.returncode == 2, (r.returncode, r.stderr[:2000])
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    assert len(lines) == 1, (r.stdout + r.stderr)[:2000]
    assert str(path) in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["once", "check"])
def test_config_path_is_a_directory(tmp_path, command):
    line = _one_line_exit_2(run(command, "--config", str(tmp_path), timeout=10), tmp_path)
    assert "is a directory, not a config file" in line


def test_config_path_is_a_fifo_returns_at_once(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    # Nobody ever writes: reading it would wait forever; it must be refused without opening it for long.
    line = _one_line_exit_2(run("once", "--config", str(fifo), timeout=5), fifo)
    assert "is a FIFO, not a config file" in line


def test_config_path_is_a_device(tmp_path):
    line = _one_line_exit_2(run("once", "--config", "/dev/zero", timeout=5), "/dev/zero")
    assert "is a character device, not a config file" in line


def test_config_path_is_a_symlink_loop(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    os.symlink(b, a)
    os.symlink(a, b)
    line = _one_line_exit_2(run("once", "--config", str(a), timeout=10), a)
    assert "symbolic links" in line and "loop" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_config_unreadable(cfg):
    os.chmod(cfg, 0)
    line = _one_line_exit_2(run("once", "--config", str(cfg), timeout=10), cfg)
    assert "cannot read" in line


def test_config_of_10_mib_random_bytes(tmp_path):
    big = tmp_path / "config.toml"
    big.write_bytes(random.Random(8).randbytes(10 << 20))
    line = _one_line_exit_2(run("once", "--config", str(big), timeout=10), big)
    assert "is larger than 1 MiB: not a config file" in line


@pytest.mark.parametrize("size", [1000, 200_000])
def test_config_of_random_bytes_under_the_limit(tmp_path, size):
    garbage = tmp_path / "config.toml"
    garbage.write_bytes(random.Random(size).randbytes(size))
    _one_line_exit_2(run("once", "--config", str(garbage), timeout=10), garbage)


@pytest.mark.parametrize("text,words", [
    pytest.param("v = " + "[" * 200_000 + "\n", "nested more than 64 levels", id="200000-deep"),
    ('x = 1\n[""]\n', "an empty table name is not used in this file"),
    ("gocd = 1\n[gocd]\n", "[gocd] is both a table and the key gocd at line 1"),
    ("[gocd]\r", "carriage return"),
    ("# \x1b[31m\n", "control character U+001B in a comment"),
    ('x = "\\u+0e9"\n', "exactly 4 hexadecimal digits"),
])
def test_hostile_config_text_is_one_line(tmp_path, text, words):
    c = tmp_path / "config.toml"
    c.write_text(text, newline="")
    line = _one_line_exit_2(run("once", "--config", str(c), timeout=10), c)
    assert words in line

"""Containment (issue 15): what a GoCD admin, a local user or a command can reach. Real nginx, real files."""
import os
import pwd
import socket
import threading
import time

import pytest

from conftest import TOKEN, free_port, http_get, invocations, once, proxied_setup, run, wait_for, write_config


@pytest.fixture
def setup(tmp_path, standin, nginx, certs):
    return proxied_setup(tmp_path, standin, nginx, certs, kind="nginx")


def test_a_command_that_closes_its_output_still_times_out(setup):
    s = setup
    text = s["cfg"].read_text()
    test_line = next(line for line in text.splitlines() if line.startswith("test_command"))
    s["cfg"].write_text(text.replace(test_line, 'test_command = ["sh", "-c", "exec >/dev/null 2>&1; sleep 20"]')
                        .replace("command_timeout_seconds = 20", "command_timeout_seconds = 3"))
    started = time.monotonic()
    r = once(s)
    took = time.monotonic() - started
    assert r.returncode in (5, 9), r.stderr
    assert "timed out" in r.stderr
    # Two test runs (the change, then the restored file), each killed after 3 s.
    assert took < 12, took


def test_commands_get_no_descriptors_and_no_systemd_variables(setup, tmp_path):
    s = setup
    dump = tmp_path / "dump"
    text = s["cfg"].read_text()
    test_line = next(line for line in text.splitlines() if line.startswith("test_command"))
    nginx_test = " ".join(s["nginx"].test_command)
    script = f"ls -l /proc/$$/fd > {dump}.fd; env > {dump}.env; exec {nginx_test}"
    s["cfg"].write_text(text.replace(test_line, f'test_command = ["sh", "-c", "{script}"]'))
    creds = tmp_path / "creds"
    creds.mkdir()
    r = run("once", "--config", str(s["cfg"]), env={"CREDENTIALS_DIRECTORY": str(creds),
                                                     "NOTIFY_SOCKET": str(tmp_path / "no-notify"),
                                                     "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert r.returncode == 0, r.stderr
    fds = dump.with_suffix(".fd").read_text()
    # The shell keeps a descriptor of its own (dash: 10, its saved stdout); nothing may be the daemon's:
    # no socket (the connection to GoCD, libcurl's socket pair), not the state lock.
    assert "socket:" not in fds and "lock" not in fds and "state" not in fds, fds
    assert "/dev/null" in fds.splitlines()[1] or " 0 -> /dev/null" in fds, "stdin is /dev/null"
    env = dump.with_suffix(".env").read_text()
    for name in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        assert f"{name}=" not in env
    assert "PATH=" in env


class Recorder:
    """A TCP listener that records whether anything connected (an http_proxy that must stay unused)."""
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def test_proxy_environment_variables_are_ignored(setup):
    s = setup
    recorder = Recorder()
    try:
        proxy = f"http://127.0.0.1:{recorder.port}"
        r = run("once", "--config", str(s["cfg"]), env={"http_proxy": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy,
                                                         "HTTP_PROXY": proxy, "https_proxy": proxy})
        assert r.returncode == 0, r.stderr
        assert recorder.connections == 0, "the token never went through the environment's proxy"
    finally:
        recorder.close()


def test_an_explicit_proxy_is_used(setup):
    s = setup
    recorder = Recorder()
    try:
        s["cfg"].write_text(s["cfg"].read_text().replace("[gocd]\n", f'[gocd]\nproxy = "http://127.0.0.1:{recorder.port}"\n'))
        r = once(s)
        assert r.returncode == 3, r.stderr
        assert recorder.connections >= 1
    finally:
        recorder.close()


def test_credentials_never_go_in_clear_text_to_another_host(tmp_path):
    output = tmp_path / "conf.d" / "gocd.conf"
    output.parent.mkdir()
    cfg, _ = write_config(tmp_path, "http://192.0.2.1:8153", output=output, test_command=["true"],
                          reload_command=["true"], counting=False)
    r = run("once", "--config", str(cfg))
    assert r.returncode == 2, r.stderr
    assert "clear text" in r.stderr and "allow_insecure_http" in r.stderr
    check = run("check", "--config", str(cfg))
    assert check.returncode == 2 and "FAIL" in check.stdout and "allow_insecure_http" in check.stdout
    assert TOKEN not in r.stderr + check.stdout + check.stderr


def test_a_token_file_owned_by_someone_else_is_refused(setup):
    s = setup
    token = s["tmp"] / "token"
    os.chown(token, pwd.getpwnam("nobody").pw_uid, -1)
    r = once(s)
    assert r.returncode == 2, r.stderr
    assert "owned by uid" in r.stderr and "chown root" in r.stderr


def test_allowed_server_names_and_ports_bound_what_gocd_may_claim(setup):
    s = setup
    s["cfg"].write_text(s["cfg"].read_text().replace(
        "[proxy]\n", f'[proxy]\nallowed_server_names = ["*.gocd.test", "gocd.test"]\nallowed_ports = [{s["http_port"]}, {s["https_port"]}]\n', 1))
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    s["gocd"].control(secure_site_url=f"https://intranet.example:{s['https_port']}")
    r = once(s)
    assert r.returncode == 4 and "allowed_server_names" in r.stderr, r.stderr
    s["gocd"].control(secure_site_url=f"https://new.gocd.test:{free_port()}")
    r = once(s)
    assert r.returncode == 4 and "allowed_ports" in r.stderr, r.stderr
    assert s["output"].read_bytes() == before


def add_intranet_nginx(s, port):
    (s["nginx"].confd / "intranet.conf").write_text(
        f'server {{ listen 127.0.0.1:{port}; server_name intranet.example.com; location / {{ return 200 "intranet"; }} }}\n')


def test_another_sites_name_is_not_taken_over(setup):
    s = setup
    port = free_port()
    add_intranet_nginx(s, port)
    assert once(s).returncode == 0
    wait_for(lambda: http_get(port, "/", host="intranet.example.com")[2] == "intranet", what="the intranet site")
    before = s["output"].read_bytes()
    s["gocd"].control(site_url=f"http://intranet.example.com:{port}", secure_site_url=f"https://gocd.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "intranet.example.com is already served" in r.stderr and "intranet.conf" in r.stderr
    assert s["output"].read_bytes() == before
    status, headers, body = http_get(port, "/sso/callback?code=SECRET123", host="intranet.example.com")
    assert status == 200 and body == "intranet", "the intranet site still answers for itself"


def test_another_sites_port_is_not_used_with_the_other_scheme(setup):
    s = setup
    port = free_port()
    add_intranet_nginx(s, port)
    assert once(s).returncode == 0
    s["gocd"].control(secure_site_url=f"https://gocd.test:{port}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert f"port {port} is used by another site" in r.stderr and "with http" in r.stderr
    assert http_get(port, "/", host="intranet.example.com")[2] == "intranet", "plain HTTP still works there"


def test_apache_another_sites_name_is_not_taken_over(tmp_path, standin, apache, certs):
    port = free_port()
    (apache.confd / "intranet.conf").write_text(f"""Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    ServerName intranet.example.com
    Alias / /etc/hostname
    <Location />
        Require all granted
    </Location>
</VirtualHost>
""")
    s = proxied_setup(tmp_path, standin, apache, certs, kind="apache", extra_proxy="apache_listen_ports = []")
    assert once(s).returncode == 0
    s["gocd"].control(site_url=f"http://intranet.example.com:{port}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "intranet.example.com is already served" in r.stderr and "intranet.conf" in r.stderr
    assert s["apache"].proc.poll() is None


def nobody():
    return pwd.getpwnam("nobody").pw_uid


def test_an_include_directory_others_can_write_is_refused(setup):
    s = setup
    confd = s["nginx"].confd
    os.chown(confd, nobody(), -1)
    r = once(s)
    assert r.returncode == 7, r.stderr
    assert "owned by uid" in r.stderr and str(confd) in r.stderr
    assert not s["output"].exists(), "nothing written"
    check = run("check", "--config", str(s["cfg"]))
    assert check.returncode == 2 and "FAIL: output" in check.stdout, check.stdout
    os.chown(confd, 0, -1)
    os.chmod(confd, 0o777)
    r = once(s)
    assert r.returncode == 7 and "writable by group or others" in r.stderr, r.stderr
    os.chmod(confd, 0o755)
    assert once(s).returncode == 0


def test_a_symlink_owned_by_another_user_is_not_followed(setup, tmp_path):
    s = setup
    secret = tmp_path / "root-only"
    secret.write_text("root: secret line\n")
    secret.chmod(0o600)
    os.symlink(secret, s["output"])
    os.lchown(s["output"], nobody(), -1)
    dry = once(s, "--dry-run")
    assert dry.returncode == 7, dry.stderr
    assert "secret line" not in dry.stdout + dry.stderr, "the target's lines are never printed"
    r = once(s)
    assert r.returncode == 7 and "symbolic link owned by uid" in r.stderr, r.stderr
    assert secret.read_text() == "root: secret line\n", "the target is untouched"


@pytest.mark.parametrize("special", ["fifo", "devzero"])
def test_a_special_file_at_the_output_fails_fast(setup, special):
    s = setup
    if special == "fifo":
        os.mkfifo(s["output"])
    else:
        os.symlink("/dev/zero", s["output"])
    for args in (["--dry-run"], []):
        started = time.monotonic()
        r = once(s, *args)
        assert r.returncode == 7, r.stderr
        assert time.monotonic() - started < 10, "no hang"
        assert "not a regular file" in r.stderr


def test_a_directory_at_the_temporary_name_is_skipped(setup):
    s = setup
    # The daemon's pid is unknown in advance; occupy the names of a range around the next pids.
    base = os.getpid()
    made = []
    for pid in range(base, base + 400):
        d = s["nginx"].confd / f".gocd-proxy-sync.gocd.conf.{pid}.tmp"
        d.mkdir()
        made.append(d)
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert s["output"].read_text().startswith("# Managed by gocd-proxy-sync")


def test_the_collision_check_reads_a_large_dump_and_nginx_quoting(setup):
    """A large dump is read whole; '#' inside a word and quoted braces do not hide the sites after them."""
    s = setup
    port = free_port()
    (s["nginx"].confd / "aaa-big.conf").write_text("# filler\n" * 12000)  # ~100 KiB of comments first
    (s["nginx"].confd / "intranet.conf").write_text(
        f'server {{ listen 127.0.0.1:{port}; server_name "intranet.example.com";\n'
        f'  location /app {{ rewrite ^ /#/app redirect; }}\n'
        f'  location /q {{ return 200 "{{}};#"; }} }}\n'
        f'server {{ listen 127.0.0.1:{port}; server_name wiki.example.com; }}\n')
    assert once(s).returncode == 0
    s["gocd"].control(site_url=f"http://wiki.example.com:{port}")
    r = once(s)
    assert r.returncode == 4 and "wiki.example.com is already served" in r.stderr, r.stderr
    s["gocd"].control(site_url=f"http://gocd.test:{s['http_port']}", secure_site_url=f"https://gocd.test:{port}")
    r = once(s)
    assert r.returncode == 4 and f"port {port} is used by another site" in r.stderr, r.stderr


def test_a_process_named_nginx_run_by_another_user_is_not_the_proxy(setup):
    import subprocess
    s = setup
    assert once(s).returncode == 0
    port = free_port()
    squatter = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c",
         "import ctypes, socket, time; ctypes.CDLL(None).prctl(15, b'nginx', 0, 0, 0); "
         f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); print('up', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "up"
        s["gocd"].control(secure_site_url=f"https://gocd.test:{port}")
        r = once(s)
        assert r.returncode == 4, r.stderr
        assert f"pid {squatter.pid}" in r.stderr and "not by the proxy" in r.stderr, r.stderr
    finally:
        squatter.kill()
        squatter.wait()


def test_a_token_file_behind_a_link_another_user_owns_is_refused(setup, tmp_path):
    s = setup
    secret = tmp_path / "root-secret"
    secret.write_text("root-only-secret\n")
    secret.chmod(0o600)
    link = tmp_path / "token-link"
    os.symlink(secret, link)
    os.lchown(link, nobody(), -1)
    s["cfg"].write_text(s["cfg"].read_text().replace(str(s["tmp"] / "token"), str(link)))
    r = once(s)
    assert r.returncode == 2, r.stderr
    assert "symbolic link owned by uid" in r.stderr
    assert "root-only-secret" not in r.stderr
    assert all("root-only-secret" not in (q["authorization"] or "") for q in s["gocd"].snapshot()["requests"])


def use_state_dir(s, state_dir):
    s["cfg"].write_text(s["cfg"].read_text().replace(f'state_dir = "{s["tmp"] / "state"}"', f'state_dir = "{state_dir}"'))
    assert f'state_dir = "{state_dir}"' in s["cfg"].read_text()


@pytest.mark.parametrize("made", ["missing", "existing"])
def test_a_state_dir_under_a_directory_another_user_can_change_is_refused(setup, made):
    s = setup
    parent = s["tmp"] / "user-owned"
    parent.mkdir(mode=0o755)
    state_dir = parent / "state"
    if made == "existing":
        state_dir.mkdir(mode=0o750)
    os.chown(parent, 65534, 65534)
    use_state_dir(s, state_dir)
    r = once(s)
    assert r.returncode == 7, r.stderr
    assert f"{parent} is owned by uid 65534" in r.stderr and f"chown root {parent}" in r.stderr, r.stderr
    assert not s["output"].exists(), "nothing written"
    assert made == "existing" or not state_dir.exists(), "not created under a directory another user owns"
    assert not (state_dir / "lock").exists() and not (state_dir / "state.json").exists()
    check = run("check", "--config", str(s["cfg"]))
    assert check.returncode == 2, check.stdout
    assert f"FAIL: state directory {state_dir}: {parent} is owned by uid 65534" in check.stdout, check.stdout
    # Root's again but writable by anyone (no sticky bit): still refused.
    os.chown(parent, 0, 0)
    os.chmod(parent, 0o777)
    r = once(s)
    assert r.returncode == 7 and f"{parent} is writable by group or others" in r.stderr, r.stderr
    assert "FAIL: state directory" in run("check", "--config", str(s["cfg"])).stdout
    os.chmod(parent, 0o755)
    assert once(s).returncode == 0
    assert state_dir.is_dir() and os.stat(state_dir).st_uid == 0 and os.stat(state_dir).st_mode & 0o022 == 0


def test_a_state_dir_writable_by_others_is_refused(setup):
    s = setup
    state_dir = s["tmp"] / "state"
    state_dir.mkdir()
    os.chmod(state_dir, 0o1777)  # sticky does not help: several files live in it
    r = once(s)
    assert r.returncode == 7 and f"{state_dir} is writable by group or others" in r.stderr, r.stderr
    assert f"chmod go-w {state_dir}" in r.stderr
    assert not s["output"].exists()


def test_a_link_at_the_lock_is_not_followed(setup):
    s = setup
    state_dir = s["tmp"] / "state"
    state_dir.mkdir(mode=0o750)
    target = s["tmp"] / "elsewhere"
    target.write_text("someone else's file\n")
    target.chmod(0o644)
    os.symlink(target, state_dir / "lock")
    r = once(s)
    assert r.returncode == 7, r.stderr
    assert f"refusing to open the lock {state_dir / 'lock'}: it is a symbolic link" in r.stderr, r.stderr
    assert target.read_text() == "someone else's file\n", "the target is untouched"
    assert not s["output"].exists()
    # A dangling link is not followed either: nothing is created at its target.
    os.unlink(state_dir / "lock")
    missing = s["tmp"] / "would-be-created"
    os.symlink(missing, state_dir / "lock")
    assert once(s).returncode == 7
    assert not missing.exists()


def test_a_link_at_state_json_is_replaced_not_written_through(setup):
    s = setup
    state_dir = s["tmp"] / "state"
    state_dir.mkdir(mode=0o750)
    target = s["tmp"] / "elsewhere.json"
    target.write_text("{}\n")
    target.chmod(0o644)
    before = os.stat(target)
    os.symlink(target, state_dir / "state.json")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "symbolic link" in r.stderr, "the link is reported, not read"
    state = state_dir / "state.json"
    assert not state.is_symlink() and state.is_file(), "a regular file replaced the link"
    assert os.stat(state).st_uid == 0
    assert '"last_applied_secure_site_url"' in state.read_text()
    assert target.read_text() == "{}\n" and os.stat(target).st_mtime_ns == before.st_mtime_ns, "the target is untouched"
    # A link planted at the name of the next backup's would be replaced in the same way; the backups are regular files.
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    assert once(s).returncode == 0
    backups = list((state_dir / "backups").iterdir())
    assert backups and all(b.is_file() and not b.is_symlink() for b in backups)
    assert all(os.stat(b).st_mode & 0o777 == 0o600 for b in backups)
    assert os.stat(state_dir / "backups").st_mode & 0o777 == 0o700

"""The unit file: systemd-analyze verify, install.sh into a DESTDIR, and the real thing in a booted systemd."""
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, ROOT, TOKEN, wait_for

UNIT = ROOT / "deploy" / "gocd-proxy-sync.service"


def install_into(destdir: Path):
    env = dict(os.environ, DESTDIR=str(destdir), BIN=BIN)
    return subprocess.run([str(ROOT / "deploy" / "install.sh")], env=env, capture_output=True, text=True)


def test_install_sh_into_destdir_is_idempotent(tmp_path):
    r = install_into(tmp_path)
    assert r.returncode == 0, r.stderr
    for path, mode in [("usr/bin/gocd-proxy-sync", 0o755), ("lib/systemd/system/gocd-proxy-sync.service", 0o644),
                       ("etc/gocd-proxy-sync/config.toml", 0o640)]:
        assert (tmp_path / path).exists(), path
        assert (tmp_path / path).stat().st_mode & 0o777 == mode, path
    assert (tmp_path / "lib/systemd/system/gocd-proxy-sync.service").read_bytes() == UNIT.read_bytes()
    config = tmp_path / "etc/gocd-proxy-sync/config.toml"
    config.write_text("# the operator's own config\n")
    r = install_into(tmp_path)
    assert r.returncode == 0, r.stderr
    assert config.read_text() == "# the operator's own config\n", "never overwrites an existing config"
    assert "kept existing" in r.stdout


def test_example_config_is_valid_and_complete(tmp_path):
    text = (ROOT / "Config" / "config.example.toml").read_text()
    for key in ["server_url", "token_file", "username", "password_file", "ca_file", "tls_verify", "timeout_seconds",
                "kind", "output", "upstream", "tls_certificate", "tls_certificate_key", "tls_certificate_chain",
                "listen_address", "redirect_http_to_https", "client_max_body_size", "test_command", "reload_command",
                "command_timeout_seconds", "apache_listen_ports", "interval_seconds", "state_dir", "max_backoff_seconds"]:
        assert f"{key} =" in text, key
    cfg = tmp_path / "config.toml"
    cfg.write_text(text.replace("/etc/gocd-proxy-sync/token", str(tmp_path / "token")))
    (tmp_path / "token").write_text("x\n")
    (tmp_path / "token").chmod(0o600)
    r = subprocess.run([BIN, "render", "--config", str(cfg), "--site-url", "https://gocd.example.com"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_systemd_analyze_verify(tmp_path):
    stage = tmp_path / "stage"
    assert install_into(stage).returncode == 0
    # The unit names /usr/bin/gocd-proxy-sync: lay the staged /usr/bin over the real one in a private namespace.
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        f"mount --make-rprivate / && mount -t overlay overlay -o lowerdir={stage}/usr/bin:/usr/bin /usr/bin"
                        f" && systemd-analyze verify {stage}/lib/systemd/system/gocd-proxy-sync.service"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr


def test_sandbox_exposure_stays_at_most_3():
    """`systemd-analyze security` scores the sandbox (Debian's own nginx.service scores 9.6)."""
    import re
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)], capture_output=True, text=True)
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert score, r.stdout + r.stderr
    assert float(score.group(1)) <= 3.0, r.stdout


def _set_parent_death_signal():
    """In the child, before exec: SIGTERM when the test process dies, even by SIGKILL. unshare, the script and
    systemd-nspawn all exec in this one process, and nspawn turns SIGTERM into an orderly poweroff of the
    container, so a killed test run leaves no container behind."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


_names = itertools.count()


def machine_name(prefix="gps"):
    """Unique per container, also within one pytest process (two tests must never share one)."""
    return f"{prefix}{os.getpid()}n{next(_names)}"


def _proc_status(pid):
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields


class Container:
    BOOT_TIMEOUT = 120

    def __init__(self, work: Path, stage: Path, name: str):
        self.name = name
        self.pid = None
        self.log = work.parent / f"nspawn-{name}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["unshare", "-m", str(ROOT / "Tests/systemd/boot-container.sh"), str(work), str(stage), name],
                                         stdout=log, stderr=subprocess.STDOUT, preexec_fn=_set_parent_death_signal)
        try:
            self.pid = self._wait_for_init()
            self._wait_for_boot()
        except BaseException:
            self.stop()
            raise

    def _gone(self, what):
        return AssertionError(f"{what}: systemd-nspawn exited with {self.proc.returncode}: " + self.log.read_text()[-3000:])

    def find_init(self):
        """The container's PID 1, once it runs systemd: a child of this container's own systemd-nspawn (whose pid
        is our child's, since unshare and the script exec into it) that is PID 1 of its own PID namespace and has
        exec'ed systemd. nspawn's short-lived outer child (a child of nspawn named systemd-nspawn, in the host's
        PID namespace, gone a few milliseconds later) and another container are never taken for it."""
        nspawn = str(self.proc.pid)
        if _proc_status(nspawn) is None or Path(f"/proc/{nspawn}/comm").read_text().strip() != "systemd-nspawn":
            return None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            status = _proc_status(entry.name)
            if not status or status.get("PPid") != [nspawn]:
                continue
            nspid = status.get("NSpid", [])
            if len(nspid) >= 2 and nspid[-1] == "1" and status.get("Name") == ["systemd"]:
                return int(entry.name)
        return None

    def _wait_for_init(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self._gone("the container did not boot")
            pid = self.find_init()
            if pid:
                return pid
            time.sleep(0.02)
        raise AssertionError("no systemd as PID 1 of the container within 30 s: " + self.log.read_text()[-3000:])

    def _wait_for_boot(self):
        """Until systemd says the boot is over (`is-system-running --wait` blocks until then; before its bus is up
        it answers at once), within a deadline; fails at once when the container is gone."""
        deadline = time.monotonic() + self.BOOT_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None or _proc_status(self.pid) is None:
                raise self._gone("the container stopped while booting")
            try:
                r = self.sh("systemctl is-system-running --wait", timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return
            if state in ("maintenance", "stopping"):
                break
            time.sleep(0.05)
        diagnosis = self.sh("systemctl is-system-running; systemctl list-jobs --no-pager; systemctl --failed --no-pager",
                            timeout=20)
        raise AssertionError(f"systemd did not finish booting in the container within {self.BOOT_TIMEOUT} s "
                             f"(last state {state!r}): " + diagnosis.stdout + diagnosis.stderr)

    def sh(self, command, timeout=60):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-a", "sh", "-c", command], capture_output=True,
                              text=True, timeout=timeout)

    def stop(self):
        """Power off; if it does not end within the deadline, SIGKILL its PID 1 (which ends every process of the
        container) and nspawn. Then only this container's own folders under /run/systemd/nspawn are removed:
        other containers (another test run) may be using theirs. The overlay and tmpfs were mounted only in the
        private mount namespace, which ends with its last process."""
        if self.proc.poll() is None and self.pid:
            try:
                self.sh("systemctl poweroff", timeout=10)
            except Exception:
                pass
        elif self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if self.pid and _proc_status(self.pid) is not None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait()
        # nspawn gone (killed) but its container still there: end it too.
        status = _proc_status(self.pid) if self.pid else None
        if status and status.get("NSpid", [""])[-1] == "1" and status.get("Name") == ["systemd"]:
            os.kill(self.pid, signal.SIGKILL)
        for folder in ("propagate", "unix-export"):
            shutil.rmtree(Path("/run/systemd/nspawn") / folder / self.name, ignore_errors=True)


@pytest.fixture
def container(tmp_path, certs):
    stage = tmp_path / "stage"
    r = install_into(stage)
    assert r.returncode == 0, r.stderr
    # The unit goes where an admin puts it, unchanged; the config is the example with test values.
    etc = stage / "etc"
    (etc / "systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, etc / "systemd/system/gocd-proxy-sync.service")
    config = (ROOT / "Config/config.example.toml").read_text()
    config = config.replace('timeout_seconds = 10', 'timeout_seconds = 5').replace("interval_seconds = 30", "interval_seconds = 2")
    (etc / "gocd-proxy-sync/config.toml").write_text(config)
    (etc / "gocd-proxy-sync/token").write_text(TOKEN + "\n")
    (etc / "gocd-proxy-sync/token").chmod(0o600)
    (etc / "ssl/gocd").mkdir(parents=True)
    shutil.copy(certs["cert"], etc / "ssl/gocd/fullchain.pem")
    shutil.copy(certs["key"], etc / "ssl/gocd/privkey.pem")
    (stage / "opt/gps").mkdir(parents=True)
    shutil.copy(ROOT / "Tests/standin/gocd_standin.py", stage / "opt/gps/gocd_standin.py")
    work = tmp_path / "container"
    work.mkdir()
    c = Container(work, stage, machine_name())
    try:
        yield c
    finally:
        c.stop()


def start_standin(c):
    """The GoCD stand-in inside the container, as a transient unit on port 8153."""
    r = c.sh("systemd-run --unit gocd-standin /usr/bin/python3 /opt/gps/gocd_standin.py --port 8153 "
             f"--token {TOKEN} --site-url http://gocd.test:8080 --secure-site-url https://gocd.test:8443")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: c.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8153/_control").stdout == "200",
             what="stand-in up")


def journal(c, *args):
    return c.sh("journalctl --no-pager -u gocd-proxy-sync " + " ".join(args)).stdout


def test_unit_runs_under_real_systemd(container):
    c = container
    start_standin(c)
    r = c.sh("systemctl start nginx")
    assert r.returncode == 0, r.stderr + c.sh("journalctl --no-pager -u nginx").stdout
    r = c.sh("systemctl start gocd-proxy-sync")
    assert r.returncode == 0, r.stderr + journal(c)
    show = c.sh("systemctl show -p ActiveState,StatusText gocd-proxy-sync").stdout
    assert "ActiveState=active" in show, show + journal(c)
    assert "StatusText=in sync with https://gocd.test:8443" in show, show + journal(c)
    # The managed file is in place and nginx, tested and reloaded from inside the sandbox, serves it.
    assert c.sh("head -1 /etc/nginx/conf.d/gocd.conf").stdout.startswith("# Managed by gocd-proxy-sync")
    served = c.sh("curl -sk --resolve gocd.test:8443:127.0.0.1 https://gocd.test:8443/go/pipelines")
    assert json.loads(served.stdout)["headers"]["X-Forwarded-Proto"] == "https", served.stdout + journal(c)
    redirect = c.sh("curl -s -o /dev/null -w '%{redirect_url}' --resolve gocd.test:8080:127.0.0.1 http://gocd.test:8080/go/x")
    assert redirect.stdout == "https://gocd.test:8443/go/x"
    # A site-URL change is applied and served.
    c.sh("""curl -s -XPOST -d '{"secure_site_url": "https://gocd.test:9443"}' http://127.0.0.1:8153/_control""")
    wait_for(lambda: c.sh("curl -sk -o /dev/null -w '%{http_code}' --resolve gocd.test:9443:127.0.0.1 https://gocd.test:9443/go/").stdout == "200",
             timeout=30, what="new port served")
    # journald takes the record in on its own time: wait for it rather than read once.
    wait_for(lambda: "https port 8443 → 9443" in journal(c), what="the applied record in the journal")
    # Each reload was confirmed by what nginx answered, from inside the sandbox.
    assert "confirmed_after_ms=" in journal(c) or "CONFIRMED_AFTER_MS" in journal(c, "-o", "json"), journal(c)
    assert "not_serving" not in journal(c)
    # systemctl reload re-reads the config.
    assert c.sh("systemctl reload gocd-proxy-sync").returncode == 0
    wait_for(lambda: "config_reloaded" in journal(c, "-o", "json"), what="config_reloaded")
    # A hostile site URL shows up under -p warning, and the JSON record carries the event field.
    c.sh("""curl -s -XPOST -d '{"site_url": "http://x;include /etc/shadow;"}' http://127.0.0.1:8153/_control""")
    wait_for(lambda: "site URL rejected" in journal(c, "-p", "warning"), timeout=20, what="rejected under -p warning")
    records = [json.loads(line) for line in journal(c, "-o", "json").splitlines() if line.strip()]
    assert any(r.get("EVENT") == "rejected" and r.get("PRIORITY") == "3" for r in records)
    assert any(r.get("EVENT") == "applied" for r in records)
    assert TOKEN not in journal(c, "-o", "json")
    # Nothing but the program's own records reaches the journal from its processes: no stray line (on
    # stdout/stderr, or a library's syslog) that lacks an event. The one exception is libdispatch's
    # "Failed to set thread priority … errno=13" (through syslog) where the unit's LimitNICE=-4 could not
    # take effect: systemd inside nspawn cannot raise the limit above the container's own.
    limits = c.sh("cat /proc/$(systemctl show -p MainPID --value gocd-proxy-sync)/limits").stdout
    nice_granted = re.search(r"Max nice priority\s+24\s", limits) is not None
    ours = [r for r in records if r.get("_SYSTEMD_UNIT") == "gocd-proxy-sync.service"]
    assert ours, records
    stray = [r.get("MESSAGE") for r in ours if "EVENT" not in r or r.get("_TRANSPORT") != "journal"]
    if not nice_granted:
        stray = [m for m in stray if not str(m).startswith("Failed to set thread priority for worker thread")]
    assert not stray, stray
    assert c.sh("systemctl is-active gocd-proxy-sync").stdout.strip() == "active"
    # status shows the running daemon's live figures (the tmpfs record), not only the last change.
    status = c.sh("gocd-proxy-sync status")
    assert "daemon:               running (pid" in status.stdout, status.stdout + status.stderr
    # A clean stop.
    assert c.sh("systemctl stop gocd-proxy-sync").returncode == 0
    show = c.sh("systemctl show -p ActiveState,Result gocd-proxy-sync").stdout
    assert "ActiveState=inactive" in show and "Result=success" in show, show
    wait_for(lambda: "stopping" in journal(c), what="the stopping record in the journal")
    # libdispatch renices one thread to -4; the unit's LimitNICE=-4 allows exactly that, so the journal shows no
    # "Failed to set thread priority … errno=13". systemd inside nspawn cannot raise the limit above the
    # container's own (0 here), so the journal is checked only where the limit took effect.
    assert "LimitNICE=24" in c.sh("systemctl show -p LimitNICE gocd-proxy-sync").stdout
    c.sh("systemctl start gocd-proxy-sync")
    limits = c.sh("cat /proc/$(systemctl show -p MainPID --value gocd-proxy-sync)/limits").stdout
    if re.search(r"Max nice priority\s+24\s", limits):
        c.sh("systemctl restart gocd-proxy-sync")
        since = c.sh("systemctl show -p ExecMainStartTimestamp --value gocd-proxy-sync").stdout.strip()
        assert "Failed to set thread priority" not in c.sh(f"journalctl --no-pager --since '{since}'").stdout


def test_unit_applies_apache_config_under_real_systemd(container):
    """The same sandbox lets `apachectl configtest` and `apachectl -k graceful` work on Debian's layout."""
    c = container
    config = c.sh("cat /etc/gocd-proxy-sync/config.toml").stdout
    config = config.replace('kind = "nginx"', 'kind = "apache"').replace(
        'output = "/etc/nginx/conf.d/gocd.conf"', 'output = "/etc/apache2/sites-enabled/gocd.conf"')
    c.sh("cat > /etc/gocd-proxy-sync/config.toml <<'EOF'\n" + config + "EOF")
    r = c.sh("rm -f /etc/systemd/system/apache2.service && systemctl daemon-reload && "
             "a2enmod -q proxy proxy_http proxy_wstunnel headers ssl && systemctl start apache2")
    assert r.returncode == 0, r.stdout + r.stderr + c.sh("journalctl --no-pager -u apache2").stdout
    start_standin(c)
    r = c.sh("systemctl start gocd-proxy-sync")
    assert r.returncode == 0, r.stderr + journal(c)
    wait_for(lambda: c.sh("curl -sk -o /dev/null -w '%{http_code}' --resolve gocd.test:8443:127.0.0.1 "
                          "https://gocd.test:8443/go/pipelines").stdout == "200", timeout=30,
             what="apache serving GoCD: " + journal(c))
    served = c.sh("curl -sk --resolve gocd.test:8443:127.0.0.1 https://gocd.test:8443/go/pipelines")
    headers = json.loads(served.stdout)["headers"]
    assert headers["X-Forwarded-Proto"] == "https" and headers["Host"] == "gocd.test:8443"
    redirect = c.sh("curl -s -o /dev/null -w '%{redirect_url}' --resolve gocd.test:8080:127.0.0.1 http://gocd.test:8080/go/x")
    assert redirect.stdout == "https://gocd.test:8443/go/x"
    assert "test_failed" not in journal(c, "-o", "json")
    assert c.sh("systemctl stop gocd-proxy-sync").returncode == 0

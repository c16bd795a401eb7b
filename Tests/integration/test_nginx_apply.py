"""NGINX end to end: the real binary, a real nginx, the GoCD stand-in, real files."""
import json
import os
import fcntl

import pytest

from conftest import once, proxied_setup, TOKEN, free_port, http_get, invocations, wait_for


@pytest.fixture
def setup(tmp_path, standin, nginx, certs):
    return proxied_setup(tmp_path, standin, nginx, certs, kind="nginx")


def test_first_apply_serves_both_listeners(setup):
    s = setup
    r = once(s)
    assert r.returncode == 0, r.stderr
    text = s["output"].read_text()
    assert text.startswith("# Managed by gocd-proxy-sync. Do not edit: changes are overwritten.\n")
    assert text.splitlines()[1] == f"# Source: site_url=http://gocd.test:{s['http_port']} secure_site_url=https://gocd.test:{s['https_port']}"
    assert invocations(s["counts"]) == ["test", "reload"]
    # HTTP answers 301 to the secure origin, keeping the request URI.
    status, headers, _ = wait_for(lambda: (lambda r: r if r[0] == 301 else None)(
        http_get(s["http_port"], "/go/pipelines?x=1", host=f"gocd.test:{s['http_port']}")), what="redirect")
    assert headers["location"] == f"https://gocd.test:{s['https_port']}/go/pipelines?x=1"
    # HTTPS proxies to GoCD with Host (and its port) and X-Forwarded-Proto preserved.
    status, _, body = http_get(s["https_port"], "/go/pipelines/x", host=f"gocd.test:{s['https_port']}", https=True,
                               headers={"Authorization": "Bearer agent", "X-Agent-GUID": "g-1"})
    assert status == 200
    echoed = json.loads(body)
    assert echoed["path"] == "/go/pipelines/x"
    assert echoed["headers"]["Host"] == f"gocd.test:{s['https_port']}"
    assert echoed["headers"]["X-Forwarded-Proto"] == "https"
    assert echoed["headers"]["X-Forwarded-Port"] == str(s["https_port"])
    assert echoed["headers"]["Authorization"] == "Bearer agent"
    assert echoed["headers"]["X-Agent-GUID"] == "g-1"
    assert "applied" in r.stderr and "reason=initial" in r.stderr
    assert TOKEN not in r.stderr + r.stdout


def test_second_once_touches_nothing(setup):
    s = setup
    assert once(s).returncode == 0
    before = os.stat(s["output"])
    state_before = os.stat(s["tmp"] / "state" / "state.json")
    calls = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 0, r.stderr
    after = os.stat(s["output"])
    state_after = os.stat(s["tmp"] / "state" / "state.json")
    assert (state_after.st_ino, state_after.st_mtime_ns) == (state_before.st_ino, state_before.st_mtime_ns), "nothing written"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert len(invocations(s["counts"])) == calls, "no test and no reload when nothing changed"
    # The stand-in saw the exact Accept header, the token, and never a cookie.
    snap = s["gocd"].snapshot()
    assert all(q["accept"] == "application/vnd.go.cd.v1+json" for q in snap["requests"])
    assert all(q["cookie"] is None for q in snap["requests"])
    assert all(q["authorization"] == f"Bearer {TOKEN}" for q in snap["requests"])


def test_site_url_change_is_applied_and_served(setup):
    s = setup
    assert once(s).returncode == 0
    new_port = free_port()
    s["gocd"].control(secure_site_url=f"https://new.gocd.test:{new_port}/go")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "server_name gocd.test → new.gocd.test" in r.stderr
    assert f"https port {s['https_port']} → {new_port}" in r.stderr
    status, _, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        http_get(new_port, "/go/", host=f"new.gocd.test:{new_port}", https=True)), what="new listener")
    assert json.loads(body)["headers"]["Host"] == f"new.gocd.test:{new_port}"
    # nginx's old workers may answer for a moment after the reload; the new config must win.
    wait_for(lambda: http_get(s["http_port"], "/go", host="gocd.test")[1].get("location") == f"https://new.gocd.test:{new_port}/go",
             what="redirect to the new origin")


@pytest.mark.parametrize("hostile", [
    "https://x;include /etc/shadow;",
    "http://gocd.test}\nserver{listen 1;}",
    "https://gocd.test/$request_uri",
    "https://user:pw@gocd.test",
    "https://gocd.test:99999",
    "https://gocd.test/#frag",
    "https://gocd.test/a%0a",
    "https://gocd\\.test",
])
def test_hostile_site_url_is_rejected_and_file_kept(setup, hostile):
    s = setup
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    calls = len(invocations(s["counts"]))
    s["gocd"].control(site_url=hostile)
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "rejected" in r.stderr and "site_url" in r.stderr
    assert "\n" not in r.stderr.strip(), "one line per event: the value's control characters are escaped"
    assert s["output"].read_bytes() == before
    assert len(invocations(s["counts"])) == calls
    assert wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="still served")


def test_change_nginx_rejects_never_reaches_the_live_path(setup, tmp_path):
    s = setup
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    live = os.stat(s["output"])
    # An https upstream whose CA bundle is garbage: only nginx reads that file (a bad tls_certificate is
    # refused earlier, by the pre-flight: test_served.py).
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    cfg = s["cfg"].read_text().replace('upstream = "http://', 'upstream = "https://').replace(
        "[proxy]\n", f'[proxy]\nupstream_ca_file = "{bad}"\n', 1)
    s["cfg"].write_text(cfg)
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    r = once(s)
    assert r.returncode == 5, r.stderr
    assert "test_failed" in r.stderr and "never installed" in r.stderr
    assert "bad.pem" in r.stderr, "the log carries nginx's own words"
    assert s["output"].read_bytes() == before
    after = os.stat(s["output"])
    assert (after.st_ino, after.st_mtime_ns) == (live.st_ino, live.st_mtime_ns), "the live file was never replaced"
    assert invocations(s["counts"])[-2:] == ["test", "test"], "never reloaded"
    assert wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="still served")
    assert not [p for p in s["nginx"].confd.iterdir() if p.name != "gocd.conf"], "no temp or backup in the include dir"


def test_already_broken_include_directory_is_exit_9(setup):
    s = setup
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    (s["nginx"].confd / "other.conf").write_text("this is not nginx syntax\n")
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    r = once(s)
    assert r.returncode == 9, r.stderr
    assert "proxy_broken" in r.stderr
    assert s["output"].read_bytes() == before


def test_dry_run_prints_diffs_and_writes_nothing(setup):
    s = setup
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    calls = len(invocations(s["counts"]))
    new_port = free_port()
    s["gocd"].control(secure_site_url=f"https://gocd.test:{new_port}")
    r = once(s, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"https port {s['https_port']} → {new_port}" in r.stdout
    assert f"+    listen 127.0.0.1:{new_port} ssl http2;" in r.stdout
    assert f"-    listen 127.0.0.1:{s['https_port']} ssl http2;" in r.stdout
    assert s["output"].read_bytes() == before
    assert len(invocations(s["counts"])) == calls
    assert TOKEN not in r.stdout + r.stderr


def test_hand_edit_is_drift(setup):
    s = setup
    assert once(s).returncode == 0
    good = s["output"].read_bytes()
    s["output"].write_text(s["output"].read_text().replace("proxy_read_timeout 3600s;", "proxy_read_timeout 1s;"))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "reason=drift" in r.stderr
    assert s["output"].read_bytes() == good


def test_adopts_hand_written_file_and_saves_it(setup):
    s = setup
    original = "server {\n    listen 127.0.0.1:%d;\n    server_name old.gocd.test;\n    location / { return 200; }\n}\n" % free_port()
    s["output"].write_text(original)
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "reason=adopt" in r.stderr and "backup=" in r.stderr
    backups = list((s["tmp"] / "state" / "backups").iterdir())
    assert [b.read_text() for b in backups] == [original]
    assert "server_name old.gocd.test" in r.stderr or "old.gocd.test" in r.stderr


def test_symlinked_output_keeps_the_link(setup, tmp_path):
    s = setup
    real_dir = tmp_path / "sites-available"
    real_dir.mkdir()
    target = real_dir / "gocd.conf"
    target.write_text("# placeholder\n")
    s["output"].symlink_to(target)
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert s["output"].is_symlink() and os.readlink(s["output"]) == str(target)
    assert target.read_text().startswith("# Managed by gocd-proxy-sync")
    assert not [p for p in real_dir.iterdir() if p.name != "gocd.conf"]


def test_mode_and_owner_are_kept(setup):
    s = setup
    s["output"].write_text("# hand written\n")
    os.chmod(s["output"], 0o640)
    os.chown(s["output"], 0, 4)
    assert once(s).returncode == 0
    st = os.stat(s["output"])
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, 4)


def test_reload_failure_is_exit_6_and_retried(setup):
    s = setup
    cfg = s["cfg"].read_text()
    s["cfg"].write_text(cfg.replace('"-s", "reload"]', '"-s", "reload", "--no-such-flag"]'))
    r = once(s)
    assert r.returncode == 6, r.stderr
    assert "reload_failed" in r.stderr
    assert s["output"].read_text().startswith("# Managed")
    state = json.loads((s["tmp"] / "state" / "state.json").read_text())
    assert state["reload_owed"] is True
    s["cfg"].write_text(cfg)
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert invocations(s["counts"])[-1] == "reload"
    assert json.loads((s["tmp"] / "state" / "state.json").read_text())["reload_owed"] is False
    assert wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200)


def test_lock_held_is_exit_8(setup):
    s = setup
    state = s["tmp"] / "state"
    state.mkdir(exist_ok=True)
    with open(state / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        r = once(s)
    assert r.returncode == 8, r.stderr
    assert not s["output"].exists()


def test_both_unset_keeps_file(setup):
    s = setup
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    s["gocd"].control(site_url="", secure_site_url="  ")
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "neither site_url nor secure_site_url" in r.stderr
    assert s["output"].read_bytes() == before


def test_stale_temporaries_are_removed_at_start(setup):
    s = setup
    stale = s["nginx"].confd / ".gocd-proxy-sync.gocd.conf.12345.tmp"
    stale.write_text("half")
    assert once(s).returncode == 0
    assert not stale.exists()


def test_interrupted_apply_is_finished_at_next_start(setup):
    s = setup
    assert once(s).returncode == 0
    good = s["output"].read_bytes()
    backups = s["tmp"] / "state" / "backups"
    backups.mkdir(parents=True, exist_ok=True)
    (backups / "gocd.conf.manual.bak").write_bytes(good)
    # A crash after the swap: an untested, broken file on disk and the state saying so.
    s["output"].write_text("# Managed by gocd-proxy-sync. Do not edit: changes are overwritten.\nbroken {\n")
    state_file = s["tmp"] / "state" / "state.json"
    state = json.loads(state_file.read_text())
    state["apply_in_progress"] = {"backup_path": str(backups / "gocd.conf.manual.bak"), "started_at": "2026-01-01T00:00:00Z"}
    state_file.write_text(json.dumps(state))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "interrupted" in r.stderr and "rolled_back" in r.stderr
    assert s["output"].read_bytes() == good
    assert json.loads(state_file.read_text()).get("apply_in_progress") is None


def test_websocket_upgrade_reaches_upstream(setup):
    from conftest import websocket_upgrade
    s = setup
    assert once(s).returncode == 0
    # `nginx -s reload` only signals the master: wait until the new listener is open.
    wait_for(lambda: http_get(s["https_port"], "/go", host="gocd.test", https=True)[0] == 200, what="served")
    answer = websocket_upgrade(s["https_port"], f"gocd.test:{s['https_port']}")
    assert answer.startswith("HTTP/1.1 101"), answer
    assert "X-Standin-Upgraded: yes" in answer


def test_full_disk_is_exit_7_and_keeps_previous(setup, tmp_path):
    import subprocess
    s = setup
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        output = disk / "gocd.conf"
        output.write_text("# the previous file\n")
        # Fill the file system so the new file cannot be written.
        subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=1k"], capture_output=True)
        s["cfg"].write_text(s["cfg"].read_text().replace(str(s["output"]), str(output)))
        r = once(s)
        assert r.returncode == 7, r.stderr
        assert "write_failed" in r.stderr and "No space left on device" in r.stderr and "disk is full" in r.stderr
        assert output.read_text() == "# the previous file\n"
        assert [p.name for p in disk.iterdir() if p.name.startswith(".")] == [], "no temporary file left behind"
        # The new file was tested staged (written in the state directory, on another file system), then could
        # not be written beside the output: nothing reloaded.
        assert invocations(s["counts"]) == ["test"], "tested before it is live, never reloaded"
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_missing_output_directory_is_exit_7(setup):
    s = setup
    s["cfg"].write_text(s["cfg"].read_text().replace(str(s["output"]), "/nonexistent-gocd-proxy-sync/gocd.conf"))
    r = once(s)
    assert r.returncode == 7, r.stderr
    assert "/nonexistent-gocd-proxy-sync" in r.stderr

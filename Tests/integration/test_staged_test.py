"""Tested before it is live (README): while the proxy's config test runs over a new file, the live path still
holds the previous bytes, so anyone else's reload in that window loads the previous file; the test itself sees
the new one at the live path. Real nginx and apache2, a wrapper test command that holds the test open."""
import subprocess
import time

import pytest

from conftest import (GENERATION_PATH, GENERATION_RE, BIN, free_port, http_get, invocations, proxied_setup,
                      wait_for)

# Runs as the proxy's config test (wrapped by the counting wrapper): when the test asks for it (a `hold` file),
# records what the output path holds as this test sees it, says it is testing, and waits for the test's `go`.
HOLD = """#!/bin/sh
if [ -e {dir}/hold ]; then
    if [ -e {output} ]; then cat {output} > {dir}/seen; else echo '(no file)' > {dir}/seen; fi
    touch {dir}/testing
    i=0
    while [ ! -e {dir}/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
    rm -f {dir}/hold
fi
exec "$@"
"""


def held_setup(tmp_path, standin, proxy, certs, kind):
    hold = tmp_path / "hold.sh"
    hold.write_text(HOLD.format(dir=tmp_path, output=proxy.confd / "gocd.conf"))
    hold.chmod(0o755)
    return proxied_setup(tmp_path, standin, proxy, certs, kind=kind, test_wrapper=hold)


def generation(port):
    status, _, body = http_get(port, GENERATION_PATH, host="gocd.test", https=True)
    found = GENERATION_RE.search(body.encode())
    return found.group(1).decode() if found else None


def run_held(s):
    """Starts `once` with the test held; returns the process once the test is running."""
    tmp = s["tmp"]
    (tmp / "hold").touch()
    proc = subprocess.Popen([BIN, "once", "--config", str(s["cfg"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for(lambda: (tmp / "testing").exists() or proc.poll() is not None, timeout=30, what="the config test")
    except AssertionError:
        proc.kill()
        raise
    assert proc.poll() is None, proc.communicate()
    return proc


def release(s, proc):
    (s["tmp"] / "go").touch()
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_during_the_test_the_live_path_holds_the_previous_file_and_another_reload_loads_it(
        tmp_path, standin, certs, request, kind):
    proxy = request.getfixturevalue(kind)
    s = held_setup(tmp_path, standin, proxy, certs, kind)
    assert subprocess.run([BIN, "once", "--config", str(s["cfg"])], capture_output=True).returncode == 0
    old_port = s["https_port"]
    old_generation = wait_for(lambda: generation(old_port), what="the first file served")
    before = s["output"].read_bytes()
    new_port = free_port()
    s["gocd"].control(secure_site_url=f"https://gocd.test:{new_port}")

    proc = run_held(s)
    try:
        # Outside the test: the previous bytes, untouched.
        assert s["output"].read_bytes() == before
        # Someone else's reload now (a certbot hook, logrotate): it loads the previous file.
        reload = subprocess.run(proxy.reload_command, capture_output=True, text=True)
        assert reload.returncode == 0, reload.stderr
        time.sleep(0.5)
        assert generation(old_port) == old_generation
        with pytest.raises(OSError):
            http_get(new_port, GENERATION_PATH, host="gocd.test", https=True, timeout=1)
    finally:
        code, err = release(s, proc)
    assert code == 0, err
    # The test itself saw the new file at the live path; that file is what is live now, and served.
    after = s["output"].read_bytes()
    assert after != before
    assert (tmp_path / "seen").read_bytes() == after
    assert wait_for(lambda: generation(new_port), what="the new file served") != old_generation
    assert "reload" in invocations(s["counts"])


def test_a_first_file_is_tested_before_it_exists_at_the_live_path(tmp_path, standin, certs, nginx):
    s = held_setup(tmp_path, standin, nginx, certs, "nginx")
    assert not s["output"].exists()
    proc = run_held(s)
    try:
        assert not s["output"].exists(), "nothing at the live path while the test runs"
        assert [p.name for p in nginx.confd.iterdir()] == [], "nor anything else in the include directory"
    finally:
        code, err = release(s, proc)
    assert code == 0, err
    assert (tmp_path / "seen").read_bytes() == s["output"].read_bytes(), "the test saw the new file"
    assert wait_for(lambda: generation(s["https_port"]), what="served")


def test_a_file_that_fails_the_test_never_reaches_the_live_path(tmp_path, standin, certs, nginx):
    s = held_setup(tmp_path, standin, nginx, certs, "nginx")
    assert subprocess.run([BIN, "once", "--config", str(s["cfg"])], capture_output=True).returncode == 0
    before = s["output"].read_bytes()
    earlier = len(invocations(s["counts"]))
    # A missing upstream CA bundle: only nginx's test finds it.
    cfg = s["cfg"].read_text().replace('upstream = "http://', 'upstream = "https://').replace(
        "[proxy]\n", f'[proxy]\nupstream_ca_file = "{tmp_path / "missing-ca.pem"}"\n', 1)
    s["cfg"].write_text(cfg)
    s["gocd"].control(secure_site_url=f"https://gocd.test:{free_port()}")
    proc = run_held(s)
    try:
        assert s["output"].read_bytes() == before
    finally:
        code, err = release(s, proc)
    assert code == 5, err
    assert "missing-ca.pem" in err and "never installed" in err
    assert b"missing-ca.pem" in (tmp_path / "seen").read_bytes(), "the test ran over the new file"
    assert s["output"].read_bytes() == before
    assert "reload" not in invocations(s["counts"])[earlier:], "never reloaded"


def test_without_a_mount_namespace_the_file_is_tested_at_the_live_path_with_a_warning(tmp_path, standin, certs, nginx):
    """A container without CAP_SYS_ADMIN: the staged test cannot be made; the apply still works the way of
    section 5 (tested at the live path, put back on failure), and the log says why once."""
    s = proxied_setup(tmp_path, standin, nginx, certs, kind="nginx")
    r = subprocess.run(["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", BIN, "once", "--config",
                        str(s["cfg"])], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("cannot be tested before it is live here") == 1, r.stderr
    assert "unshare" in r.stderr, "the reason names what failed"
    assert wait_for(lambda: generation(s["https_port"]), what="served")

"""SPEC 5d, a renewed certificate is served (issue 25): a certificate and key replaced in place, the way certbot swaps
the links in live/, is noticed by the next cycle, tested, reloaded and confirmed by the leaf the proxy presents, on a
real nginx and a real httpd."""
import json
import os
import shutil

import pytest

from conftest import invocations, once, proxied_setup, wait_for
from test_served import leaf_of, make_cert, presented_leaf


def live_layout(tmp_path, cert, key, generation):
    """certbot's layout: archive/fullchainN.pem + privkeyN.pem, and live/ links to them, swapped with os.replace."""
    archive, live = tmp_path / "archive", tmp_path / "live"
    archive.mkdir(exist_ok=True)
    live.mkdir(exist_ok=True)
    for source, name in ((cert, "fullchain"), (key, "privkey")):
        target = archive / f"{name}{generation}.pem"
        shutil.copyfile(source, target)
        link = live / f".{name}.new"
        os.symlink(os.path.relpath(target, live), link)
        os.replace(link, live / f"{name}.pem")
    return live / "fullchain.pem", live / "privkey.pem"


def replace_file(path, source):
    """A renewal by a tool that writes a new file and renames it over the old one (new inode)."""
    temporary = path.with_name(path.name + ".new")
    shutil.copyfile(source, temporary)
    os.replace(temporary, path)


def setup(kind, request, tmp_path, standin, certs, how):
    proxy = request.getfixturevalue(kind)
    s = proxied_setup(tmp_path, standin, proxy, certs, kind=kind,
                      extra_proxy="apache_listen_ports = []" if kind == "apache" else "")
    if how == "link":
        cert, key = live_layout(tmp_path, certs["cert"], certs["key"], 1)
    else:
        plain = tmp_path / "plain"
        plain.mkdir()
        cert, key = plain / "fullchain.pem", plain / "privkey.pem"
        shutil.copyfile(certs["cert"], cert)
        shutil.copyfile(certs["key"], key)
    s["cfg"].write_text(s["cfg"].read_text().replace(certs["cert"], str(cert)).replace(certs["key"], str(key)))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: presented_leaf(s["https_port"], "gocd.test") == leaf_of(str(cert)), what="served")
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert set(state["certificate_files"]) == {str(cert), str(key)}, state
    return s, cert, key


def renew(tmp_path, how, cert, key, new_cert, new_key):
    if how == "link":
        live_layout(tmp_path, new_cert, new_key, 2)
    else:
        replace_file(key, new_key)
        replace_file(cert, new_cert)


@pytest.mark.parametrize("how", ["link", "file"])
@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_renewed_certificate_and_key_are_served_without_a_change_in_gocd(kind, how, request, tmp_path, standin, certs):
    s, cert, key = setup(kind, request, tmp_path, standin, certs, how)
    old_leaf = leaf_of(str(cert))
    new_cert, new_key = make_cert(certs, f"renewal-{kind}-{how}", "DNS:localhost,IP:127.0.0.1,DNS:gocd.test")
    renew(tmp_path, how, cert, key, new_cert, new_key)
    assert leaf_of(str(cert)) != old_leaf
    reloads = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "certificate_renewed" in r.stderr and "reason=certificate" in r.stderr, r.stderr
    # nginx's workers of the previous configuration may accept for a moment after the reload.
    assert wait_for(lambda: presented_leaf(s["https_port"], "gocd.test") == leaf_of(new_cert), timeout=10, what="the new leaf is presented")
    assert len(invocations(s["counts"])) > reloads
    reloads = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "applied" not in r.stderr and "certificate_renewed" not in r.stderr, r.stderr
    assert len(invocations(s["counts"])) == reloads, "unchanged: no test, no reload"


def test_a_renewed_certificate_that_no_longer_covers_the_name_is_refused(request, tmp_path, standin, certs):
    s, cert, key = setup("nginx", request, tmp_path, standin, certs, "link")
    old_leaf = leaf_of(str(cert))
    narrow, narrow_key = make_cert(certs, "renewal-narrow", "DNS:localhost,IP:127.0.0.1,DNS:other.test")
    renew(tmp_path, "link", cert, key, narrow, narrow_key)
    reloads = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert "does not cover gocd.test" in r.stderr, r.stderr
    assert len(invocations(s["counts"])) == reloads, "neither tested nor reloaded"
    assert presented_leaf(s["https_port"], "gocd.test") == old_leaf, "the previous certificate keeps serving"


def test_a_state_file_without_the_record_records_it_and_applies_nothing(request, tmp_path, standin, certs):
    s, cert, key = setup("nginx", request, tmp_path, standin, certs, "link")
    path = tmp_path / "state" / "state.json"
    state = json.loads(path.read_text())
    del state["certificate_files"]
    path.write_text(json.dumps(state))
    reloads = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "applied" not in r.stderr, r.stderr
    assert set(json.loads(path.read_text())["certificate_files"]) == {str(cert), str(key)}
    assert len(invocations(s["counts"])) == reloads


def test_a_renewal_while_run_runs_is_served_without_a_restart(request, tmp_path, standin, certs):
    import subprocess
    from conftest import BIN
    s, cert, key = setup("nginx", request, tmp_path, standin, certs, "link")
    daemon = subprocess.Popen([BIN, "run", "--config", str(s["cfg"])], stderr=subprocess.PIPE, text=True)
    try:
        new_cert, new_key = make_cert(certs, "renewal-run", "DNS:localhost,IP:127.0.0.1,DNS:gocd.test")
        renew(tmp_path, "link", cert, key, new_cert, new_key)
        assert wait_for(lambda: presented_leaf(s["https_port"], "gocd.test") == leaf_of(new_cert), timeout=20,
                        what="the renewed leaf presented")
        state = tmp_path / "state" / "state.json"
        wait_for(lambda: "certificate_files" in state.read_text() and
                 json.loads(state.read_text())["certificate_files"][str(cert)].split(":")[1] ==
                 str(os.stat(cert).st_ino), timeout=20, what="the new identity recorded")
        assert daemon.poll() is None
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=20)
    assert "certificate_renewed" in err and "reason=certificate" in err, err
    assert err.count("certificate_renewed") == 1, err

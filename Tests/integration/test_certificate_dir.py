"""SPEC 5d, a directory of certificates (issue 25): with tls_certificate_dir each HTTPS name is served from
DIR/<name>/fullchain.pem + privkey.pem (certbot's live/ layout), else from any DIR/*/fullchain.pem that covers it;
each listener presents its own leaf, on a real nginx and a real httpd."""
import os
import re
import shutil

import pytest

from conftest import http_get, invocations, once, proxied_setup, run, wait_for
from test_served import leaf_of, make_cert, presented_leaf


def put(directory, cert, key):
    directory.mkdir(parents=True, exist_ok=True)
    for source, name in ((cert, "fullchain.pem"), (key, "privkey.pem")):
        temporary = directory / f".{name}.new"
        shutil.copyfile(source, temporary)
        os.replace(temporary, directory / name)


def with_directory(s, live):
    text = re.sub(r'tls_certificate = ".*"\ntls_certificate_key = ".*"\n', f'tls_certificate_dir = "{live}"\n',
                  s["cfg"].read_text())
    assert "tls_certificate_dir" in text
    s["cfg"].write_text(text)


@pytest.fixture(params=["nginx", "apache"])
def two_names(request, tmp_path, standin, certs):
    """a.test served from live/a.test/, gocd.b.test from live/wild/ (a *.b.test certificate), both HTTPS."""
    kind = request.param
    proxy = request.getfixturevalue(kind)
    s = proxied_setup(tmp_path, standin, proxy, certs, kind=kind,
                      extra_proxy="apache_listen_ports = []" if kind == "apache" else "")
    live = tmp_path / "live"
    put(live / "a.test", *make_cert(certs, f"dir-a-{kind}", "DNS:a.test"))
    put(live / "wild", *make_cert(certs, f"dir-wild-{kind}", "DNS:*.b.test"))
    with_directory(s, live)
    s["gocd"].control(site_url=f"https://a.test:{s['http_port']}",
                      secure_site_url=f"https://gocd.b.test:{s['https_port']}")
    s["live"] = live
    return s


def test_each_listener_presents_its_own_certificate(two_names):
    s, live = two_names, two_names["live"]
    r = once(s)
    assert r.returncode == 0, r.stderr
    text = s["output"].read_text()
    assert f"{live}/a.test/fullchain.pem" in text and f"{live}/wild/fullchain.pem" in text, text
    assert f"{live}/a.test/privkey.pem" in text and f"{live}/wild/privkey.pem" in text, text
    assert presented_leaf(s["http_port"], "a.test") == leaf_of(str(live / "a.test" / "fullchain.pem"))
    assert presented_leaf(s["https_port"], "gocd.b.test") == leaf_of(str(live / "wild" / "fullchain.pem"))
    reloads = len(invocations(s["counts"]))
    r = once(s)
    assert r.returncode == 0 and "applied" not in r.stderr, r.stderr
    assert len(invocations(s["counts"])) == reloads


def test_a_renewal_of_one_pair_is_served(two_names, certs):
    s, live = two_names, two_names["live"]
    assert once(s).returncode == 0
    kind = "nginx" if "nginx" in s else "apache"
    put(live / "wild", *make_cert(certs, f"dir-wild-renewed-{kind}", "DNS:*.b.test"))
    r = once(s)
    assert r.returncode == 0, r.stderr
    assert "certificate_renewed" in r.stderr and f"{live}/wild/fullchain.pem" in r.stderr, r.stderr
    # nginx's workers of the previous configuration may accept for a moment after the reload.
    assert wait_for(lambda: presented_leaf(s["https_port"], "gocd.b.test") == leaf_of(str(live / "wild" / "fullchain.pem")), timeout=10, what="the new leaf presented")
    # nginx's workers of the previous configuration may accept for a moment after the reload.
    assert wait_for(lambda: presented_leaf(s["http_port"], "a.test") == leaf_of(str(live / "a.test" / "fullchain.pem")), timeout=10, what="the new leaf presented")
    r = once(s)
    assert r.returncode == 0 and "certificate_renewed" not in r.stderr, r.stderr


def test_a_name_without_a_certificate_is_refused_naming_the_directory(two_names):
    s, live = two_names, two_names["live"]
    assert once(s).returncode == 0
    before = s["output"].read_bytes()
    s["gocd"].control(secure_site_url=f"https://c.test:{s['https_port']}")
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert f"no certificate in tls_certificate_dir {live} covers c.test" in r.stderr, r.stderr
    assert s["output"].read_bytes() == before
    # certbot makes live/c.test/: the next cycle serves it, no restart, no change in GoCD.
    kind = "nginx" if "nginx" in s else "apache"
    put(live / "c.test", *make_cert(two_names["certs"], f"dir-c-{kind}", "DNS:c.test"))
    r = once(s)
    assert r.returncode == 0, r.stderr
    # nginx's workers of the previous configuration may accept for a moment after the reload.
    assert wait_for(lambda: presented_leaf(s["https_port"], "c.test") == leaf_of(str(live / "c.test" / "fullchain.pem")), timeout=10, what="the new leaf presented")


def test_a_certificate_in_the_name_s_directory_that_does_not_cover_it_is_refused(two_names, certs):
    s, live = two_names, two_names["live"]
    put(live / "gocd.b.test", *make_cert(certs, "dir-wrong-b", "DNS:other.test"))
    r = once(s)
    assert r.returncode == 4, r.stderr
    assert f"{live}/gocd.b.test/fullchain.pem does not cover gocd.b.test" in r.stderr, r.stderr


def test_tls_certificate_and_the_directory_together_are_exit_2(tmp_path, standin, nginx, certs):
    s = proxied_setup(tmp_path, standin, nginx, certs, kind="nginx", extra_proxy=f'tls_certificate_dir = "{tmp_path}"')
    r = once(s)
    assert r.returncode == 2, r.stderr
    assert "tls_certificate_dir" in r.stderr and "tls_certificate/tls_certificate_key" in r.stderr, r.stderr


def test_render_and_check_find_the_pairs_too(two_names):
    s, live = two_names, two_names["live"]
    r = run("render", "--config", str(s["cfg"]))
    assert r.returncode == 0, r.stderr
    assert f"{live}/a.test/fullchain.pem" in r.stdout and f"{live}/wild/fullchain.pem" in r.stdout, r.stdout
    s["gocd"].control(secure_site_url=f"https://c.test:{s['https_port']}")
    r = run("render", "--config", str(s["cfg"]))
    assert f"no certificate in tls_certificate_dir {live} covers c.test" in r.stderr, r.stderr
    r = run("check", "--config", str(s["cfg"]))
    assert f"ok: certificate {live}/a.test/fullchain.pem covers a.test" in r.stdout, r.stdout
    assert f"ok: key {live}/wild/privkey.pem belongs to the certificate" in r.stdout, r.stdout
    assert f"no certificate in tls_certificate_dir {live} covers c.test" in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_certificate_directory_others_can_write_is_exit_7(two_names):
    """Whoever can add an entry to the directory chooses the key the GoCD site is served with (a DIR/<any>/ whose
    certificate covers a name is taken when DIR/<name>/ is missing): it must be root's, writable by root only."""
    s, live = two_names, two_names["live"]
    live.chmod(0o777)
    r = once(s)
    assert r.returncode == 7, r.stderr
    assert f"tls_certificate_dir {live}" in r.stderr and "writable by group or others" in r.stderr, r.stderr
    assert not s["output"].exists()
    r = run("check", "--config", str(s["cfg"]))
    assert f"FAIL: tls_certificate_dir {live}:" in r.stdout, r.stdout
    live.chmod(0o755)
    assert once(s).returncode == 0
    r = run("check", "--config", str(s["cfg"]))
    assert f"ok: tls_certificate_dir {live}: only root can add or change certificates there" in r.stdout, r.stdout


@pytest.fixture(params=["nginx", "apache"])
def renamed(request, tmp_path, standin, certs):
    """One HTTPS name from tls_certificate_dir, keep_previous_names_hours = 1: returns a function that renames the
    site from `old` to `new` (each served from the directory given) and returns the second `once`."""
    kind = request.param
    proxy = request.getfixturevalue(kind)
    s = proxied_setup(tmp_path, standin, proxy, certs, kind=kind,
                      extra_proxy=("apache_listen_ports = []\n" if kind == "apache" else "") + "keep_previous_names_hours = 1")
    live = tmp_path / "live"
    with_directory(s, live)

    def rename(old, new, entries):
        for entry, sans in entries.items():
            put(live / entry, *make_cert(certs, f"kept-{entry}-{kind}", sans))
        s["gocd"].control(site_url=f"http://{old}:{s['http_port']}", secure_site_url=f"https://{old}:{s['https_port']}")
        r = once(s)
        assert r.returncode == 0, r.stderr
        s["gocd"].control(site_url=f"http://{new}:{s['http_port']}", secure_site_url=f"https://{new}:{s['https_port']}")
        return once(s)
    s["rename"] = rename
    return s


def test_a_renamed_name_the_directory_s_certificate_covers_is_kept(renamed):
    """keep_previous_names_hours with tls_certificate_dir: the old name stays while the certificate the listener
    is served with (here a wildcard in live/wild/) covers it."""
    s = renamed
    r = s["rename"]("gocd.b.test", "new.b.test", {"wild": "DNS:*.b.test"})
    assert r.returncode == 0, r.stderr
    assert "kept_names=" in r.stderr and "gocd.b.test until" in r.stderr, r.stderr
    text = s["output"].read_text()
    assert "gocd.b.test" in text and "new.b.test" in text, text
    status, _, _ = wait_for(lambda: (lambda a: a if a[0] == 200 else None)(
        http_get(s["https_port"], "/go/pipelines", host=f"gocd.b.test:{s['https_port']}", https=True)),
        what="the old name still served")
    assert status == 200


def test_a_renamed_name_the_new_certificate_does_not_cover_is_dropped_with_a_warning(renamed):
    s = renamed
    r = s["rename"]("a.test", "c.test", {"a.test": "DNS:a.test", "c.test": "DNS:c.test"})
    assert r.returncode == 0, r.stderr
    assert "a.test is no longer kept after the rename: the certificate" in r.stderr and "does not cover it" in r.stderr
    assert "a.test" not in s["output"].read_text().replace("c.test", "")

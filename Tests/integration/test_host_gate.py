"""SPEC 4, the host gate: a site URL whose host is a number in disguise or a non-canonical IPv6 address is refused
(exit 4, a `rejected` line naming the field, the value and the reason), nothing is written, and no request goes to
the address it encodes, even with a running nginx, confirmation on and the port check off (so neither can hide
the gate)."""
import socket
import threading

import pytest

from conftest import invocations, once, proxied_setup


class CountingListener:
    """TCP listeners on 127.0.0.1:PORT and, where the host has IPv6, [::1]:PORT (the addresses the refused names
    encode) that count the connections they accept and close each at once."""

    def __init__(self):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        self.port = first.getsockname()[1]
        self.socks = [first]
        try:
            six = socket.socket(socket.AF_INET6)
            six.bind(("::1", self.port))
            self.socks.append(six)
        except OSError:
            pass
        self.connections = 0
        self.running = True
        self.threads = []
        for sock in self.socks:
            sock.listen(64)
            sock.settimeout(0.2)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, sock):
        while self.running:
            try:
                conn, _ = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.socks:
            sock.close()


@pytest.fixture
def listener():
    counting = CountingListener()
    yield counting
    counting.close()


@pytest.mark.parametrize("host,reason", [
    ("0x7f000001", "browsers and libcurl read it as the IPv4 address 127.0.0.1: write it as 127.0.0.1"),
    ("[0:0:0:0:0:0:0:1]", "not in its canonical form (RFC 5952): write it as [::1]"),
])
def test_a_host_clients_read_otherwise_is_refused_and_never_probed(tmp_path, standin, nginx, certs, listener, host,
                                                                   reason):
    # A running nginx, confirmation on, the port check off: without the gate the file would be written, nginx
    # reloaded and the probe sent to the address the name encodes, here the counting listener.
    s = proxied_setup(tmp_path, standin, nginx, certs, extra_proxy="confirm_timeout_seconds = 3\ncheck_ports = false\n")
    site_url = f"http://{host}:{listener.port}"
    s["gocd"].control(site_url=site_url, secure_site_url="")
    before = sorted(p.name for p in nginx.confd.iterdir())
    r = once(s)
    assert listener.connections == 0, f"{listener.connections} connection(s) reached port {listener.port}"
    assert r.returncode == 4, r.stderr
    rejected = [line for line in r.stderr.splitlines() if "rejected" in line]
    assert rejected, r.stderr
    assert "site_url" in rejected[0] and site_url in rejected[0] and reason in rejected[0], rejected[0]
    assert not s["output"].exists()
    assert sorted(p.name for p in nginx.confd.iterdir()) == before
    assert invocations(s["counts"]) == [], "neither the config test nor the reload ran"
    assert nginx.proc.poll() is None

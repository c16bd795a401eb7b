#!/usr/bin/env python3
"""`make tls-scan`: a real TLS scanner (sslyze, Mozilla's server-side TLS checker) over the GoCD site as each
proxy serves it, with each `tls_profile`, behind the TLS settings Debian ships in the main configuration
(nginx.conf: ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; Apache's ssl.conf: SSLProtocol all -SSLv3,
SSLCipherSuite HIGH:!aNULL). `inherit` writes nothing, so its row is what a host had before the profiles.

Each site is applied by the real daemon (`once`), on a private nginx and a private httpd on loopback, with a
test CA's leaf. sslyze checks the site against the profile it should hold (intermediate for inherit and
intermediate, modern for modern). Exits 1 when a site that writes a profile fails that profile's check; writes
the verdicts as a Markdown table to --report (default: stdout only).

Usage: scan.py --sslyze PATH-TO-PYTHON-WITH-SSLYZE [--report FILE]
"""
import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import (Apache, Nginx, Standin, TOKEN, free_port, http_get, run, wait_for,  # noqa: E402
                      write_config)

# The TLS lines of Debian 12's stock main configurations (the rest of those files is not about TLS).
DEBIAN_MAIN = {
    "nginx": "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\nssl_prefer_server_ciphers on;\n",
    "apache": "SSLProtocol all -SSLv3\nSSLCipherSuite HIGH:!aNULL\nSSLSessionTickets off\n",
}
CHECKED_AGAINST = {"inherit": "intermediate", "intermediate": "intermediate", "modern": "modern"}


def make_certs(d: Path):
    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "60", "-subj", "/CN=tls-scan CA",
         "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=gocd.test", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:gocd.test\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "60",
         "-out", "server.pem", "-extfile", "ext.cnf")
    # Mozilla's modern profile also asks for an ECDSA certificate signed with ECDSA: the modern rows are served
    # with this one, from a CA of its own.
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ossl("req", "-x509", *ec, "-days", "60", "-subj", "/CN=tls-scan ECDSA CA", "-keyout", "ca-ec.key",
         "-out", "ca-ec.pem", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", *ec, "-subj", "/CN=gocd.test", "-keyout", "ecdsa.key", "-out", "ecdsa.csr")
    ossl("x509", "-req", "-in", "ecdsa.csr", "-CA", "ca-ec.pem", "-CAkey", "ca-ec.key", "-CAcreateserial",
         "-days", "60", "-sha256", "-out", "ecdsa.pem", "-extfile", "ext.cnf")
    for key in ("server.key", "ecdsa.key"):
        (d / key).chmod(0o600)
    (d / "cas.pem").write_text((d / "ca.pem").read_text() + (d / "ca-ec.pem").read_text())
    return {"ca": str(d / "cas.pem"), "rsa": {"cert": str(d / "server.pem"), "key": str(d / "server.key")},
            "ecdsa": {"cert": str(d / "ecdsa.pem"), "key": str(d / "ecdsa.key")}}


def serve(kind, profile, tmp: Path, certs):
    """The daemon applies the site with `profile` on a private proxy; returns (proxy, standin, https_port)."""
    proxy = Nginx(tmp) if kind == "nginx" else Apache(tmp)
    main = proxy.confd / "00-debian-main-tls.conf"
    main.write_text(DEBIAN_MAIN[kind])
    http_port, https_port = free_port(), free_port()
    gocd = Standin(tmp, token=TOKEN, site_url=f"http://gocd.test:{http_port}",
                   secure_site_url=f"https://gocd.test:{https_port}")
    extra = ("apache_listen_ports = []\n" if kind == "apache" else "") + f'tls_profile = "{profile}"'
    cfg, _ = write_config(tmp, gocd.base, kind=kind, output=proxy.confd / "gocd.conf",
                          test_command=proxy.test_command, reload_command=proxy.reload_command,
                          certs=certs["ecdsa" if profile == "modern" else "rsa"],
                          extra_proxy=extra)
    proxy.start()
    r = run("once", "--config", str(cfg))
    if r.returncode != 0:
        raise SystemExit(f"{kind}/{profile}: once exited {r.returncode}: {r.stderr}")
    wait_for(lambda: http_get(https_port, "/go", host="gocd.test", https=True)[0] == 200, what="site served")
    return proxy, gocd, https_port


def brief(problem):
    """sslyze lists every suite it would reject; the report counts them and names their kinds."""
    if problem.startswith("ciphers: Cipher suites {"):
        suites = problem.split("{", 1)[1].split("}", 1)[0].replace("'", "").split(", ")
        kinds = sorted({k for s in suites for k in ("CBC", "CCM", "ARIA", "CAMELLIA") if k in s}
                       | ({"RSA key exchange"} if any(s.startswith("TLS_RSA_") for s in suites) else set()))
        return f"{len(suites)} cipher suites that should be rejected ({', '.join(kinds)})"
    # Sets in sorted order, so that the report reads the same each run.
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", problem).rstrip(".")


def scan(sslyze_python, port, against, ca, out: Path):
    """sslyze's Mozilla check of gocd.test on 127.0.0.1:port (the test CA trusted, so that only the TLS settings
    are judged); returns (compliant, the problems it lists, its compliance section)."""
    r = subprocess.run([sslyze_python, "-W", "ignore", "-m", "sslyze", f"--mozilla_config={against}",
                        f"--certinfo_ca_file={ca}", f"--json_out={out}", f"gocd.test:{port}{{127.0.0.1}}"],
                       capture_output=True, text=True, timeout=300)
    marker = "COMPLIANCE AGAINST"
    if marker not in r.stdout:
        raise SystemExit(f"sslyze did not check compliance (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    section = r.stdout.split(marker, 1)[1].split("\n", 2)[2]
    problems = [brief(line.strip()[2:]) for line in section.splitlines() if line.strip().startswith("* ")]
    compliant = "FAILED" not in section and "OK - Compliant" in section
    return compliant, problems, section.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sslyze", required=True, help="a Python with sslyze installed")
    ap.add_argument("--report")
    args = ap.parse_args()
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="tls-scan-") as top:
        top = Path(top)
        certs = make_certs(top)
        for kind in ("nginx", "apache"):
            for profile in ("inherit", "intermediate", "modern"):
                tmp = top / f"{kind}-{profile}"
                tmp.mkdir()
                proxy, gocd, port = serve(kind, profile, tmp, certs)
                try:
                    against = CHECKED_AGAINST[profile]
                    compliant, problems, section = scan(args.sslyze, port, against, certs["ca"], tmp / "sslyze.json")
                finally:
                    proxy.stop()
                    gocd.stop()
                print(f"== {kind}, tls_profile = {profile}, checked against Mozilla {against}:\n{section}\n")
                verdict = "compliant" if compliant else "not compliant"
                rows.append((kind, profile, against, verdict, "; ".join(problems) or "-"))
                if profile != "inherit" and not compliant:
                    failed.append(f"{kind}/{profile}")
    table = ["| proxy | tls_profile | checked against | sslyze's verdict | what it found |",
             "|---|---|---|---|---|"]
    table += [f"| {k} | {p} | Mozilla {a} | {v} | {f.replace('|', '/')} |" for k, p, a, v, f in rows]
    text = "\n".join(table) + "\n"
    print(text)
    if args.report:
        Path(args.report).write_text(
            "# TLS scan (`make tls-scan`)\n\nsslyze's Mozilla check of the GoCD site as each proxy serves it, "
            "behind Debian 12's stock main-configuration TLS lines. `inherit` writes no TLS settings: its row is "
            "what the host's defaults give. Written by Tests/tls/scan.py.\n\n" + text)
    if failed:
        print(f"not compliant with the profile they write: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

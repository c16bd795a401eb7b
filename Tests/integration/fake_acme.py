#!/usr/bin/env python3
"""A stand-in ACME client for certificate_command (README: Obtaining a certificate), playing certbot's webroot mode
against the real proxy: for each name it writes a token under $GOCD_PROXY_SYNC_ACME_WEBROOT/.well-known/acme-challenge/,
fetches it as an ACME server would (http://127.0.0.1:<port>/.well-known/acme-challenge/<token>, Host: <name>) through
the proxy, checks the body, then writes <live>/<name>/fullchain.pem and privkey.pem signed by the test CA.

    fake_acme.py --port P --live DIR --ca CA.pem --ca-key CA.key --log FILE [--fail NAME]... [--no-cover NAME]... NAME...

Every invocation appends one line to FILE: the names it was given. --fail NAME: exit 1 (after the challenge) when
asked for NAME, as an ACME client whose order the CA refused. --no-cover NAME: exit 0 but write a certificate for
another name. Anything unexpected (names in the arguments and the environment differ, the challenge not served)
exits 2 with the reason on stderr."""
import argparse
import http.client
import os
import secrets
import subprocess
import sys
import tempfile


def fail(message, code=2):
    print(f"fake-acme: {message}", file=sys.stderr)
    sys.exit(code)


def challenge(webroot, port, name):
    tokens = os.path.join(webroot, ".well-known", "acme-challenge")
    os.makedirs(tokens, mode=0o755, exist_ok=True)
    token = secrets.token_urlsafe(24)
    body = f"{token}.fake-account-thumbprint"
    path = os.path.join(tokens, token)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o644)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/.well-known/acme-challenge/{token}", headers={"Host": name})
        answer = conn.getresponse()
        got = answer.read().decode(errors="replace")
        conn.close()
    except OSError as e:
        fail(f"challenge for {name} on port {port}: {e}")
    finally:
        os.unlink(path)
    if answer.status != 200 or got != body:
        fail(f"challenge for {name} on port {port}: got {answer.status} {got[:200]!r}")
    print(f"fake-acme: challenge for {name} answered on port {port}")


def issue(live, ca, ca_key, name, san):
    directory = os.path.join(live, name)
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        key, csr, leaf, ext = (os.path.join(work, f) for f in ("key.pem", "req.csr", "leaf.pem", "ext.cnf"))
        with open(ext, "w") as f:
            f.write(f"basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:{san}\n")
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
        run("genrsa", "-out", key, "2048")
        run("req", "-new", "-key", key, "-subj", f"/CN={san}", "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "30", "-out", leaf,
            "-extfile", ext)
        chain = open(leaf).read() + open(ca).read()
        for data, target, mode in ((open(key).read(), "privkey.pem", 0o600), (chain, "fullchain.pem", 0o644)):
            temporary = os.path.join(directory, f".{target}.new")
            with open(temporary, "w") as f:
                f.write(data)
            os.chmod(temporary, mode)
            os.replace(temporary, os.path.join(directory, target))
    print(f"fake-acme: wrote {directory}/fullchain.pem for {san}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--live", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--ca-key", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail", action="append", default=[])
    parser.add_argument("--no-cover", action="append", default=[])
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    with open(args.log, "a") as f:
        f.write(" ".join(args.names) + "\n")
    if os.environ.get("GOCD_PROXY_SYNC_NAMES") != " ".join(args.names):
        fail(f"GOCD_PROXY_SYNC_NAMES={os.environ.get('GOCD_PROXY_SYNC_NAMES')!r}, arguments {args.names!r}")
    webroot = os.environ.get("GOCD_PROXY_SYNC_ACME_WEBROOT")
    if not webroot or not os.path.isdir(webroot):
        fail(f"GOCD_PROXY_SYNC_ACME_WEBROOT={webroot!r} is not a directory")
    for leaked in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        if leaked in os.environ:
            fail(f"{leaked} reached the command")
    for name in args.names:
        challenge(webroot, args.port, name)
    for name in args.names:
        if name in args.fail:
            fail(f"the CA refused the order for {name} (urn:ietf:params:acme:error:unauthorized)", code=1)
    for name in args.names:
        issue(args.live, args.ca, args.ca_key, name, "other.invalid" if name in args.no_cover else name)


if __name__ == "__main__":
    main()

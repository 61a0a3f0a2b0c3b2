#!/usr/bin/python3
"""ferry-bench against a real FTP server on loopback.

--server vsftpd: starts vsftpd on 127.0.0.1 on a free high port, with a
config generated in a temporary folder (background=NO, anonymous, uploads
into one folder), never the system's service or port 21.
--server ferryd: starts `ferryd --root DIR --listen 127.0.0.1:PORT --write`.

Each workload runs for about two seconds with a few clients, and the JSON
report is checked: requests done, no errors, bytes that add up, sessions
that were kept.  Failure paths are checked too: a file that is not the
pattern fails verification, a wrong --size is a short transfer, a closed
port is refused, a missing file is a bad reply.

Exit status: 0 all passed, 1 something failed, 77 (skipped) when the server
is not installed or, for ferryd, does not serve.
"""
import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
PERIOD = 1048573


def pattern_bytes(off, n):
    """bench/pattern.h, written again: the cross-check of the definition."""
    out = bytearray(n)
    for i in range(n):
        x = (off + i) % PERIOD
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        x ^= x >> 16
        out[i] = x & 0xFF
    return bytes(out)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_banner(host, port, timeout):
    """True once the server answers with a 220 banner."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect((host, port))
                data = b""
                while b"\n" not in data and len(data) < 4096:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"220"):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL - %s %s" % (name, detail), flush=True)
        return cond


class Server:
    """A server process we started, stopped by its own id (and its
    process group, which we created for it)."""

    def __init__(self, argv, log):
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        else:
            # the listener is gone; its session processes may linger
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.log.close()


def make_data(bench, root):
    pub = os.path.join(root, "pub")
    upload = os.path.join(root, "upload")
    os.makedirs(pub)
    os.makedirs(upload)
    for i in range(10):
        subprocess.run([bench, "--make-file", os.path.join(pub, "f%04d.bin" % i),
                        "--size", "4K"], check=True, timeout=30)
    subprocess.run([bench, "--make-file", os.path.join(root, "big.bin"), "--size", "8M"],
                   check=True, timeout=30)
    with open(os.path.join(root, "zero.bin"), "wb") as f:
        f.write(bytes(4096))
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for n in filenames:
            os.chmod(os.path.join(dirpath, n), 0o644)
    return 10  # entries in pub/


def vsftpd_conf(tmp, root, port, ipv6):
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty, exist_ok=True)
    os.chmod(empty, 0o755)
    listen = (["listen=NO", "listen_ipv6=YES", "listen_address6=::1"] if ipv6 else
              ["listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1"])
    lines = listen + [
        "listen_port=%d" % port,
        "background=NO",
        "anonymous_enable=YES",
        "no_anon_password=YES",
        "local_enable=NO",
        "write_enable=YES",
        "anon_upload_enable=YES",
        "anon_umask=022",
        "anon_root=%s" % root,
        "pasv_enable=YES",
        "connect_from_port_20=NO",
        "max_clients=0",
        "max_per_ip=0",
        "secure_chroot_dir=%s" % empty,
        "xferlog_enable=NO",
        "vsftpd_log_file=%s" % os.path.join(tmp, "vsftpd.log"),
        "seccomp_sandbox=NO",
        "isolate=NO",
        "isolate_network=NO",
        "idle_session_timeout=600",
    ]
    path = os.path.join(tmp, "vsftpd%s.conf" % ("6" if ipv6 else ""))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_bench(bench, port, args, host="127.0.0.1", timeout=60, quiet=True):
    cmd = [bench, "--host", host, "--port", str(port), "--json"]
    if quiet:
        cmd.append("--quiet")
    cmd += args
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, None, "timed out: %s" % " ".join(cmd)
    try:
        report = json.loads(p.stdout.decode())
    except ValueError:
        report = None
    return p.returncode, report, p.stderr.decode(errors="replace")


def clean_run(c, name, rc, rep, err):
    """The checks every error-free run must pass; True when they do."""
    if not c.check(name + ": finished with a report", rep is not None,
                   "rc=%s stderr=%s" % (rc, err[-800:] if err else "")):
        return False
    ok = c.check(name + ": exit 0 and no errors", rc == 0 and rep["errors"] == 0,
                 "rc=%s errors=%s" % (rc, rep["errors_by_kind"]))
    ok &= c.check(name + ": requests done", rep["requests"] > 0,
                  "requests=%s" % rep["requests"])
    ok &= c.check(name + ": a latency per request",
                  rep["latency_us"]["count"] == rep["requests"],
                  "count=%s requests=%s" % (rep["latency_us"]["count"], rep["requests"]))
    return ok


def scenarios(c, bench, port, root, server, entries, host="127.0.0.1", ipv6_only=False):
    files = "pub/f{0000..%04d}.bin" % (entries - 1)
    base = ["--duration", "2", "--warmup", "0.5", "--clients", "4"]
    tag = server + (" [::1]" if ipv6_only else "")

    # noop: the "send a message, get OK back" load
    rc, rep, err = run_bench(bench, port, base + ["--workload", "noop"], host)
    clean_run(c, tag + " noop", rc, rep, err)

    # get: small files, verified byte by byte, sizes from SIZE
    rc, rep, err = run_bench(bench, port, base + ["--workload", "get", "--files", files,
                                                  "--verify-pattern"], host)
    if clean_run(c, tag + " get", rc, rep, err):
        c.check(tag + " get: bytes add up", rep["bytes"] == rep["requests"] * 4096,
                "bytes=%s requests=%s" % (rep["bytes"], rep["requests"]))
    if ipv6_only:
        return

    # get: a larger file over PASV, with --size given
    rc, rep, err = run_bench(bench, port, ["--duration", "2", "--clients", "2",
                                           "--workload", "get", "--files", "big.bin",
                                           "--size", "8M", "--passive", "pasv",
                                           "--verify-pattern"])
    if clean_run(c, tag + " get 8M pasv", rc, rep, err):
        c.check(tag + " get 8M pasv: bytes add up", rep["bytes"] == rep["requests"] * (8 << 20),
                "bytes=%s requests=%s" % (rep["bytes"], rep["requests"]))

    # list: LIST of a folder, every entry counted
    rc, rep, err = run_bench(bench, port, base + ["--workload", "list", "--path", "pub",
                                                  "--expect-entries", str(entries)])
    clean_run(c, tag + " list", rc, rep, err)
    if server == "ferryd":
        rc, rep, err = run_bench(bench, port, base + ["--workload", "list", "--path", "pub",
                                                      "--list-cmd", "mlsd",
                                                      "--expect-entries", str(entries)])
        clean_run(c, tag + " list mlsd", rc, rep, err)

    # churn: a whole session per request
    rc, rep, err = run_bench(bench, port, base + ["--workload", "churn", "--files", files,
                                                  "--verify-pattern"])
    if clean_run(c, tag + " churn", rc, rep, err):
        c.check(tag + " churn: one login per session",
                rep["connections"]["logged_in"] >= rep["requests"],
                "logged_in=%s requests=%s" % (rep["connections"]["logged_in"], rep["requests"]))

    # idle: sessions held, then asked if they are still there
    rc, rep, err = run_bench(bench, port, ["--duration", "2", "--clients", "20",
                                           "--workload", "idle"])
    if clean_run(c, tag + " idle", rc, rep, err):
        idle = rep.get("idle", {})
        c.check(tag + " idle: all accepted and kept",
                idle.get("accepted") == 20 and idle.get("kept") == 20 and idle.get("dropped") == 0,
                "idle=%s" % idle)

    # put: uploads of pattern data; one of them read back and compared
    updir = os.path.join(root, "upload")
    before = set(os.listdir(updir))
    rc, rep, err = run_bench(bench, port, base + ["--workload", "put", "--put-dir", "upload",
                                                  "--size", "10K"])
    if clean_run(c, tag + " put", rc, rep, err):
        new = sorted(set(os.listdir(updir)) - before)
        c.check(tag + " put: files appeared", len(new) >= rep["requests"],
                "new=%d requests=%d" % (len(new), rep["requests"]))
        if new:
            with open(os.path.join(updir, new[0]), "rb") as f:
                data = f.read()
            c.check(tag + " put: uploaded bytes are the pattern",
                    data == pattern_bytes(0, 10240), "got %d bytes" % len(data))

    # exactly --requests requests
    rc, rep, err = run_bench(bench, port, ["--clients", "4", "--requests", "300",
                                           "--workload", "noop"])
    if clean_run(c, tag + " requests 300", rc, rep, err):
        c.check(tag + " requests 300: exactly 300", rep["requests"] == 300,
                "requests=%s" % rep["requests"])

    # open loop: every scheduled request is accounted for, done or not
    rc, rep, err = run_bench(bench, port, base + ["--workload", "noop", "--rate", "200"])
    if c.check(tag + " rate: report", rep is not None, err[-400:] if err else ""):
        total = rep["requests"] + rep["unsent"] + rep["abandoned"] + rep["errors"]
        c.check(tag + " rate: 400 scheduled, 400 accounted for", total == 400,
                "requests=%s unsent=%s abandoned=%s errors=%s" % (
                    rep["requests"], rep["unsent"], rep["abandoned"], rep["errors"]))

    # progress lines on stderr without --quiet
    rc, rep, err = run_bench(bench, port, ["--duration", "1.5", "--workload", "noop"],
                             quiet=False)
    c.check(tag + " progress on stderr", err is not None and "req/s" in err and rc == 0,
            "rc=%s stderr=%s" % (rc, (err or "")[-400:]))

    # failure paths: each must be seen, and must make the exit status non-zero
    rc, rep, err = run_bench(bench, port, base + ["--workload", "get", "--files", "zero.bin",
                                                  "--verify-pattern"])
    c.check(tag + " verify: wrong bytes are caught",
            rep is not None and rc == 1 and rep["errors_by_kind"]["verify_failed"] > 0
            and rep["requests"] == 0, "rc=%s rep=%s" % (rc, rep and rep["errors_by_kind"]))
    rc, rep, err = run_bench(bench, port, base + ["--workload", "get", "--files", "zero.bin",
                                                  "--verify-pattern", "--allow-errors"])
    c.check(tag + " verify: --allow-errors exits 0", rc == 0 and rep is not None
            and rep["errors"] > 0, "rc=%s" % rc)
    rc, rep, err = run_bench(bench, port, base + ["--workload", "get", "--files", files,
                                                  "--size", "5000"])
    c.check(tag + " size: a wrong size is a short transfer",
            rep is not None and rc == 1 and rep["errors_by_kind"]["short_transfer"] > 0,
            "rc=%s rep=%s" % (rc, rep and rep["errors_by_kind"]))
    rc, rep, err = run_bench(bench, port, base + ["--workload", "get", "--files",
                                                  "pub/missing.bin"])
    c.check(tag + " missing file: a bad reply",
            rep is not None and rc == 1 and rep["errors_by_kind"]["bad_reply"] > 0,
            "rc=%s rep=%s" % (rc, rep and rep["errors_by_kind"]))
    rc, rep, err = run_bench(bench, port, base + ["--workload", "list", "--path", "pub",
                                                  "--expect-entries", str(entries + 1)])
    c.check(tag + " list: a wrong entry count fails",
            rep is not None and rc == 1 and rep["errors_by_kind"]["verify_failed"] > 0,
            "rc=%s rep=%s" % (rc, rep and rep["errors_by_kind"]))


def refused(c, bench):
    port = free_port()  # nothing listens there
    rc, rep, err = run_bench(bench, port, ["--duration", "1", "--clients", "2"])
    c.check("closed port: connections refused",
            rep is not None and rc == 1 and rep["errors_by_kind"]["connect_refused"] > 0,
            "rc=%s rep=%s" % (rc, rep and rep["errors_by_kind"]))


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def find_vsftpd():
    if shutil.which("vsftpd"):
        return shutil.which("vsftpd")
    return "/usr/sbin/vsftpd" if os.path.exists("/usr/sbin/vsftpd") else None


def start_server(args, tmp, root, port, ipv6=False, tag=""):
    """Start the server under test; the Server, or None when it never
    answered (its output is printed)."""
    host = "::1" if ipv6 else "127.0.0.1"
    log = os.path.join(tmp, "%s%s.out" % (args.server, tag))
    if args.server == "vsftpd":
        argv = [find_vsftpd(), vsftpd_conf(tmp, root, port, ipv6)]
    else:
        argv = [args.ferryd, "--root", root, "--listen",
                ("[::1]:%d" if ipv6 else "127.0.0.1:%d") % port, "--write", "--anon-write"]
        if os.geteuid() == 0:
            argv.append("--allow-root")   # ferryd refuses root otherwise
    srv = Server(argv, log)
    if wait_banner(host, port, 10 if args.server == "vsftpd" else 5):
        return srv
    srv.stop()
    with open(log, "rb") as f:
        print(f.read().decode(errors="replace"))
    return None


def inner_spread(args):
    """Run inside a new network namespace (unshare -n): a loopback with only
    20 ephemeral ports, so 40 sessions to one server port run out of them,
    and ferry-bench must spread its source addresses to get on."""
    c = Checks()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write("40000 40019\n")
    port = 2121
    srv = start_server(args, args.tmp, args.root, port, tag="-spread")
    if not c.check(args.server + " spread: server started in the namespace", srv is not None):
        return 1
    try:
        rc, rep, err = run_bench(args.bench, port, ["--duration", "1", "--clients", "40",
                                                    "--timeout", "30", "--workload", "idle"],
                                 timeout=120)
        if clean_run(c, args.server + " spread idle 40 over 20 ports", rc, rep, err):
            c.check(args.server + " spread: all kept, sources spread",
                    rep["idle"]["kept"] == 40 and rep["connections"]["spread"],
                    "idle=%s connections=%s" % (rep["idle"], rep["connections"]))
    finally:
        srv.stop()
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def spread(c, args, tmp, root):
    """The EADDRNOTAVAIL path, in a network namespace of its own; left out
    (with a note) where namespaces cannot be made."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        print("note: no unshare or ip here; the port-exhaustion run is left out")
        return
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        print("note: cannot make a network namespace; the port-exhaustion run is left out")
        return
    cmd = ["unshare", "-n", sys.executable, os.path.abspath(__file__), "--inner-spread",
           "--bench", args.bench, "--server", args.server, "--tmp", tmp, "--root", root]
    if args.ferryd:
        cmd += ["--ferryd", args.ferryd]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=150)
        out = p.stdout.decode(errors="replace")
        print("".join("  | " + l + "\n" for l in out.splitlines()), end="")
        c.check(args.server + " spread: source addresses spread when ports run out",
                p.returncode == 0, p.stderr.decode(errors="replace")[-400:])
    except subprocess.TimeoutExpired:
        c.check(args.server + " spread: finished in time", False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--server", choices=["vsftpd", "ferryd"], required=True)
    ap.add_argument("--ferryd")
    ap.add_argument("--inner-spread", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner_spread:
        return inner_spread(args)

    if args.server == "vsftpd" and not find_vsftpd():
        print("SKIP: vsftpd is not installed")
        return SKIP
    if args.server == "ferryd" and (not args.ferryd or not os.access(args.ferryd, os.X_OK)):
        print("SKIP: no ferryd binary")
        return SKIP

    c = Checks()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-test-")
    os.chmod(tmp, 0o755)
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    try:
        entries = make_data(args.bench, root)
        if args.server == "vsftpd":
            try:
                ftp = pwd.getpwnam("ftp")
            except KeyError:
                print("SKIP: no 'ftp' user for vsftpd's anonymous sessions")
                return SKIP
            os.chown(os.path.join(root, "upload"), ftp.pw_uid, ftp.pw_gid)
        port = free_port()
        srv = start_server(args, tmp, root, port)
        if srv is None:
            if args.server == "ferryd":
                print("SKIP: ferryd does not serve yet (no 220 banner on 127.0.0.1:%d "
                      "within 5 s)" % port)
                return SKIP
            c.check("vsftpd started", False)
        else:
            try:
                scenarios(c, args.bench, port, root, args.server, entries)
            finally:
                srv.stop()
            refused(c, args.bench)
            if ipv6_loopback():
                port6 = free_port(socket.AF_INET6, "::1")
                srv6 = start_server(args, tmp, root, port6, ipv6=True, tag="6")
                if c.check(args.server + " on ::1 started", srv6 is not None):
                    try:
                        scenarios(c, args.bench, port6, root, args.server, entries,
                                  host="::1", ipv6_only=True)
                    finally:
                        srv6.stop()
            else:
                print("note: no IPv6 loopback here; the ::1 runs are left out")
            spread(c, args, tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""ferryd as a service: config file and --check-config, local users and
their confinement, failed logins, anonymous off, limits, bandwidth limit,
xferlog and its rotation, metrics, reload, drain, privileges, and
systemd's notify and socket-activation protocols.

Durations here are bounds the server itself enforces (a rate limit, a
failed-login delay) or generous waits for something to happen, never
measurements of speed."""

import os
import pwd
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.error
import urllib.request
import warnings

import pytest

from ferrytest import (Ctrl, FtpError, free_port, listening_inodes, open_fds,
                       recv_all, sha256, wait_until, write_file)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402  (Debian's python3.11 still ships it)


# -- helpers -------------------------------------------------------------

SALT_CHARS = "./" + string.digits + string.ascii_letters


def yescrypt(password):
    salt = "".join(random.choice(SALT_CHARS) for _ in range(22))
    h = crypt.crypt(password, "$y$j9T$%s$" % salt)
    if not h or not h.startswith("$y$"):
        h = subprocess.run(["mkpasswd", "-m", "yescrypt", password],
                           check=True, capture_output=True,
                           text=True).stdout.strip()
    return h


def sha512crypt(password):
    h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    if not h or not h.startswith("$6$"):
        h = subprocess.run(["openssl", "passwd", "-6", password], check=True,
                           capture_output=True, text=True).stdout.strip()
    return h


def ferryd_run(ferryd_bin, *args, env=None, timeout=30):
    return subprocess.run([ferryd_bin] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=env)


def wait_log(srv, pattern, timeout=10.0):
    """The first match of regex pattern in the server's log, waiting for
    it to appear."""
    rx = re.compile(pattern, re.M)
    return wait_until(lambda: rx.search(srv.log()), timeout)


def login(srv, user, password, timeout=30):
    c = srv.connect(timeout)
    c.expect(220)
    c.login(user, password)
    c.expect_ok("TYPE I")
    return c


def try_login(srv, user, password, timeout=30):
    """(code, lines) of USER+PASS on a fresh connection, and the
    connection."""
    c = srv.connect(timeout)
    c.expect(220)
    code, lines = c.do("USER " + user)
    if code == 331:
        code, lines = c.do("PASS " + password)
    return code, lines, c


def retr(c, path):
    return c.transfer_in("RETR " + path)


class Notify:
    """The service manager's end of $NOTIFY_SOCKET: collects datagrams."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait_for(self, line, timeout=20.0):
        """Every message received until one holds the line `line`."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if line in m.split("\n"):
                    return self.messages
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r from ferryd; got %r"
                                     % (line, self.messages))
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path, monkeypatch):
    """A notify socket, exported as $NOTIFY_SOCKET to the ferryd started
    in this test."""
    n = Notify(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", n.path)
    yield n
    n.close()


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=10) as r:
        return r.status, r.read().decode()


def metric_values(text):
    """{(name, frozenset(labels)): value}, parsed by the Prometheus
    client's own parser (which raises on malformed exposition)."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


# -- users: the tree and the accounts --------------------------------------

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture
def users_root(tmp_path):
    """root/ with homes for alice (rw) and bob (r), a file outside every
    home, and symlinks that try to lead out of alice's home; users file
    beside it."""
    root = tmp_path / "uroot"
    write_file(root / "alice" / "mine.txt", b"alice's file\n")
    write_file(root / "alice" / "sub" / "deep.txt", b"deep\n")
    write_file(root / "pub" / "readme.txt", b"for bob\n")
    write_file(root / "top.txt", b"above every home\n")
    os.symlink("../pub/readme.txt", root / "alice" / "sneaky")
    os.symlink("../../pub", root / "alice" / "sub" / "pubdir")
    os.symlink("/etc/passwd", root / "alice" / "abs")
    users = tmp_path / "users"
    users.write_text(
        "# test accounts\n"
        "alice:%s:/alice:rw\n"
        "bob:%s:/pub:r\n"
        "carol:!locked:/alice:rw\n" % (yescrypt(PASSWORDS["alice"]),
                                        sha512crypt(PASSWORDS["bob"])))
    return root, users


# -- config file -------------------------------------------------------------

def test_config_file_and_command_line_override(spawn, tmp_path):
    root = tmp_path / "croot"
    write_file(root / "f.txt", b"x" * 100)
    conf = tmp_path / "ferryd.conf"
    # The file's listen address and max-per-ip are overridden by the
    # command line; its write = yes is not.
    conf.write_text("# test\n"
                    "listen = 127.0.0.1:1\n"
                    "write = yes\n"
                    "anon-write = yes\n"
                    "max-per-ip = 1\n"
                    "idle-timeout = 120 ; comment\n")
    s = spawn(root=root, args=["--config", str(conf), "--max-per-ip", "3"])
    a = s.login()
    b = s.login()            # allowed by --max-per-ip 3, not by the file's 1
    code, lines = a.transfer_out("STOR up.bin", b"y" * 1000)
    assert code == 226, lines      # write = yes from the file
    assert (root / "up.bin").read_bytes() == b"y" * 1000
    a.close()
    b.close()


def test_config_errors_name_file_and_line(ferryd_bin, tmp_path):
    conf = tmp_path / "bad.conf"
    cases = [
        ("root = /tmp\n\nno-such-key = 1\n", r"bad\.conf:3: unknown key 'no-such-key'"),
        ("# c\nmax-clients = lots\n", r"bad\.conf:2: bad value 'lots' for max-clients"),
        ("listen = nowhere\n", r"bad\.conf:1: bad value 'nowhere' for listen"),
        ("write = maybe\n", r"bad\.conf:1: bad value 'maybe' for write"),
        ("rate-limit = 10Q\n", r"bad\.conf:1: bad value '10Q' for rate-limit"),
        ("[ferryd]\n", r"bad\.conf:1:"),
    ]
    for text, pattern in cases:
        conf.write_text(text)
        for extra in (["--check-config"], []):
            p = ferryd_run(ferryd_bin, "--config", str(conf), "--root",
                           str(tmp_path), "--listen", "127.0.0.1:1", *extra)
            assert p.returncode == 2, (text, extra, p.stdout, p.stderr)
            assert re.search(pattern, p.stderr), (text, p.stderr)
    p = ferryd_run(ferryd_bin, "--config", str(tmp_path / "missing.conf"),
                   "--check-config")
    assert p.returncode == 2 and "missing.conf" in p.stderr, p.stderr
    p = ferryd_run(ferryd_bin, "--max-clients", "-3")
    assert p.returncode == 2 and "max-clients" in p.stderr, p.stderr
    for bad in ("0", "65536"):
        p = ferryd_run(ferryd_bin, "--backlog", bad, "--check-config")
        assert p.returncode == 2 and "backlog" in p.stderr, p.stderr


def listen_queue(port):
    """The accept queue limit of the TCP listener on a port (ss's Send-Q)."""
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                         capture_output=True, text=True, check=True).stdout
    return [int(line.split()[2]) for line in out.splitlines()]


def test_backlog_sets_the_listen_queue(spawn, tmp_path):
    if not shutil.which("ss"):
        pytest.skip("ss (iproute2) is not installed")
    with open("/proc/sys/net/core/somaxconn") as fh:
        cap = int(fh.read())
    s = spawn(root=tmp_path)
    assert listen_queue(s.port) == [min(4096, cap)]
    s.stop()
    s = spawn(root=tmp_path, args=["--backlog", "37"])
    assert listen_queue(s.port) == [37]
    c = s.login()
    c.cmd("NOOP")
    assert c.reply()[0] == 200


def test_check_config(ferryd_bin, tmp_path, users_root):
    root, users = users_root
    ok = ferryd_run(ferryd_bin, "--root", str(root), "--users", str(users),
                    "--xferlog", str(tmp_path / "xferlog"),
                    "--metrics", "127.0.0.1:9", "--check-config")
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout
    assert not (tmp_path / "xferlog").exists()    # checked, not created

    bad_users = tmp_path / "users.bad"
    bad_users.write_text("alice:%s:/alice:rw\nbob:$1$md5$legacy:/pub:r\n"
                         % sha512crypt("x"))
    failures = [
        (["--root", str(root), "--users", str(bad_users)], r"users\.bad:2:"),
        (["--root", str(root / "top.txt")], r"root .*Not a directory"),
        (["--root", str(root), "--listen", "127.0.0.1:99999"], r"listen"),
        (["--root", str(root), "--user", "no-such-user-ferry"],
         r"no-such-user-ferry"),
        (["--root", str(root), "--xferlog", str(tmp_path / "nodir" / "x")],
         r"xferlog"),
    ]
    for args, pattern in failures:
        p = ferryd_run(ferryd_bin, *args, "--check-config")
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert re.search(pattern, p.stderr), (args, p.stderr)


def test_shipped_config_is_valid_and_help_lists_every_key(ferryd_bin,
                                                          tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    etc = os.path.join(here, "..", "..", "etc")
    conf_text = open(os.path.join(etc, "ferryd.conf")).read()
    keys = set(re.findall(r"^#?([a-z][a-z-]+) = ", conf_text, re.M))
    help_text = ferryd_run(ferryd_bin, "--help").stdout
    flags = set(re.findall(r"--([a-z][a-z-]+)", help_text))
    assert keys, conf_text
    assert keys <= flags, keys - flags
    # Every long option of --help is a key the config file accepts (the
    # command-line-only ones are refused by name, not as unknown).
    conf = tmp_path / "all.conf"
    cli_only = {"config", "check-config", "help", "version"}
    for flag in sorted(flags - cli_only):
        conf.write_text("%s = 1\n" % flag)
        p = ferryd_run(ferryd_bin, "--config", str(conf), "--check-config",
                       "--root", str(tmp_path))
        assert "unknown key" not in p.stderr, (flag, p.stderr)
    # The shipped example, pointed at writable places, checks clean.
    p = ferryd_run(ferryd_bin, "--config", os.path.join(etc, "ferryd.conf"),
                   "--root", str(tmp_path), "--xferlog",
                   str(tmp_path / "xferlog"), "--check-config")
    assert p.returncode == 0, p.stderr


# -- users --------------------------------------------------------------------

def test_local_users_login_and_confinement(ferry, users_root):
    root, users = users_root
    s = ferry(root=root, write=True, args=["--users", str(users)])
    a = login(s, "alice", PASSWORDS["alice"])
    # Her home is her "/".
    assert a.do("PWD")[1][0].split('"')[1] == "/"
    got, (code, _) = retr(a, "mine.txt")
    assert code == 226 and got == b"alice's file\n"
    got, (code, _) = retr(a, "/sub/deep.txt")
    assert code == 226 and got == b"deep\n"
    got, (code, _) = a.transfer_in("NLST")
    names = set(got.decode().split())
    # (a listing may hide the links that lead out; never more than these)
    assert {"mine.txt", "sub"} <= names <= {"mine.txt", "sub", "sneaky", "abs"}
    # No way out: "..", absolute paths, symlinks out of the home.
    assert a.do("CWD ..")[0] == 550
    assert a.do("CWD /..")[0] == 550
    assert a.do("PWD")[1][0].split('"')[1] == "/"
    for path in ("../top.txt", "/../top.txt", "/top.txt", "../pub/readme.txt",
                 "/pub/readme.txt", "sneaky", "abs", "sub/pubdir/readme.txt",
                 "sub/../../top.txt"):
        data = a.open_data()
        code, lines = a.do("RETR " + path)
        if code in (125, 150):
            got = recv_all(data)
            code, lines = a.reply()
            assert b"for bob" not in got and b"above" not in got, path
        data.close()
        assert code == 550, (path, lines)
    assert a.do("CWD sub/pubdir")[0] == 550
    assert a.do("SIZE sneaky")[0] == 550
    code, _ = a.do("CWD sub")
    assert code == 250 and a.do("PWD")[1][0].split('"')[1] == "/sub"
    # rw: she may write, inside her home only.
    code, lines = a.transfer_out("STOR new.bin", b"n" * 4096)
    assert code == 226, lines
    assert (root / "alice" / "sub" / "new.bin").read_bytes() == b"n" * 4096
    assert a.do("MKD made")[0] == 257 and (root / "alice" / "sub" / "made").is_dir()
    data = a.open_data()
    code, lines = a.do("STOR ../../escape.bin")
    data.close()
    assert code in (550, 553), lines
    assert a.do("DELE /../top.txt")[0] in (550, 553)
    assert (root / "top.txt").exists() and not (root / "escape.bin").exists()
    a.expect_ok("QUIT")

    # bob reads his home, and may not write even with --write.
    b = login(s, "bob", PASSWORDS["bob"])
    got, (code, _) = retr(b, "readme.txt")
    assert code == 226 and got == b"for bob\n"
    data = b.open_data()
    code, lines = b.do("STOR up.txt")
    data.close()
    assert code == 550, lines
    assert b.do("MKD d")[0] == 550 and b.do("DELE readme.txt")[0] == 550
    assert not (root / "pub" / "up.txt").exists()
    assert (root / "pub" / "readme.txt").exists()
    b.close()

    # Anonymous still sees the whole root.
    c = s.login()
    got, (code, _) = retr(c, "top.txt")
    assert code == 226 and got == b"above every home\n"
    c.close()

    assert re.search(r"event=login session=\d+ worker=\d+ peer=\S+ user=alice "
                     r"home=/alice perms=rw", s.log())


def test_wrong_password_locked_and_unknown_users(ferry, users_root):
    root, users = users_root
    s = ferry(root=root, args=["--users", str(users), "--login-fail-delay",
                               "0", "--max-login-failures", "100"])
    for user, password in (("alice", "wrong"), ("bob", PASSWORDS["alice"]),
                           ("carol", "locked"), ("nobody", "x"),
                           ("alice", "")):
        code, lines, c = try_login(s, user, password)
        assert code == 530, (user, lines)
        # still connected, and still not logged in
        assert c.do("PWD")[0] == 530
        c.close()
    assert len(re.findall(r"^\S+ warn event=login-failed peer=127\.0\.0\.1 ",
                          s.log(), re.M)) == 5
    # a good login afterwards is not refused
    login(s, "alice", PASSWORDS["alice"]).close()


def test_write_leaves_anonymous_read_only_without_anon_write(spawn, users_root):
    """--write opens changes to local users with perms rw; anonymous
    sessions stay read-only unless --anon-write says otherwise."""
    root, users = users_root
    s = spawn(root=root, args=["--users", str(users), "--write"])
    anon = s.login()
    data = anon.open_data()
    code, lines = anon.do("STOR /anon.bin")
    data.close()
    assert code in (450, 530, 532, 550, 553), lines
    for cmd in ("MKD /anon-dir", "DELE /top.txt", "RNFR /top.txt"):
        code, lines = anon.do(cmd)
        assert code in (450, 530, 532, 550, 553), (cmd, lines)
    anon.close()
    assert not (root / "anon.bin").exists() and not (root / "anon-dir").exists()
    assert (root / "top.txt").exists()
    a = login(s, "alice", PASSWORDS["alice"])
    code, lines = a.transfer_out("STOR alice-up.bin", b"a" * 100)
    assert code == 226, lines
    a.close()
    assert (root / "alice" / "alice-up.bin").read_bytes() == b"a" * 100
    t = spawn(root=root, args=["--users", str(users), "--write", "--anon-write"])
    anon = t.login()
    code, lines = anon.transfer_out("STOR /anon.bin", b"n" * 10)
    assert code == 226, lines
    anon.close()
    assert (root / "anon.bin").read_bytes() == b"n" * 10


def test_failed_login_delay_and_close(spawn, users_root):
    root, users = users_root
    delay = 0.4
    s = spawn(root=root, args=["--users", str(users), "--login-fail-delay",
                               str(delay), "--max-login-failures", "3"])
    c = s.connect()
    c.expect(220)
    other = s.login()
    assert c.do("USER alice")[0] == 331
    # 1st failure: 530 after at least the delay; meanwhile the server
    # serves everyone else (the delay is a timer, not a sleep).
    t0 = time.monotonic()
    c.cmd("PASS wrong-1")
    other.expect_ok("NOOP")
    c.expect(530)
    assert time.monotonic() - t0 >= delay
    # 2nd failure: the delay has doubled.
    assert c.do("USER alice")[0] == 331
    t0 = time.monotonic()
    code, _ = c.do("PASS wrong-2")
    assert code == 530 and time.monotonic() - t0 >= 2 * delay
    # 3rd: 421 and the connection closes.
    assert c.do("USER alice")[0] == 331
    code, lines = c.do("PASS wrong-3")
    assert code == 421, lines
    assert c.closed_by_peer()
    # The address is now refused at once, even with the right password.
    code, lines, d = try_login(s, "alice", PASSWORDS["alice"])
    assert code == 421, lines
    assert d.closed_by_peer()
    other.expect_ok("NOOP")
    other.close()
    log = s.log()
    fails = re.findall(r"^\S+ warn event=login-failed peer=(\S+) session=\d+ "
                       r"user=alice failures=(\d+)", log, re.M)
    assert fails == [("127.0.0.1", "1"), ("127.0.0.1", "2"),
                     ("127.0.0.1", "3")], log[-3000:]
    assert re.search(r"event=login-refused peer=127\.0\.0\.1 .*"
                     r"reason=too-many-failures", log)


def test_fork_failed_logins_counted_per_address(spawn, users_root):
    """With a process per client, failures on separate connections still
    add up per address (the table is in shared memory)."""
    root, users = users_root
    s = spawn(root=root, model="fork",
              args=["--users", str(users), "--login-fail-delay", "0",
                    "--max-login-failures", "3"])
    for n in (1, 2):
        code, lines, c = try_login(s, "alice", "wrong-%d" % n)
        assert code == 530, lines
        c.close()
    code, lines, c = try_login(s, "alice", "wrong-3")
    assert code == 421, lines
    c.close()
    code, lines, c = try_login(s, "alice", PASSWORDS["alice"])
    assert code == 421, lines
    c.close()
    fails = re.findall(r"event=login-failed peer=127\.0\.0\.1 session=\d+ "
                       r"user=alice failures=(\d+)", s.log())
    assert fails == ["1", "2", "3"], s.log()[-3000:]


def test_logins_are_checked_concurrently(spawn, users_root):
    """Several yescrypt checks at once all complete, and a session that
    only sends NOOPs is answered while they run."""
    root, users = users_root
    s = spawn(root=root, args=["--users", str(users)])
    conns = []
    for _ in range(6):
        c = s.connect()
        c.expect(220)
        assert c.do("USER alice")[0] == 331
        conns.append(c)
    other = s.login()
    for c in conns:
        c.cmd("PASS " + PASSWORDS["alice"])
    other.expect_ok("NOOP")
    for c in conns:
        c.expect(230)
        c.close()
    other.close()


def test_anonymous_disabled(spawn, users_root):
    root, users = users_root
    s = spawn(root=root, args=["--users", str(users), "--no-anonymous"])
    for name in ("anonymous", "ftp", "FTP"):
        c = s.connect()
        c.expect(220)
        code, lines = c.do("USER " + name)
        assert code == 530, lines
        assert c.do("PASS x@example.org")[0] in (503, 530)
        assert c.do("PWD")[0] == 530
        c.close()
    login(s, "bob", PASSWORDS["bob"]).close()
    assert "reason=anonymous-disabled" in s.log()


# -- limits -----------------------------------------------------------------

def test_max_per_ip_and_max_clients(spawn, tmp_path):
    s = spawn(root=tmp_path, args=["--max-per-ip", "2"])
    held = [s.login(), s.login()]
    c = s.connect()
    code, lines = c.reply()
    assert code == 421, lines
    assert c.closed_by_peer()
    assert wait_log(s, r"event=refused worker=\d+ peer=127\.0\.0\.1:\d+ "
                       r"reason=max-per-ip")
    held.pop().close()
    # a place came free
    assert wait_until(lambda: _greeted(s), 10)
    for h in held:
        h.close()

    t = spawn(root=tmp_path, args=["--max-clients", "1"])
    # (the start-up probe's connection may not have been released yet)
    one = wait_until(lambda: _try_anon(t), 10)
    assert one
    c = t.connect()
    code, lines = c.reply()
    assert code == 421, lines
    assert wait_log(t, r"event=refused worker=\d+ peer=\S+ reason=max-clients")
    one.close()


def _try_anon(srv):
    try:
        return srv.login()
    except (FtpError, EOFError, OSError):
        return None


def _greeted(srv):
    c = srv.connect()
    try:
        return c.reply()[0] == 220
    finally:
        c.close()


def test_rate_limit_bounds_downloads_and_uploads(ferry, tmp_path):
    root = tmp_path / "rroot"
    payload = os.urandom(1 << 20)
    write_file(root / "one-mib.bin", payload)
    rate = 256 * 1024
    s = ferry(root=root, write=True, args=["--rate-limit", "256K"])
    c = s.login()
    # 1 MiB at 256 KiB/s with a one-second burst: at least 3 s.
    t0 = time.monotonic()
    got, (code, lines) = retr(c, "one-mib.bin")
    took = time.monotonic() - t0
    assert code == 226 and sha256(got) == sha256(payload), lines
    assert took >= (len(payload) - rate) / rate * 0.95, took
    # Uploads are held to the same rate.
    up = os.urandom(512 * 1024)
    t0 = time.monotonic()
    code, lines = c.transfer_out("STOR up.bin", up)
    took = time.monotonic() - t0
    assert code == 226, lines
    assert (root / "up.bin").read_bytes() == up
    assert took >= (len(up) - rate) / rate * 0.95, took
    c.close()


# -- xferlog ----------------------------------------------------------------

XFERLOG_RE = re.compile(
    r"^(?P<when>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}) (?P<secs>\d+) "
    r"(?P<host>\S+) (?P<bytes>\d+) (?P<path>\S+) (?P<type>[ab]) _ "
    r"(?P<dir>[oid]) (?P<mode>[ar]) (?P<user>\S+) ftp 0 \* (?P<status>[ci])$")


def xferlog_lines(path):
    lines = open(path).read().splitlines()
    out = []
    for ln in lines:
        m = XFERLOG_RE.match(ln)
        assert m, "not an xferlog line: %r" % ln
        out.append(m.groupdict())
    return out


def test_xferlog_and_reopen_on_sighup(spawn, tmp_path, users_root):
    root, users = users_root
    log = tmp_path / "logs" / "xferlog"
    log.parent.mkdir()
    s = spawn(root=root, write=True,
              args=["--xferlog", str(log), "--users", str(users)])
    c = s.login()
    c.cmd("TYPE A")
    c.expect(200)
    got, (code, _) = retr(c, "top.txt")
    assert code == 226 and got == b"above every home\r\n"
    c.expect_ok("TYPE I")
    assert c.transfer_out("STOR with space.bin", b"z" * 777)[0] == 226
    assert c.do("DELE with space.bin")[0] == 250
    c.close()
    a = login(s, "alice", PASSWORDS["alice"])
    assert retr(a, "mine.txt")[1][0] == 226
    a.close()
    entries = wait_until(lambda: len(xferlog_lines(log)) >= 4 and
                         xferlog_lines(log))
    assert [(e["dir"], e["path"], e["bytes"], e["type"], e["mode"],
             e["user"], e["status"]) for e in entries] == [
        ("o", "/top.txt", "18", "a", "a", "ferry@example.org", "c"),
        ("i", "/with_space.bin", "777", "b", "a", "ferry@example.org", "c"),
        ("d", "/with_space.bin", "0", "b", "a", "ferry@example.org", "c"),
        ("o", "/mine.txt", "13", "b", "r", "alice", "c"),
    ], entries
    assert all(e["host"] == "127.0.0.1" for e in entries)
    # logrotate: move the file away, SIGHUP, and the next line goes to a
    # new file at the old name.
    os.rename(log, str(log) + ".1")
    s.proc.send_signal(signal.SIGHUP)
    assert wait_log(s, r"event=reloaded")
    c = s.login()
    assert retr(c, "top.txt")[1][0] == 226
    c.close()
    assert wait_until(lambda: log.exists() and xferlog_lines(log))
    assert [e["path"] for e in xferlog_lines(log)] == ["/top.txt"]
    assert len(xferlog_lines(str(log) + ".1")) == 4


# -- metrics -----------------------------------------------------------------

def test_metrics_scraped_and_counters_move(spawn, tmp_path, users_root):
    root, users = users_root
    mport = free_port()
    s = spawn(root=root, write=True,
              args=["--metrics", "127.0.0.1:%d" % mport, "--users", str(users),
                    "--login-fail-delay", "0", "--workers", "2"])
    code, text = scrape(mport)
    assert code == 200
    before = metric_values(text)
    c = s.login()
    got, (rc, _) = retr(c, "top.txt")
    assert rc == 226
    assert c.transfer_out("STOR m.bin", b"m" * 5000)[0] == 226
    assert c.transfer_in("LIST")[1][0] == 226
    code, _, bad = try_login(s, "alice", "wrong")
    assert code == 530
    bad.close()
    after = metric_values(scrape(mport)[1])

    def delta(name, **labels):
        k = (name, frozenset(labels.items()))
        return after.get(k, 0) - before.get(k, 0)

    assert delta("ferry_sessions_total") >= 2
    assert after[("ferry_sessions", frozenset())] >= 1
    assert delta("ferry_logins_failed_total") == 1
    assert delta("ferry_bytes_out_total") >= len(got)
    assert delta("ferry_bytes_in_total") >= 5000
    assert delta("ferry_transfers_total", result="ok", kind="retr") == 1
    assert delta("ferry_transfers_total", result="ok", kind="stor") == 1
    assert delta("ferry_transfers_total", result="ok", kind="list") == 1
    assert delta("ferry_command_duration_seconds_count") >= 5
    for w in ("0", "1"):
        assert after[("ferry_worker_loop_iterations_total",
                      frozenset({("worker", w)}))] > 0
    c.close()
    # promtool, when present, agrees that the exposition is valid.
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
    # other paths and methods
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(mport, "/nope")
    assert e.value.code == 404
    # a client that never finishes its request does not block the others
    stuck = socket.create_connection(("127.0.0.1", mport))
    stuck.sendall(b"GET /metrics HTTP/1.0\r\n")
    assert scrape(mport)[0] == 200
    stuck.close()


def test_fork_metrics_count_every_child(spawn, tmp_path, users_root):
    """--metrics with the fork model: the children's counters reach the
    endpoint, served by a process of its own that ends with the server."""
    root, users = users_root
    mport = free_port()
    s = spawn(root=root, write=True, model="fork",
              args=["--metrics", "127.0.0.1:%d" % mport, "--users", str(users),
                    "--login-fail-delay", "0"])
    m = wait_log(s, r"event=metrics-process pid=(\d+)")
    assert m
    mpid = int(re.search(r"event=metrics-process pid=(\d+)", s.log()).group(1))
    before = metric_values(scrape(mport)[1])
    c = s.login()
    got, (rc, _) = retr(c, "top.txt")
    assert rc == 226
    assert c.transfer_out("STOR f.bin", b"f" * 3000)[0] == 226
    code, _, bad = try_login(s, "alice", "wrong")
    assert code == 530
    bad.close()
    c.close()
    # the children have ended (and counted their sessions as closed)
    assert wait_until(lambda: metric_values(scrape(mport)[1]).get(
        ("ferry_sessions", frozenset()), -1) == 0, timeout=30), \
        scrape(mport)[1]
    after = metric_values(scrape(mport)[1])

    def delta(name, **labels):
        k = (name, frozenset(labels.items()))
        return after.get(k, 0) - before.get(k, 0)

    assert delta("ferry_sessions_total") >= 2, (before, after)
    assert delta("ferry_logins_failed_total") == 1, (before, after)
    assert delta("ferry_bytes_out_total") >= len(got)
    assert delta("ferry_bytes_in_total") == 3000
    assert delta("ferry_transfers_total", result="ok", kind="retr") == 1
    assert delta("ferry_transfers_total", result="ok", kind="stor") == 1
    # killed, the metrics process comes back (counters intact)
    s.killed_pids.add(mpid)
    os.kill(mpid, signal.SIGKILL)
    assert wait_log(s, r"event=metrics-exit pid=%d signal=9 restart_in=1" % mpid)
    m2 = wait_log(s, r"event=metrics-process pid=(?!%d\b)(\d+)" % mpid)
    assert m2, s.log()
    again = metric_values(scrape(mport)[1])
    assert again.get(("ferry_bytes_in_total", frozenset()), 0) == \
        after.get(("ferry_bytes_in_total", frozenset()), 0), (after, again)
    old, mpid = mpid, int(m2.group(1))
    assert wait_until(lambda: not os.path.exists("/proc/%d" % old))  # reaped
    # dying again soon after its start, it waits twice as long
    s.killed_pids.add(mpid)
    os.kill(mpid, signal.SIGKILL)
    assert wait_log(s, r"event=metrics-exit pid=%d signal=9 restart_in=2" % mpid)
    m3 = wait_log(s, r"event=metrics-process pid=(?!%d\b|%d\b)(\d+)" % (old, mpid))
    assert m3, s.log()
    mpid = int(m3.group(1))
    assert scrape(mport)[0] == 200
    # the metrics process holds no FTP listener, and goes with the server
    # (a scrape's connection may still be open for a moment after the
    # test read its reply: the count is allowed to settle)
    assert wait_until(lambda: len(open_fds(mpid)) <= 5, timeout=10), \
        open_fds(mpid)
    ftp = listening_inodes(s.port)
    assert ftp, "FTP listener of port %d not found" % s.port
    own = set(open_fds(mpid).values())
    assert not own & {"socket:[%s]" % i for i in ftp}, own
    s.stop()

    def gone():
        try:
            with open("/proc/%d/stat" % mpid) as f:
                return f.read().split()[2] == "Z"
        except OSError:
            return True
    assert wait_until(gone, timeout=30)


# -- reload and drain ---------------------------------------------------------

def test_sighup_reloads_config_and_users_without_dropping(spawn, tmp_path,
                                                          users_root):
    root, users = users_root
    conf = tmp_path / "reload.conf"
    conf.write_text("users = %s\nidle-timeout = 300\n" % users)
    s = spawn(root=root, args=["--config", str(conf)])
    old = s.login()
    code, _, c = try_login(s, "dave", "dave-pw")
    assert code == 530
    c.close()

    # A broken file is refused whole, and nothing changes.
    conf.write_text("users = %s\nidle-timeout = soon\n" % users)
    s.proc.send_signal(signal.SIGHUP)
    assert wait_log(s, r"event=reload-failed .*reload\.conf:2: bad value "
                       r"'soon' for idle-timeout")
    old.expect_ok("NOOP")

    # Now a good one: a new account, and a short idle timeout.
    with open(users, "a") as f:
        f.write("dave:%s:/pub:r\n" % sha512crypt("dave-pw"))
    conf.write_text("users = %s\nidle-timeout = 1\nworkers = 4\n" % users)
    s.proc.send_signal(signal.SIGHUP)
    assert wait_log(s, r"event=reloaded ")
    assert "event=reload-kept key=workers reason=needs-restart" in s.log()
    old.expect_ok("NOOP")            # the session survived the reload
    d = login(s, "dave", "dave-pw")
    got, (code, _) = retr(d, "readme.txt")
    assert code == 226 and got == b"for bob\n"
    # and the new idle timeout applies to the sessions already open
    code, lines = old.reply()
    assert code == 421, lines
    assert old.closed_by_peer()
    d.close()


def test_sigterm_drain_finishes_transfer_in_flight(spawn, tmp_path, notify):
    root = tmp_path / "droot"
    payload = os.urandom(768 * 1024)
    write_file(root / "slow.bin", payload)
    # The rate limit keeps the download in flight for about 2 s.
    s = spawn(root=root, args=["--rate-limit", "256K",
                               "--drain-timeout", "60"])
    notify.wait_for("READY=1")
    idle = s.login()
    c = s.login()
    d = c.open_data()
    c.cmd("RETR slow.bin")
    c.expect(150)
    first = d.recv(65536)
    s.proc.send_signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1")
    # the idle session is told and closed at once
    code, lines = idle.reply()
    assert code == 421, lines
    rest = recv_all(d)
    d.close()
    code, lines = c.reply()
    assert code == 226, lines
    assert sha256(first + rest) == sha256(payload)
    assert c.reply()[0] == 421          # then the session ends
    rc, problems = s.stop(None)
    assert rc == 0 and not problems, (problems, s.log()[-2000:])


# -- systemd -----------------------------------------------------------------

def test_notify_ready_status_watchdog(spawn, tmp_path, notify, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    s = spawn(root=tmp_path, args=["--workers", "2"])
    msgs = notify.wait_for("READY=1")
    assert any(m.startswith("STATUS=") for m in msgs), msgs
    # pings come from every loop turning, at half the interval
    notify.messages.clear()
    notify.wait_for("WATCHDOG=1", timeout=5)
    notify.messages.clear()
    # (two: the start-up probe alone may have made it "1 client")
    clients = [s.login(), s.login()]
    notify.wait_for("STATUS=2 clients, 0 transfers", timeout=10)
    for c in clients:
        c.close()
    s.proc.send_signal(signal.SIGHUP)
    notify.messages.clear()
    msgs = notify.wait_for("READY=1")
    assert any(m.startswith("RELOADING=1") for m in msgs), msgs
    s.proc.send_signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1")
    rc, problems = s.stop(None)
    assert rc == 0 and not problems, problems


@pytest.mark.parametrize("workers", [1, 3])
def test_socket_activation(ferryd_bin, tmp_path, workers):
    activate = shutil.which("systemd-socket-activate")
    if not activate:
        pytest.skip("systemd-socket-activate not installed")
    root = tmp_path / "sroot"
    write_file(root / "hello.txt", b"activated\n")
    n = Notify(tmp_path / "notify")
    port = free_port()
    log = open(tmp_path / "activated.log", "wb")
    proc = subprocess.Popen(
        [activate, "-l", "127.0.0.1:%d" % port, "--fdname=ftp",
         "-E", "NOTIFY_SOCKET=%s" % n.path,
         ferryd_bin, "--root", str(root), "--workers", str(workers),
         # ignored: the passed socket is served instead
         "--listen", "127.0.0.1:1"] +
        (["--allow-root"] if os.geteuid() == 0 else []),
        stdout=log, stderr=log)
    try:
        # systemd-socket-activate starts ferryd on the first connection
        # (and execs it: same pid).
        deadline = time.monotonic() + 20
        while True:
            try:
                first = Ctrl("127.0.0.1", port)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        first.expect(220)
        n.wait_for("READY=1")
        first.login()
        clients = [first]
        for _ in range(2 * workers):
            c = Ctrl("127.0.0.1", port)
            c.expect(220)
            c.login()
            clients.append(c)
        for c in clients:
            c.expect_ok("TYPE I")
            got, (code, _) = c.transfer_in("RETR hello.txt")
            assert code == 226 and got == b"activated\n"
            c.close()
        proc.send_signal(signal.SIGTERM)
        n.wait_for("STOPPING=1")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        n.close()
    text = open(tmp_path / "activated.log").read()
    assert "source=socket-activation" in text, text
    assert "event=listen-ignored reason=socket-activation" in text, text
    assert "AddressSanitizer" not in text and "runtime error" not in text


# -- privileges -----------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
@pytest.mark.parametrize("chroot", [False, True])
def test_privilege_drop(spawn, tmp_path, chroot, monkeypatch):
    nobody = pwd.getpwnam("nobody")
    if chroot:
        # LeakSanitizer reads /proc at exit, which a chroot hides (a
        # sanitizer build would fail on that, not on a leak).
        monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "")
                           + ":detect_leaks=0")
    root = tmp_path / "proot"
    write_file(root / "pub.txt", b"world-readable\n")
    os.chmod(root, 0o755)
    os.chmod(root / "pub.txt", 0o644)
    args = ["--user", "nobody"] + (["--chroot"] if chroot else [])
    s = spawn(root=root, args=args)
    status = open("/proc/%d/status" % s.pid).read()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    assert uids == (str(nobody.pw_uid),) * 3, status
    assert re.search(r"^CapEff:\s+0+$", status, re.M), status
    if chroot:
        assert os.readlink("/proc/%d/root" % s.pid) == str(root)
    c = s.login()
    got, (code, _) = retr(c, "pub.txt")
    assert code == 226 and got == b"world-readable\n"
    c.close()
    assert "event=privileges-dropped" in s.log()


def test_root_refused_unless_allowed(ferryd_bin, tmp_path):
    """As root with no user to drop to, ferryd refuses to start (exit 1,
    a clear reason) unless --allow-root says so."""
    if os.geteuid() != 0:
        pytest.skip("not root")
    port = free_port()
    p = subprocess.run([ferryd_bin, "--root", str(tmp_path), "--listen",
                        "127.0.0.1:%d" % port], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=20)
    assert p.returncode != 0
    assert b"refusing to run as root" in p.stderr, p.stderr
    # and nothing was left listening
    probe = socket.socket()
    try:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        probe.close()


def test_allow_root_runs_and_says_so(spawn, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("not root")
    s = spawn(root=tmp_path)          # the fixture passes --allow-root as root
    c = s.login()
    c.close()
    assert "event=running-as-root" in s.log()

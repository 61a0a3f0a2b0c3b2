"""ferry, the command-line client, driven from the outside.

Every scripted session runs against vsftpd (started here on loopback with
its own configuration in a temporary folder) and against ferryd; a small
FTP server written below stands in for the old and the misbehaving
servers that neither of them is (no FEAT, no EPSV, DOS listings, a
transfer cut short, a server that stops answering).  The interactive
prompt is driven through a pseudo-terminal.

Environment: FERRY (required) and FERRYD (optional) name the binaries;
meson's test() sets both.
"""

import hashlib
import os
import pty
import pwd
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import termios
import fcntl
import threading
import time
from pathlib import Path

import pytest

FERRY = os.environ.get("FERRY", "")
FERRYD = os.environ.get("FERRYD", "")


def _find_vsftpd():
    for cand in (shutil.which("vsftpd"), "/usr/sbin/vsftpd", "/sbin/vsftpd"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


VSFTPD = _find_vsftpd()

# Exit statuses, as `ferry --help` documents them.
OK, PROTO, USAGE, CONNECT, LOGIN, NOTFOUND, PERM, XFER, TIMEOUT, LOCAL = range(10)
INTERRUPTED = 130

BIG_SIZE = 2 * 1024 * 1024
RUN_TIMEOUT = 60

if not (FERRY and os.access(FERRY, os.X_OK)):
    pytest.exit("FERRY must name the ferry binary (meson test sets it)", returncode=1)


# --------------------------------------------------------------------------
# helpers


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def wait_greeting(host, port, proc=None, timeout=10.0):
    """Wait until the server at host:port sends its 220; False if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            time.sleep(0.05)
    return False


class Result:
    def __init__(self, cp):
        self.rc = cp.returncode
        self.out = cp.stdout.decode("utf-8", "replace")
        self.err = cp.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return f"<rc={self.rc} out={self.out!r} err={self.err!r}>"


def client_env(home):
    env = dict(os.environ)
    env["HOME"] = str(home)
    env["LC_ALL"] = "C"
    env.pop("FERRY_PASSWORD", None)
    return env


def ferry(*args, cwd, stdin=None, env=None, timeout=RUN_TIMEOUT):
    cp = subprocess.run([FERRY, *[str(a) for a in args]], cwd=cwd,
                        input=stdin.encode() if isinstance(stdin, str) else stdin,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        env=env or client_env(cwd), timeout=timeout)
    return Result(cp)


def wait_for(cond, timeout=15.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def stop_process_group(proc):
    """Stop a server started here in its own session, children included."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    else:
        try:                       # children of a parent already gone
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------
# servers


def pub_of(server):
    """The remote path of pub/ as PWD shows it."""
    return server.home.rstrip("/") + "/pub"


def populate(root):
    """The same tree on every server."""
    (root / "hello.txt").write_bytes(b"hello\n")
    (root / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    (root / "pub").mkdir()
    (root / "pub" / "inner.txt").write_bytes(b"inside pub\n")
    (root / "with space.txt").write_bytes(b"spaced\n")


class VsftpdServer:
    name = "vsftpd"

    def __init__(self, base, ipv6=False, extra=None):
        self.base = base
        self.chroot = base / "root"
        self.chroot.mkdir(parents=True)
        # Anonymous sessions run as 'ftp' and vsftpd refuses a chroot they
        # can write to, so the tree lives one level down, in w/, which
        # 'ftp' owns; ro/ stays root's, so that uploads there are refused.
        self.root = self.chroot / "w"
        self.root.mkdir()
        (self.chroot / "ro").mkdir()
        self.home = "/w"
        self.login_dir = "/"
        self.top = "w/"
        empty = base / "empty"
        empty.mkdir()
        self.host = "::1" if ipv6 else "127.0.0.1"
        self.port = free_port(socket.AF_INET6 if ipv6 else socket.AF_INET, self.host)
        pasv = 20000 + (os.getpid() * 7 + self.port) % 20000
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self.ftp_uid = pwd.getpwnam("ftp").pw_uid
                self.ftp_gid = pwd.getpwnam("ftp").pw_gid
            except KeyError:
                pytest.skip("vsftpd's anonymous user 'ftp' does not exist")
            os.chown(self.root, self.ftp_uid, self.ftp_gid)
            mode = ["allow_writeable_chroot=YES", f"secure_chroot_dir={empty}"]
        else:
            # Without root vsftpd cannot chroot or change user: it serves
            # anonymous sessions as the user who started it, from anon_root.
            (self.chroot / "ro").chmod(0o555)
            mode = ["run_as_launching_user=YES"]
            self.home = str(self.root)       # PWD shows the real path
            self.login_dir = str(self.chroot)
        listen = (["listen=NO", "listen_ipv6=YES", f"listen_address6={self.host}"]
                  if ipv6 else ["listen=YES", "listen_ipv6=NO",
                                f"listen_address={self.host}"])
        conf = listen + [
            f"listen_port={self.port}",
            "background=NO",
            "anonymous_enable=YES",
            "local_enable=NO",
            "write_enable=YES",
            "anon_upload_enable=YES",
            "anon_mkdir_write_enable=YES",
            "anon_other_write_enable=YES",
            "anon_umask=022",
            f"anon_root={self.chroot}",
            "no_anon_password=YES",
            "pasv_enable=YES",
            f"pasv_min_port={pasv}",
            f"pasv_max_port={pasv + 200}",
            "seccomp_sandbox=NO",
            "xferlog_enable=NO",
            "syslog_enable=NO",
            f"vsftpd_log_file={base / 'vsftpd.log'}",
            "ftpd_banner=vsftpd for ferry tests",
        ] + mode + (extra or [])
        self.conf = base / "vsftpd.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.log = open(base / "stderr.log", "wb")
        self.proc = subprocess.Popen([VSFTPD, str(self.conf)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_greeting(self.host, self.port, self.proc):
            self.stop()
            raise RuntimeError("vsftpd did not start: " +
                               (base / "stderr.log").read_text(errors="replace"))

    def hostport(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self, path=""):
        return f"ftp://{self.hostport()}/w/{path}"

    def refused_url(self, name):
        """Where an upload is refused."""
        return f"ftp://{self.hostport()}/ro/{name}"

    def give(self, path):
        """Make a file the test wrote belong to the server's user."""
        if self.as_root:
            os.chown(path, self.ftp_uid, self.ftp_gid)

    def stop(self):
        stop_process_group(self.proc)
        self.log.close()


class FerrydServer:
    name = "ferryd"

    def __init__(self, base, write=True, root=None, extra=(), host="127.0.0.1"):
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.root = root or base / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.home = "/"
        self.login_dir = "/"
        self.top = ""
        self.readonly = None
        self.extra = list(extra)
        for _ in range(3):           # a free port may be taken meanwhile
            self.port = free_port(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            args = [FERRYD, "--root", str(self.root), "--listen",
                    f"{self.hostport()}"] + (["--write", "--anon-write"] if write else []) + \
                (["--allow-root"] if os.geteuid() == 0 else []) + self.extra
            self.log = open(base / f"ferryd-{self.port}.log", "wb")
            self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            if wait_greeting(self.host, self.port, self.proc):
                return
            self.stop()
        raise RuntimeError("ferryd did not start: " +
                           (base / f"ferryd-{self.port}.log").read_text(errors="replace"))

    def hostport(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self, path=""):
        return f"ftp://{self.hostport()}/{path}"

    def refused_url(self, name):
        # ferryd refuses every change unless --write: a second, read-only
        # ferryd on the same root.
        if self.readonly is None:
            self.readonly = FerrydServer(self.base / "ro", write=False, root=self.root)
        return self.readonly.url(name)

    def give(self, path):
        pass

    def stop(self):
        if self.readonly is not None:
            self.readonly.stop()
            self.readonly = None
        stop_process_group(self.proc)
        self.log.close()


def have_ferryd():
    return bool(FERRYD) and os.access(FERRYD, os.X_OK)


def start_server(kind, base, **kw):
    if kind == "vsftpd":
        if VSFTPD is None:
            pytest.skip("vsftpd is not installed (Debian: apt-get install vsftpd)")
        return VsftpdServer(base, **kw)
    if not have_ferryd():
        pytest.skip("ferryd is not built")
    return FerrydServer(base, **kw)


@pytest.fixture(params=["vsftpd", "ferryd"])
def server(request, tmp_path):
    s = start_server(request.param, tmp_path / request.param)
    populate(s.root)
    for p in [s.root, *s.root.rglob("*")]:
        s.give(p)
    yield s
    s.stop()


@pytest.fixture
def local(tmp_path):
    d = tmp_path / "local"
    d.mkdir()
    return d


class ScriptedServer:
    """A tiny FTP server whose behaviour the test picks.

    modes: "legacy"  no FEAT, refuses EPSV and MLSD, answers PASV with an
                     address that is not its own, DOS-style LIST, no SIZE
           "modern"  FEAT with MLST, EPSV, SIZE; MLSD listings
           "short"   like modern, but RETR sends half the file and says 226
           "abort"   like modern, but RETR sends half the file and says 426
           "mute"    greets, then never answers
           "silent"  accepts connections and never greets
    """

    FILES = {"hello.txt": b"hello\n", "data.bin": bytes(range(256)) * 400}

    def __init__(self, mode):
        self.mode = mode
        self.commands = []
        self.uploads = {}
        self.stopping = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, path=""):
        return f"ftp://127.0.0.1:{self.port}/{path}"

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _data_listener(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        ls.settimeout(10)
        return ls

    def _session(self, conn):
        with conn:
            conn.settimeout(15)
            if self.mode == "silent":
                self.stopping.wait(30)
                return
            conn.sendall(b"220 scripted server\r\n")
            f = conn.makefile("rb")
            data_ls = None
            modern = self.mode != "legacy"

            def reply(text):
                conn.sendall(text.encode() + b"\r\n")

            def data_conn():
                d, _ = data_ls.accept()
                d.settimeout(10)
                return d

            try:
                for raw in f:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    cmd, _, arg = line.partition(" ")
                    cmd = cmd.upper()
                    self.commands.append(line)
                    if self.mode == "mute":
                        continue
                    if cmd == "USER":
                        reply("331 password please")
                    elif cmd == "PASS":
                        reply("230 logged in")
                    elif cmd == "FEAT":
                        if modern:
                            reply("211-Features:\r\n EPSV\r\n MLST type*;size*;modify*;\r\n"
                                  " SIZE\r\n REST STREAM\r\n211 End")
                        else:
                            reply("502 FEAT not implemented")
                    elif cmd in ("TYPE", "NOOP"):
                        reply("200 ok")
                    elif cmd == "PWD":
                        reply('257 "/" is the current directory')
                    elif cmd == "CWD":
                        reply("250 ok")
                    elif cmd == "EPSV" and modern:
                        data_ls = self._data_listener()
                        reply(f"229 Entering Extended Passive Mode (|||{data_ls.getsockname()[1]}|)")
                    elif cmd == "PASV":
                        data_ls = self._data_listener()
                        p = data_ls.getsockname()[1]
                        # Not the server's address: the client must use the
                        # control connection's instead.
                        reply(f"227 Entering Passive Mode (10,255,255,1,{p >> 8},{p & 255})")
                    elif cmd == "SIZE" and modern:
                        if arg in self.FILES:
                            reply(f"213 {len(self.FILES[arg])}")
                        else:
                            reply("550 No such file")
                    elif cmd == "LIST" or (cmd == "MLSD" and modern):
                        reply("150 Here comes the listing")
                        with data_conn() as d:
                            if cmd == "MLSD":
                                d.sendall(b"type=cdir;modify=20240102230500; .\r\n"
                                          b"type=file;size=6;modify=20240102230500; hello.txt\r\n"
                                          b"type=file;size=102400;modify=20240102230500; data.bin\r\n"
                                          b"type=dir;modify=20231127091600; sub dir\r\n")
                            else:
                                d.sendall(b"11-27-23  09:16AM       <DIR>          sub dir\r\n"
                                          b"01-02-24  11:05PM                    6 hello.txt\r\n"
                                          b"01-02-24  11:05PM               102400 data.bin\r\n")
                        reply("226 Listing sent")
                    elif cmd == "RETR":
                        body = self.FILES.get(arg)
                        if body is None:
                            reply("550 No such file")
                            continue
                        reply(f"150 Opening BINARY mode data connection for {arg} ({len(body)} bytes).")
                        with data_conn() as d:
                            if self.mode in ("short", "abort"):
                                d.sendall(body[:len(body) // 2])
                            else:
                                d.sendall(body)
                        if self.mode == "abort":
                            reply("426 Connection closed; transfer aborted.")
                        else:
                            reply("226 Transfer complete")
                    elif cmd == "STOR":
                        reply("150 Send it")
                        chunks = []
                        with data_conn() as d:
                            while True:
                                b = d.recv(65536)
                                if not b:
                                    break
                                chunks.append(b)
                        self.uploads[arg] = b"".join(chunks)
                        reply("226 Stored")
                    elif cmd == "QUIT":
                        reply("221 Bye")
                        return
                    else:
                        reply(f"502 {cmd} not implemented")
            except OSError:
                return


@pytest.fixture
def scripted(request):
    servers = []

    def make(mode):
        s = ScriptedServer(mode)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


# --------------------------------------------------------------------------
# the command line itself


def test_help_and_version(local):
    r = ferry("--version", cwd=local)
    assert r.rc == OK and re.match(r"ferry \d+\.\d+", r.out), r
    r = ferry("--help", cwd=local)
    assert r.rc == OK, r
    for word in ("ls URL", "get URL [LOCAL]", "put LOCAL URL", "Exit status",
                 "--continue", "login refused", "list [-1] [PATH]", "quit"):
        assert word in r.out, word


@pytest.mark.parametrize("args", [
    [],
    ["--bogus", "h"],
    ["frobnicate", "a", "b"],
    ["get"],
    ["get", "ftp://127.0.0.1:1/"],         # names no file
    ["ls", "http://127.0.0.1/"],
    ["ls", "ftp://127.0.0.1:99999/"],
    ["put", "only-one-arg"],
    ["--timeout", "0", "ls", "h"],
    ["--limit-rate", "fast", "ls", "h"],
])
def test_usage_errors(local, args):
    r = ferry(*args, cwd=local)
    assert r.rc == USAGE, r
    assert r.err, "a usage error says why"


def test_cannot_connect(local):
    r = ferry("ls", f"ftp://127.0.0.1:{free_port()}/", cwd=local)
    assert r.rc == CONNECT, r
    assert "Connection refused" in r.err


def test_no_greeting_times_out(local, scripted):
    s = scripted("silent")
    t0 = time.monotonic()
    r = ferry("--timeout", "1", "ls", s.url(), cwd=local)
    assert r.rc == CONNECT, r
    assert "no greeting" in r.err
    assert time.monotonic() - t0 < 20


def test_server_stops_answering(local, scripted):
    s = scripted("mute")
    r = ferry("--timeout", "1", "ls", s.url(), cwd=local)
    assert r.rc == TIMEOUT, r
    assert "no answer" in r.err


# --------------------------------------------------------------------------
# one-shot subcommands, against each server


def test_ls(server, local):
    r = ferry("ls", server.url(), cwd=local)
    assert r.rc == OK, r
    lines = r.out.splitlines()
    hello = [l for l in lines if l.endswith(" hello.txt")]
    assert hello and hello[0].split()[:2] == ["file", "6"], r.out
    assert any(l.startswith("dir") and l.endswith(" pub/") for l in lines), r.out
    assert any(l.endswith(" with space.txt") for l in lines), r.out
    assert any(l.split()[:2] == ["file", str(BIG_SIZE)] for l in lines), r.out

    r = ferry("-1", "ls", server.url("pub"), cwd=local)
    assert r.rc == OK and r.out.split() == ["inner.txt"], r

    r = ferry("ls", server.url("pub/"), cwd=local)
    assert r.rc == OK and "inner.txt" in r.out, r


def test_ls_pasv_only(server, local):
    r = ferry("--pasv", "-v", "ls", server.url(), cwd=local)
    assert r.rc == OK, r
    assert "-> PASV" in r.err and "-> EPSV" not in r.err, r.err
    assert "hello.txt" in r.out


def test_get(server, local):
    r = ferry("get", server.url("big.bin"), cwd=local)
    assert r.rc == OK, r
    assert sha256(local / "big.bin") == sha256(server.root / "big.bin")
    assert r.out == "" and r.err == "", "one-shot commands are quiet on success"

    r = ferry("get", server.url("hello.txt"), "renamed.txt", cwd=local)
    assert r.rc == OK, r
    assert (local / "renamed.txt").read_bytes() == b"hello\n"

    (local / "into").mkdir()
    r = ferry("get", server.url("pub/inner.txt"), "into", cwd=local)
    assert r.rc == OK, r
    assert (local / "into" / "inner.txt").read_bytes() == b"inside pub\n"

    r = ferry("get", server.url("with%20space.txt"), cwd=local)
    assert r.rc == OK, r
    assert (local / "with space.txt").read_bytes() == b"spaced\n"

    r = ferry("get", server.url("hello.txt"), "-", cwd=local)
    assert r.rc == OK and r.out == "hello\n", r

    assert not list(local.rglob("*.part"))


def test_get_missing(server, local):
    r = ferry("get", server.url("nope.txt"), cwd=local)
    assert r.rc == NOTFOUND, r
    assert "nope.txt" in r.err
    assert not (local / "nope.txt").exists() and not (local / "nope.txt.part").exists()


def test_get_local_permission(server, local):
    ro = local / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:
        # root writes anywhere; a missing folder still fails locally.
        r = ferry("get", server.url("hello.txt"), local / "missing" / "x", cwd=local)
        assert r.rc == NOTFOUND, r
    else:
        r = ferry("get", server.url("hello.txt"), ro / "x", cwd=local)
        assert r.rc == PERM, r


def test_cat(server, local):
    r = ferry("cat", server.url("hello.txt"), cwd=local)
    assert r.rc == OK and r.out == "hello\n", r
    r = ferry("cat", server.url("nope"), cwd=local)
    assert r.rc == NOTFOUND, r


def test_put(server, local):
    src = local / "up.bin"
    src.write_bytes(os.urandom(300000))
    r = ferry("put", src, server.url("up.bin"), cwd=local)
    assert r.rc == OK, r
    assert sha256(server.root / "up.bin") == sha256(src)

    r = ferry("put", "up.bin", server.url("pub/"), cwd=local)
    assert r.rc == OK, r
    assert sha256(server.root / "pub" / "up.bin") == sha256(src)

    r = ferry("put", "up.bin", server.url(), cwd=local)     # no path: same name
    assert r.rc == OK, r

    r = ferry("put", "-", server.url("from-stdin.txt"), cwd=local, stdin="piped\n")
    assert r.rc == OK, r
    assert (server.root / "from-stdin.txt").read_bytes() == b"piped\n"
    r = ferry("put", "-", server.url(), cwd=local, stdin="x")
    assert r.rc == USAGE, r

    r = ferry("put", "missing.bin", server.url("x.bin"), cwd=local)
    assert r.rc == NOTFOUND, r
    r = ferry("put", local, server.url("x.bin"), cwd=local)
    assert r.rc == USAGE, r


def test_put_refused(server, local):
    (local / "f.txt").write_bytes(b"data\n")
    r = ferry("put", "f.txt", server.refused_url("f.txt"), cwd=local)
    assert r.rc == PERM, r
    assert "permission denied" in r.err


def test_remote_file_commands(server, local):
    u = server.url
    assert ferry("mkdir", u("newdir"), cwd=local).rc == OK
    assert (server.root / "newdir").is_dir()
    r = ferry("size", u("big.bin"), cwd=local)
    assert r.rc == OK and r.out.strip() == str(BIG_SIZE), r
    r = ferry("mv", u("hello.txt"), server.top + "newdir/moved.txt", cwd=local)
    assert r.rc == OK, r
    assert (server.root / "newdir" / "moved.txt").read_bytes() == b"hello\n"
    assert ferry("rm", u("newdir/moved.txt"), cwd=local).rc == OK
    assert not (server.root / "newdir" / "moved.txt").exists()
    assert ferry("rmdir", u("newdir"), cwd=local).rc == OK
    assert not (server.root / "newdir").exists()

    for args in (("rm", u("nope")), ("rmdir", u("nope")), ("mv", u("nope"), "x"),
                 ("size", u("nope"))):
        r = ferry(*args, cwd=local)
        assert r.rc == NOTFOUND, (args, r)


def test_login_refused(server, local):
    env = client_env(local)
    env["FERRY_PASSWORD"] = "wrong"
    r = ferry("ls", f"ftp://bob@{server.hostport()}/", cwd=local, env=env)
    assert r.rc == LOGIN, r
    assert "login refused" in r.err
    r = ferry("ls", f"ftp://bob:secret@{server.hostport()}/", cwd=local)
    assert r.rc == LOGIN, r


# --------------------------------------------------------------------------
# resume and verification


def start_slow(args, cwd):
    return subprocess.Popen([FERRY, "--limit-rate", "256k", *[str(a) for a in args]],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=client_env(cwd))


def kill_hard(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stderr.close()


def test_resume_after_killed_download(server, local):
    part = local / "big.bin.part"
    p = start_slow(["get", server.url("big.bin")], local)
    try:
        assert wait_for(lambda: part.exists() and part.stat().st_size >= 100000), \
            "the download should be under way"
    finally:
        kill_hard(p)
    have = part.stat().st_size
    assert 0 < have < BIG_SIZE
    assert not (local / "big.bin").exists(), "an incomplete file never gets the real name"

    r = ferry("-c", "-v", "get", server.url("big.bin"), cwd=local)
    assert r.rc == OK, r
    assert f"-> REST {have}" in r.err, r.err
    assert sha256(local / "big.bin") == sha256(server.root / "big.bin")
    assert not part.exists()


def test_resume_truncated_local_file(server, local):
    assert ferry("get", server.url("big.bin"), cwd=local).rc == OK
    with open(local / "big.bin", "r+b") as f:
        f.truncate(12345)
    r = ferry("--continue", "-v", "get", server.url("big.bin"), cwd=local)
    assert r.rc == OK, r
    assert "-> REST 12345" in r.err, r.err
    assert sha256(local / "big.bin") == sha256(server.root / "big.bin")

    # Complete already: nothing is fetched.
    r = ferry("-c", "-v", "get", server.url("big.bin"), cwd=local)
    assert r.rc == OK and "-> RETR" not in r.err, r

    # Larger than the remote file: refuse rather than guess.
    with open(local / "big.bin", "ab") as f:
        f.write(b"extra")
    r = ferry("-c", "get", server.url("big.bin"), cwd=local)
    assert r.rc == XFER, r


def test_resume_upload(server, local):
    src = local / "up.bin"
    src.write_bytes(os.urandom(BIG_SIZE))
    # A partial upload on the server, as a broken transfer leaves it.
    remote = server.root / "up.bin"
    remote.write_bytes(src.read_bytes()[:300000])
    server.give(remote)
    r = ferry("-c", "-v", "put", "up.bin", server.url("up.bin"), cwd=local)
    assert r.rc == OK, r
    assert f"-> SIZE {server.top}up.bin" in r.err, r.err
    assert f"-> APPE {server.top}up.bin" in r.err, r.err
    assert sha256(remote) == sha256(src)

    # And after a killed upload, whatever the server kept of it.
    remote.unlink()
    p = start_slow(["put", "up.bin", server.url("up.bin")], local)
    time.sleep(1.5)
    kill_hard(p)
    # Let the server finish writing what it received before asking SIZE.
    sizes = []

    def settled():
        sizes.append(remote.stat().st_size if remote.exists() else -1)
        return len(sizes) > 5 and len(set(sizes[-5:])) == 1
    assert wait_for(settled, 10, 0.1)
    r = ferry("-c", "put", "up.bin", server.url("up.bin"), cwd=local)
    assert r.rc == OK, r
    assert wait_for(lambda: remote.exists() and sha256(remote) == sha256(src), 10)


def test_interrupted_one_shot_transfers(server, local):
    p = start_slow(["get", server.url("big.bin")], local)
    assert wait_for(lambda: (local / "big.bin.part").exists())
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == INTERRUPTED, err
    assert b"interrupted" in err and b"big.bin.part" in err
    assert not (local / "big.bin").exists()

    # A cancelled upload ends with a reset, not the end of stream that
    # would tell the server the file is complete.
    (local / "up.bin").write_bytes(os.urandom(BIG_SIZE))
    p = start_slow(["put", "up.bin", server.url("up.bin")], local)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == INTERRUPTED, err
    if server.name == "ferryd":
        # ferryd keeps an upload out of sight until it is complete.
        time.sleep(0.5)
        assert not (server.root / "up.bin").exists()


def test_size_mismatch_is_a_broken_transfer(local, scripted):
    s = scripted("short")
    r = ferry("get", s.url("data.bin"), cwd=local)
    assert r.rc == XFER, r
    assert not (local / "data.bin").exists()
    assert (local / "data.bin.part").stat().st_size == 51200

    s = scripted("abort")
    r = ferry("get", s.url("data.bin"), "other.bin", cwd=local)
    assert r.rc == XFER, r
    assert "426" in r.err
    assert not (local / "other.bin").exists()


# --------------------------------------------------------------------------
# servers of other kinds


def test_legacy_server_fallbacks(local, scripted):
    s = scripted("legacy")
    r = ferry("-v", "ls", s.url(), cwd=local)
    assert r.rc == OK, r
    # EPSV refused, so PASV; its foreign address ignored; DOS LIST parsed.
    assert "-> EPSV" in r.err and "-> PASV" in r.err and "-> LIST" in r.err, r.err
    lines = r.out.splitlines()
    assert any(l.startswith("dir") and l.endswith(" sub dir/") for l in lines), r.out
    assert any(l.split()[:2] == ["file", "6"] and l.endswith(" hello.txt") for l in lines), r.out

    # No SIZE: the "(N bytes)" of the 150 reply checks the download.
    r = ferry("-v", "get", s.url("data.bin"), cwd=local)
    assert r.rc == OK, r
    assert "-> SIZE" not in r.err
    assert (local / "data.bin").read_bytes() == ScriptedServer.FILES["data.bin"]

    (local / "up.txt").write_bytes(b"legacy upload\n")
    assert ferry("put", "up.txt", s.url("up.txt"), cwd=local).rc == OK
    assert s.uploads["up.txt"] == b"legacy upload\n"
    # Resuming an upload needs SIZE, which this server lacks.
    r = ferry("-c", "put", "up.txt", s.url("up.txt"), cwd=local)
    assert r.rc == PROTO and "SIZE" in r.err, r


def test_mlsd_when_offered(local, scripted):
    s = scripted("modern")
    r = ferry("-v", "ls", s.url(), cwd=local)
    assert r.rc == OK, r
    assert "-> MLSD" in r.err and "-> LIST" not in r.err
    assert "2024-01-02 23:05  hello.txt" in r.out, r.out
    assert any(l.endswith(" sub dir/") for l in r.out.splitlines())
    assert " ." not in r.out, "the cdir entry is not listed"

    r = ferry("-v", "--no-mlsd", "ls", s.url(), cwd=local)
    assert r.rc == OK and "-> LIST" in r.err, r


def test_ipv6(local, tmp_path):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    servers = []
    try:
        if VSFTPD is not None:
            servers.append(VsftpdServer(tmp_path / "v6", ipv6=True))
        if have_ferryd():
            servers.append(FerrydServer(tmp_path / "f6", host="::1"))
        if not servers:
            pytest.skip("neither vsftpd nor ferryd is available")
        for s in servers:
            populate(s.root)
            r = ferry("-v", "ls", s.url(), cwd=local)
            assert r.rc == OK and "hello.txt" in r.out, (s.name, r)
            assert "-> EPSV" in r.err
            r = ferry("get", s.url("big.bin"), f"{s.name}.bin", cwd=local)
            assert r.rc == OK, (s.name, r)
            assert sha256(local / f"{s.name}.bin") == sha256(s.root / "big.bin")
    finally:
        for s in servers:
            s.stop()


# --------------------------------------------------------------------------
# the prompt, scripted through a pipe


def test_prompt_every_command(server, local):
    (local / "sub").mkdir()
    (local / "sub" / "local.txt").write_bytes(b"from the prompt\n")
    script = "\n".join([
        "# comments and blank lines are skipped",
        "",
        "help",
        "help get",
        "? mv",
        "lcd sub",
        "lpwd",
        "pwd",
        "ls",
        "cd pub",
        "pwd",
        "list -1",
        "get inner.txt",
        "get inner.txt \"copy of inner.txt\"",
        "put local.txt",
        "size local.txt",
        "cat local.txt",
        "mkdir newdir",
        "mv local.txt newdir/moved.txt",
        "ls newdir",
        "rm newdir/moved.txt",
        "rmdir newdir",
        "quote NOOP",
        "cd",
        "pwd",
        "bye",
        "pwd",            # not reached
    ]) + "\n"
    r = ferry(server.url(), cwd=local, stdin=script)
    assert r.rc == OK, r
    out = r.out
    assert "get [-c] REMOTE [LOCAL]" in out            # help
    assert "mv FROM TO" in out                         # ? mv
    assert f"local directory now {local / 'sub'}" in out
    assert f"\n{local / 'sub'}\n" in out               # lpwd
    assert out.count(f"\n{pub_of(server)}\n") == 1      # pwd after cd pub
    assert "\ninner.txt\n" in out                      # list -1
    assert "from the prompt\n" in out                  # cat
    assert "\n16\n" in out                             # size
    assert " moved.txt\n" in out                       # ls newdir
    assert "200" in out                                # quote NOOP
    assert out.endswith(f"\n{server.login_dir}\n"), "cd with no argument goes to the login directory"
    assert "\r" not in out
    assert (local / "sub" / "inner.txt").read_bytes() == b"inside pub\n"
    assert (local / "sub" / "copy of inner.txt").read_bytes() == b"inside pub\n"
    assert not (server.root / "pub" / "newdir").exists()
    assert not (server.root / "pub" / "local.txt").exists()
    assert "bytes received" in out and "bytes sent" in out


@pytest.mark.parametrize("word", ["quit", "exit", "bye"])
def test_prompt_quit_words(server, local, word):
    r = ferry(server.url(), cwd=local, stdin=f"pwd\n{word}\npwd\n")
    assert r.rc == OK and r.out == f"{server.home}\n", r


def test_prompt_end_of_input(server, local):
    r = ferry(server.url("pub"), cwd=local, stdin="pwd\n")
    assert r.rc == OK and r.out == f"{pub_of(server)}\n", r


def test_prompt_script_stops_at_first_error(server, local):
    r = ferry(server.url(), cwd=local, stdin="get nope.txt\npwd\n")
    assert r.rc == NOTFOUND, r
    assert r.out == "", "nothing runs after the failing command"

    r = ferry(server.url(), cwd=local, stdin="-get nope.txt\npwd\n")
    assert r.rc == OK and r.out == f"{server.home}\n", r

    for line, status in (("frobnicate", USAGE), ("get", USAGE), ('get "open', USAGE),
                         ("list -z", USAGE), ("rm nope", NOTFOUND),
                         ("lcd /no/such/dir", NOTFOUND)):
        r = ferry(server.url(), cwd=local, stdin=line + "\npwd\n")
        assert r.rc == status, (line, r)
        assert r.err.startswith("ferry: ") or r.err.startswith("usage: "), (line, r)


def test_prompt_reconnects_after_idle_timeout(tmp_path, local):
    servers = []
    try:
        if VSFTPD is not None:
            servers.append(VsftpdServer(tmp_path / "v", extra=["idle_session_timeout=1"]))
        if have_ferryd():
            servers.append(FerrydServer(tmp_path / "f", extra=["--idle-timeout", "1"]))
        if not servers:
            pytest.skip("neither vsftpd nor ferryd is available")
        for s in servers:
            populate(s.root)
            p = subprocess.Popen([FERRY, s.url()], cwd=local, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=client_env(local))
            try:
                p.stdin.write(b"cd pub\npwd\n")
                p.stdin.flush()
                time.sleep(3)            # the server's idle timeout is 1 s
                out, err = p.communicate(b"pwd\n", timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            assert p.returncode == OK, (s.name, out, err)
            assert out.decode() == f"{pub_of(s)}\n" * 2, (s.name, out, err)
            assert b"reconnecting" in err
    finally:
        for s in servers:
            s.stop()


# --------------------------------------------------------------------------
# the prompt on a terminal


class Terminal:
    """ferry on a pseudo-terminal, 100 columns wide."""

    def __init__(self, args, cwd):
        env = client_env(cwd)
        env["TERM"] = "xterm"
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.chdir(cwd)
                os.execve(FERRY, [FERRY, *args], env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.buf = b""
        self.status = None

    def send(self, data):
        os.write(self.fd, data)

    def expect(self, pattern, timeout=15):
        """Read until pattern (a bytes regex) matches what came since the
        last match; return the text up to and including the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                got, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"expected {pattern!r}, got {self.buf!r}")
            r, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"ferry ended; expected {pattern!r}, got {self.buf!r}")
                self.buf += data

    def at_prompt(self, rx, timeout=15):
        """Wait for the prompt, then for libedit to put the terminal in raw
        mode: keys typed earlier are read as a cooked line (libedit reads
        typeahead that way), and editing keys would not edit."""
        got = self.expect(rx, timeout)
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
            if time.monotonic() > deadline:
                raise AssertionError("the terminal never left canonical mode")
            time.sleep(0.01)
        return got

    def wait(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Drain the terminal so that ferry never blocks writing to it.
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    self.buf += os.read(self.fd, 65536)
                except OSError:
                    pass
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return self.status
        raise AssertionError("ferry did not exit")

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


def prompt_rx(path):
    return b"ferry:" + re.escape(path.encode()) + b"> "
LEFT, RIGHT, UP = b"\x1b[D", b"\x1b[C", b"\x1b[A"
BACKSPACE, CTRL_A, CTRL_C, CTRL_D, CTRL_E = b"\x7f", b"\x01", b"\x03", b"\x04", b"\x05"


def test_terminal_prompt_and_editing(server, local):
    PROMPT, PROMPT_PUB = prompt_rx(server.home), prompt_rx(pub_of(server))
    t = Terminal([server.url()], local)
    try:
        t.expect(rb"Type 'help' for the commands")
        t.at_prompt(PROMPT)
        # Backspace: "pwdx" becomes "pwd".
        t.send(b"pwdx" + BACKSPACE + b"\r")
        t.expect(b"\r\n" + re.escape(server.home.encode()) + b"\r\n")
        t.at_prompt(PROMPT)
        # Ctrl-A goes to the start of the line: "d pub" becomes "cd pub".
        t.send(b"d pub" + CTRL_A + b"c\r")
        t.at_prompt(PROMPT_PUB)
        # Arrows: "pdw", left, backspace, end, "d" gives "pwd".
        t.send(b"pdw" + LEFT + BACKSPACE + CTRL_E + b"d\r")
        t.expect(b"\r\n" + re.escape(pub_of(server).encode()) + b"\r\n")
        t.at_prompt(PROMPT_PUB)
        # History: up recalls "pwd".
        t.send(UP + b"\r")
        t.expect(b"\r\n" + re.escape(pub_of(server).encode()) + b"\r\n")
        t.at_prompt(PROMPT_PUB)
        # Tab completes a command name.
        t.send(b"mkd\ttabdir\r")
        t.at_prompt(PROMPT_PUB)
        assert (server.root / "pub" / "tabdir").is_dir()
        # An unknown command is a clear error, and the prompt goes on.
        t.send(b"frobnicate\r")
        t.expect(rb"unknown command 'frobnicate'; type 'help'")
        t.at_prompt(PROMPT_PUB)
        # Ctrl-C drops the line being typed.
        t.send(b"rm inner.txt" + CTRL_C)
        t.at_prompt(PROMPT_PUB)
        t.send(b"ls\r")
        t.expect(rb"inner\.txt")
        t.at_prompt(PROMPT_PUB)
        assert (server.root / "pub" / "inner.txt").exists()
        t.send(b"quit\r")
        assert t.wait() == OK
    finally:
        t.close()
    history = (local / ".ferry_history").read_text()
    assert "pwd" in history and "quit" in history


def test_terminal_progress_bar_and_interrupt(server, local):
    PROMPT = prompt_rx(server.home)
    t = Terminal(["--limit-rate", "512k", server.url()], local)
    try:
        t.at_prompt(PROMPT)
        t.send(b"get big.bin\r")
        # The bar appears after about a second and redraws in place.
        bar = t.expect(rb"big\.bin \[=*>? *\] +\d+%.*?/s  ETA \d+:\d\d", timeout=20)
        assert b"\r" in bar
        final = t.expect(rb"100%.*?in 0:0\d", timeout=30)
        assert b"ETA" not in final.split(b"\r")[-1]
        t.expect(rb"big\.bin: 2097152 bytes received")
        t.at_prompt(PROMPT)
        assert sha256(local / "big.bin") == sha256(server.root / "big.bin")

        # Ctrl-C stops a transfer, keeps what came, and the prompt goes on.
        t.send(b"get big.bin copy.bin\r")
        t.expect(rb"copy\.bin|big\.bin \[", timeout=20)
        time.sleep(0.5)
        t.send(CTRL_C)
        t.expect(rb"interrupted; \d+ bytes kept in copy\.bin\.part", timeout=20)
        t.at_prompt(PROMPT)
        assert not (local / "copy.bin").exists()
        kept = (local / "copy.bin.part").stat().st_size
        assert 0 < kept < BIG_SIZE
        t.send(b"pwd\r")
        t.expect(b"\r\n" + re.escape(server.home.encode()) + b"\r\n")
        t.send(b"get -c big.bin copy.bin\r")
        t.expect(rf"copy\.bin: resumed at byte {kept}".encode(), timeout=30)
        t.at_prompt(PROMPT)
        assert sha256(local / "copy.bin") == sha256(server.root / "big.bin")
        t.send(CTRL_D)
        assert t.wait() == OK
    finally:
        t.close()


def test_quiet_and_no_terminal_means_no_bar(server, local):
    r = ferry("--limit-rate", "1m", "get", server.url("big.bin"), cwd=local)
    assert r.rc == OK and "%" not in r.err, r
    t = Terminal(["-q", "--limit-rate", "1m", "get", server.url("big.bin"), "q.bin"], local)
    try:
        assert t.wait(30) == OK
        assert b"%" not in t.buf, t.buf
    finally:
        t.close()


def test_password_is_asked_on_a_terminal(server, local):
    t = Terminal(["ls", f"ftp://someone@{server.hostport()}/"], local)
    try:
        t.expect(rb"Password for someone@")
        t.send(b"not-echoed\r")
        assert t.wait() == LOGIN
        assert b"not-echoed" not in t.buf
    finally:
        t.close()

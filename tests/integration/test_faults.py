"""Faults: a full disk, a server out of descriptors, a crash in the
middle of fifty uploads, and the malformed-session corpus kept as files
in sessions/ (its README describes the format).

Every test runs once per model; the disk, the crash and the corpus ask
the same of each.  Where the models differ:

- Descriptors.  ferryd runs with RLIMIT_NOFILE 64, soft and hard (its
  own raise at start-up cannot lift a hard limit).  The event-loop models
  and `thread` keep every client in one descriptor table: the surplus of
  a 300-connection flood gets a 421 line and a close, all of it, so the
  spare descriptor that lets ferryd refuse must survive the flood (in
  `thread`, client threads take descriptors meanwhile).  `fork` gives
  each client a process of its own with its own table, and the parent keeps
  no descriptor per client: all 300 are served and the parent's table
  stays flat.  `iterative` holds one client at a time and never nears
  the limit: the surplus waits in the listen backlog (no 421) and is
  served in turn once the first client leaves.  For every model the
  server's CPU time during the saturation (children included) must stay
  well under a core: a loop that retries accept() on EMFILE would burn
  one.  (Under FERRY_VALGRIND this test is skipped: it measures CPU.)
- Crash.  The whole process group gets SIGKILL (for `fork` the children
  too, as a service manager kills a unit whose main process died).
  `iterative` serves one upload at a time, so it crashes with one upload
  in flight instead of forty.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from ferrytest import (IO_TIMEOUT, SERIAL_MODELS, Ctrl, FtpError, Server,
                       Threads, make_tree, raise_nofile,
                       recv_all, sha256, temporaries, wait_until,
                       write_file)

HERE = os.path.dirname(os.path.abspath(__file__))
SESSIONS = os.path.join(HERE, "sessions")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- helpers ----------------------------------------------------------------

class LaunchedServer(Server):
    """A Server started behind launchers the shared fixture does not use:
    prlimit for a descriptor limit, setsid for a process group of its own
    (so that a crash can take every process of the server at once).  Both
    exec what they run, so the pid stays ferryd's; with FERRY_VALGRIND
    they go in front of valgrind, which refuses a lower limit for the
    program it runs."""

    def __init__(self, *args, nofile=None, own_group=False, **kw):
        super().__init__(*args, **kw)
        self.nofile = nofile
        self.own_group = own_group
        self.killed = False

    def _wrap(self, cmd):
        pre = []
        if self.nofile:
            pre += ["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile),
                    "--"]
        if self.own_group:
            pre.append("setsid")
        return pre + cmd

    def launch_command(self, port, attempt=0):
        base = getattr(Server, "launch_command", None)
        if base is None:
            return self.command(port)
        return self._wrap(base(self, port, attempt))

    def command(self, port):
        cmd = super().command(port)
        if hasattr(Server, "launch_command"):
            return cmd          # launch_command() wraps it
        return self._wrap(cmd)

    def crash(self):
        """SIGKILL to every process of the server's group."""
        assert self.own_group
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.killed = True
        self._log.close()
        assert wait_until(lambda: not group_members(self.proc.pid), 15), \
            "processes of the killed server remain: %r" % \
            group_members(self.proc.pid)


@pytest.fixture
def launch(ferryd_bin, logdir):
    """launch(root, model, args=..., nofile=..., own_group=...) -> a
    running LaunchedServer, stopped (checked) at the end of the test
    unless the test crashed it."""
    started = []
    for tool in ("prlimit", "setsid"):
        if not shutil.which(tool):
            pytest.skip("%s (util-linux) is not installed" % tool)

    def start(root, model, args=(), nofile=None, own_group=False,
              name="ferryd"):
        args = list(args)
        if "--log-level" not in args:
            args += ["--log-level", "info"]
        srv = LaunchedServer(ferryd_bin, root, logdir, model=model, args=args,
                             nofile=nofile, own_group=own_group, name=name)
        srv.start()
        started.append(srv)
        return srv
    yield start
    problems = []
    for srv in started:
        if srv.killed:
            problems += srv.sanitizer_reports()
            continue
        try:
            srv.stop_checked()
        except AssertionError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    return st[st.rfind(")") + 2:].split()


def group_members(pgid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            rest = proc_stat(int(name))
        except (OSError, ValueError):
            continue
        # a zombie the test runner has not reaped yet is gone already
        if int(rest[2]) == pgid and rest[0] != "Z":
            out.append(int(name))
    return out


def cpu_seconds(srv):
    """CPU time of ferryd and its live children, reaped ones included."""
    rest = proc_stat(srv.pid)
    ticks = sum(int(rest[i]) for i in (11, 12, 13, 14))
    for pid, _ in srv.children():
        try:
            rest = proc_stat(pid)
        except OSError:
            continue
        ticks += int(rest[11]) + int(rest[12])
    return ticks / CLK_TCK


def free_bytes(path):
    st = os.statvfs(str(path))
    return st.f_bavail * st.f_frsize


def stor(c, name, payload, chunk=64 * 1024):
    """STOR over a new data connection; the server may close it early (a
    full disk ends the upload while the client still sends).  Returns
    the final reply (or the first one, when it refuses at once)."""
    data = c.open_data()
    code, lines = c.do("STOR " + name)
    if code not in (125, 150):
        data.close()
        return code, lines
    try:
        for off in range(0, len(payload), chunk):
            data.sendall(payload[off:off + chunk])
    except OSError:
        pass
    data.close()
    return c.reply()


def retr(c, name):
    got, (code, lines) = c.transfer_in("RETR " + name)
    assert code == 226, lines
    return got


def first_line(sock, timeout):
    """What a fresh connection hears first: b"220", b"421", "eof" (closed
    without a word) or "timeout"."""
    sock.settimeout(timeout)
    buf = b""
    try:
        while b"\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                return "eof" if not buf else buf[:3]
            buf += chunk
    except socket.timeout:
        return "timeout"
    except ConnectionResetError:
        return "eof"
    return buf[:3]


def first_lines(socks, timeout):
    """first_line() of each socket, all within one bounded wait."""
    deadline = time.monotonic() + timeout
    return [first_line(s, max(0.1, deadline - time.monotonic()))
            for s in socks]


def closed_soon(sock, timeout):
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def ctrl_on(sock, srv):
    """A control client on a connection whose banner was already read."""
    c = Ctrl.__new__(Ctrl)
    c.host, c.family, c.sock, c.buf = srv.host, srv.family, sock, b""
    sock.settimeout(IO_TIMEOUT)
    return c


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def serves(srv, files):
    """One full session: login, a verified download, a listing."""
    c = srv.login(timeout=IO_TIMEOUT)
    try:
        assert sha256(retr(c, "small.bin")) == sha256(files["small.bin"])
        got, (code, lines) = c.transfer_in("LIST")
        assert code == 226 and b"hello.txt" in got, lines
        assert c.do("QUIT")[0] == 221
    finally:
        c.close()


def eventually_serves(srv, files, timeout=30.0):
    """serves(), retried while the server still frees what the previous
    clients held; the last failure is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            serves(srv, files)
            return
        except (FtpError, EOFError, OSError, AssertionError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


# -- disk full --------------------------------------------------------------

TMPFS_SIZE = "2m"


@pytest.fixture
def tmpfs(tmp_path):
    """A 2 MiB tmpfs mounted for the test; unmounted at the end (after the
    server that serves it stopped: tests list this fixture first)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%s,mode=0755" % TMPFS_SIZE, "tmpfs", str(mnt)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s"
                    % p.stdout.decode("utf-8", "replace").strip())
    yield mnt
    if subprocess.run(["umount", str(mnt)]).returncode != 0:
        # still busy (a server that would not stop): detach it anyway
        subprocess.run(["umount", "-l", str(mnt)])


def test_disk_full(tmpfs, ferry, model):
    """Uploads larger than the disk: 452, nothing partial or hidden left,
    the space given back, an existing file intact; the same server goes
    on serving downloads and uploads that fit."""
    keep = os.urandom(300 * 1024)
    dl = os.urandom(200 * 1024)
    write_file(tmpfs / "keep.bin", keep)
    write_file(tmpfs / "dl.bin", dl)
    names = ["dl.bin", "keep.bin"]
    srv = ferry(root=tmpfs, write=True)
    free0 = free_bytes(tmpfs)
    too_big = os.urandom(4 << 20)

    def space_back():
        return wait_until(lambda: free_bytes(tmpfs) >= free0, 10)

    c = srv.login()
    try:
        code, lines = stor(c, "huge.bin", too_big)
        assert code == 452, lines
        # os.listdir shows dot files too: no hidden temporary either
        assert sorted(os.listdir(tmpfs)) == names
        assert (tmpfs / "keep.bin").read_bytes() == keep
        # nothing of the failed upload is held open
        assert space_back(), "%d bytes free, %d before the upload" % (
            free_bytes(tmpfs), free0)

        # over an existing file: the old content stays, whole
        code, lines = stor(c, "keep.bin", too_big)
        assert code == 452, lines
        assert (tmpfs / "keep.bin").read_bytes() == keep
        assert sorted(os.listdir(tmpfs)) == names
        assert space_back()

        # the same session goes on: a download, an upload that fits
        assert retr(c, "dl.bin") == dl
        fit = os.urandom(512 * 1024)
        code, lines = stor(c, "fit.bin", fit)
        assert code == 226, lines
        assert (tmpfs / "fit.bin").read_bytes() == fit

        # full again; DELE frees the space and an upload fits again
        code, lines = stor(c, "huge2.bin", too_big)
        assert code == 452, lines
        assert c.do("DELE fit.bin")[0] == 250
        code, lines = stor(c, "fit2.bin", fit)
        assert code == 226, lines
        assert (tmpfs / "fit2.bin").read_bytes() == fit
        names = sorted(names + ["fit2.bin"])
        free0 = free_bytes(tmpfs)

        # failures in a row leak neither space nor descriptors
        fds = srv.fd_count()
        for i in range(5):
            code, lines = stor(c, "again-%d.bin" % i, too_big)
            assert code == 452, lines
        assert space_back()
        assert srv.settled_fd_count(fds) <= fds
        assert sorted(os.listdir(tmpfs)) == names
        assert c.do("NOOP")[0] == 200
    finally:
        c.close()

    # a new client: downloads of what is there, whole
    c = srv.login()
    try:
        assert retr(c, "keep.bin") == keep
        assert retr(c, "fit2.bin") == fit
        assert retr(c, "dl.bin") == dl
        assert c.do("QUIT")[0] == 221
    finally:
        c.close()
    assert temporaries(tmpfs) == []


# -- out of descriptors -----------------------------------------------------

NOFILE = 64           # ferryd's limit, soft and hard
FLOOD = 300           # connections held open at once
PARKED = 3            # sessions holding a passive port when the table fills
CPU_WINDOW = 3.0      # seconds of saturation measured
CPU_SHARE_MAX = 0.15  # of one core; at rest ferryd takes ~0, a busy loop
                      # all the (shared) machine gives it


@pytest.mark.no_valgrind("measures ferryd's CPU time")
def test_out_of_descriptors(launch, model, tmp_path):
    """A connection flood against ferryd limited to 64 descriptors: the
    surplus refused cleanly (a 421 line or a close, never silence), no
    busy loop while the table is full, and full service once the clients
    have gone."""
    fd_flood(launch, model, tmp_path)


@pytest.mark.model_specific
def test_out_of_descriptors_two_workers(launch, model_probe, tmp_path):
    """The same with two event-loop workers sharing the process's
    descriptors: each has its own listener and table, the spares are a
    pool they share, and either may be the one that runs out."""
    ok, why = model_probe("libev")
    if not ok:
        pytest.skip(why)
    fd_flood(launch, "libev", tmp_path, ["--workers", "2"])


def fd_flood(launch, model, tmp_path, extra=()):
    raise_nofile(4096)
    root = tmp_path / "root"
    root.mkdir()
    files = make_tree(root)
    serial = model in SERIAL_MODELS
    # a long login timeout: sessions ending by it would free descriptors
    # and hide clients left waiting for want of a spare one
    srv = launch(root, model, nofile=NOFILE,
                 args=["--data-timeout", "2", "--login-timeout", "300"] + list(extra))
    base_fds = srv.fd_count()
    parked, datas, flood = [], [], []
    try:
        # Sessions that got a passive port before the table filled: the
        # client connects to it once the server has no descriptor left
        # to accept with (the server must wait, not spin, on it too).
        for _ in range(0 if serial else PARKED):
            c = srv.login(timeout=IO_TIMEOUT)
            parked.append((c, c.epsv()[1]))

        for _ in range(FLOOD):
            flood.append(socket.create_connection((srv.host, srv.port),
                                                  timeout=IO_TIMEOUT))
        if serial:
            heard = [first_line(flood[0], IO_TIMEOUT)]
            assert heard[0] == b"220", heard
            # the next one waits in the backlog, unanswered: no 421
            assert first_line(flood[1], 1.0) == "timeout"
        else:
            heard = first_lines(flood, IO_TIMEOUT)
            assert "timeout" not in heard, (
                "%d of %d connections heard nothing: neither served nor "
                "refused" % (heard.count("timeout"), FLOOD))
            served = [s for s, h in zip(flood, heard) if h == b"220"]
            refused = [s for s, h in zip(flood, heard) if h != b"220"]
            assert set(heard) <= {b"220", b"421", "eof"}, set(heard)
            if model == "fork":
                # a process per client, each with its own table; the
                # parent's does not grow with the clients
                assert not refused, "%d refused" % len(refused)
                assert srv.fd_count() < base_fds + 8, srv.fds()
            else:
                assert 0 < len(served) < NOFILE, len(served)
                assert b"421" in heard
                deadline = time.monotonic() + IO_TIMEOUT
                for s in refused:
                    assert closed_soon(s, max(0.1, deadline -
                                              time.monotonic())), \
                        "a refused client stays open"
            for c, port in parked:
                datas.append(socket.create_connection((srv.host, port),
                                                      timeout=IO_TIMEOUT))

        before = cpu_seconds(srv)
        t0 = time.monotonic()
        time.sleep(CPU_WINDOW)
        share = (cpu_seconds(srv) - before) / (time.monotonic() - t0)
        assert share < CPU_SHARE_MAX, (
            "ferryd used %.0f%% of a core while out of descriptors"
            % (share * 100))

        # while saturated, the sessions already in are served; what needs
        # a new descriptor is refused or waited for, never left hanging
        if serial:
            c = ctrl_on(flood[0], srv)
            c.login()
            assert c.do("NOOP")[0] == 200
            c.expect_ok("TYPE I")
            assert sha256(retr(c, "small.bin")) == \
                sha256(files["small.bin"])
        else:
            c = parked[0][0]
            assert c.do("NOOP")[0] == 200
            c.expect_ok("TYPE I")
            code, lines = c.do("RETR hello.txt")
            if code in (125, 150):
                datas[0].settimeout(IO_TIMEOUT)
                assert recv_all(datas[0]) == files["hello.txt"]
                code, lines = c.reply()
                assert code == 226, lines
            else:
                # no descriptor for the file (451), or the data
                # connection could not be accepted and the data timeout
                # (2 s) answers (425)
                assert code in (425, 451), lines
            assert parked[1][0].do("PWD")[0] == 257
            c = ctrl_on(served[0], srv)
            c.login()
            assert c.do("NOOP")[0] == 200
            code, lines = c.do("EPSV")
            assert code in (229, 425), lines
    finally:
        close_all(flood)
        close_all(datas)
        for c, _ in parked:
            c.close()

    eventually_serves(srv, files)
    if model == "fork":
        assert wait_until(lambda: not srv.children(), 20), srv.children()
    assert srv.settled_fd_count(base_fds, 20) <= base_fds, srv.fds()
    serves(srv, files)


# -- crash in the middle of uploads -----------------------------------------

UPLOADS = 50          # at once, for the models that serve clients at once
OVERWRITES = 15       # of them over an existing file
UPLOAD_SIZE = 300 * 1024
HALF = 128 * 1024     # what a stalled upload sends before the crash
LEFTOVERS = [".ferry-part.4242.1.00000000deadbeef",
             "dir/sub/.ferry-part.4242.2.00000000cafebabe"]


def hidden_files(root):
    """Files under root named as ferry names its upload temporaries."""
    return sorted(os.path.relpath(os.path.join(d, n), str(root))
                  for d, _, names in os.walk(str(root)) for n in names
                  if n.startswith(".ferry-part."))


def has_o_tmpfile(folder):
    """Can the file system of folder make files without a name?  Where it
    cannot, ferry's uploads in flight have hidden names."""
    try:
        fd = os.open(str(folder), os.O_TMPFILE | os.O_WRONLY, 0o600)
    except OSError:
        return False
    os.close(fd)
    return True


def upload_plan(serial):
    """[(name, old content or None, new content, completes)]: uploads
    that complete before the crash, and ones still in flight at it."""
    plan = []
    n = 3 if serial else UPLOADS
    for i in range(n):
        if serial:
            over, done = i != 1, i < 2     # old done, new done, old stalled
        else:
            over, done = i < OVERWRITES, i % 5 == 0
        name = ("old-%02d.bin" if over else "new-%02d.bin") % i
        old = os.urandom(70000 + i) if over else None
        plan.append((name, old, os.urandom(UPLOAD_SIZE + i), done))
    return plan


def test_crash_mid_uploads(launch, spawn, model, tmp_path):
    """SIGKILL while uploads are in flight: no real name ever holds a
    partial file (every one holds its old content or the whole new one,
    or is absent), and a restart on the same root removes the hidden
    temporaries a crash can leave."""
    raise_nofile(4096)
    serial = model in SERIAL_MODELS
    root = tmp_path / "root"
    root.mkdir()
    files = make_tree(root)
    plan = upload_plan(serial)
    for name, old, new, done in plan:
        if old is not None:
            write_file(root / name, old)
    names_before = set(os.listdir(root))
    srv = launch(root, model, args=["--write", "--anon-write"], own_group=True)

    def begin(name):
        c = srv.login(timeout=30)
        d = c.open_data()
        c.cmd("STOR " + name)
        c.expect(125, 150)
        return c, d

    def send_slowly(d, data):
        for off in range(0, len(data), 16 * 1024):
            d.sendall(data[off:off + 16 * 1024])
            time.sleep(0.01)

    conns = []
    t = Threads()
    crashed = threading.Event()
    ready = threading.Semaphore(0)

    def run(c, d, new, done):
        send_slowly(d, new[:HALF])
        if done:
            send_slowly(d, new[HALF:])
            d.close()
            code, lines = c.reply()
            assert code == 226, lines
        ready.release()
        crashed.wait(120)

    try:
        if serial:
            # one client at a time: the finished uploads first, in turn,
            # then one left in flight
            for name, old, new, done in plan:
                c, d = begin(name)
                if done:
                    d.sendall(new)
                    d.close()
                    code, lines = c.reply()
                    assert code == 226, lines
                    c.close()
                else:
                    conns.append((c, d))
                    t.spawn(run, c, d, new, False)
            waiting = 1
        else:
            for name, old, new, done in plan:
                c, d = begin(name)
                conns.append((c, d))
            for (c, d), (name, old, new, done) in zip(conns, plan):
                t.spawn(run, c, d, new, done)
            waiting = len(plan)
        for _ in range(waiting):
            assert ready.acquire(timeout=120), "uploads did not get going"
        assert not t.errors, t.errors[:1]
        time.sleep(0.3)        # the halves reach the server's files
        srv.crash()
    finally:
        crashed.set()
        for c, d in conns:
            c.close()
            d.close()
        t.join(30)

    # every real name holds old or whole new content, or nothing
    crash_left = hidden_files(root)
    for name, old, new, done in plan:
        path = root / name
        if done:
            assert path.exists() and sha256(path.read_bytes()) == \
                sha256(new), name
        elif old is not None:
            assert path.read_bytes() == old, "%s changed by a crash" % name
        else:
            assert not path.exists(), "partial %s after a crash" % name
    # and no other name appeared
    assert set(os.listdir(root)) - set(crash_left) == \
        names_before | {p[0] for p in plan if p[3]}
    if has_o_tmpfile(root):
        # uploads in flight had no name at all
        assert crash_left == []

    # what a crash leaves on a file system without O_TMPFILE, and names
    # that only look alike
    for rel in LEFTOVERS:
        write_file(root / rel, b"partial")
    assert hidden_files(root) == sorted(LEFTOVERS + crash_left)
    write_file(root / "notes.ferry-part.txt", b"mine")
    os.mkdir(root / ".ferry-part.dir")

    again = spawn(root=root, model=model, write=True)
    assert hidden_files(root) == []
    # a folder of that name, and a file whose name only contains it, stay
    assert (root / ".ferry-part.dir").is_dir()
    assert (root / "notes.ferry-part.txt").read_bytes() == b"mine"
    m = re.search(r"event=cleaned-temporaries count=(\d+)", again.log())
    assert m and int(m.group(1)) == len(LEFTOVERS) + len(crash_left), \
        again.log()[-2000:]

    c = again.login()
    try:
        for name, old, new, done in plan:
            if done:
                assert sha256(retr(c, name)) == sha256(new)
            elif old is not None:
                assert retr(c, name) == old
            else:
                code, lines = stor(c, name, new)
                assert code == 226, lines
                assert sha256(retr(c, name)) == sha256(new)
        assert sha256(retr(c, "small.bin")) == sha256(files["small.bin"])
    finally:
        c.close()
    assert hidden_files(root) == []


# -- the malformed-session corpus -------------------------------------------

OUTSIDE = b"this file lies beside the root\n"
BIG_WRITE = 16 * 1024      # larger sends go through a writer thread


class ScriptError(Exception):
    pass


_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.S)
_SIMPLE = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0", b"s": b" ",
           b"\\": b"\\"}


def unescape(text):
    def one(m):
        e = m.group(1)
        if e[:1] == b"x" and len(e) == 3:
            return bytes([int(e[1:], 16)])
        if e not in _SIMPLE:
            raise ScriptError("unknown escape \\%s" % e.decode("latin-1"))
        return _SIMPLE[e]
    return _ESCAPE.sub(one, text.encode("latin-1"))


def parse_codes(words):
    out = []
    for w in words:
        if w != "closed" and not re.fullmatch(r"[1-5][0-9x][0-9x]", w):
            raise ScriptError("bad reply code %r" % w)
        out.append(w)
    if not out:
        raise ScriptError("no reply code")
    return out


def code_matches(code, wanted):
    text = "%03d" % code
    return any(w != "closed" and all(a == b or b == "x"
                                     for a, b in zip(text, w))
               for w in wanted)


def load_script(path, subst):
    """[(line number, verb, rest)] of a session file."""
    steps = []
    with open(path, encoding="latin-1") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip()
            if not line or line.startswith("#"):
                continue
            for k, v in subst.items():
                line = line.replace("${%s}" % k, v)
            verb, _, rest = line.partition(" ")
            steps.append((no, verb, rest))
    return steps


def read_reply(c):
    """(code, text) of one reply, checked for framing: no NUL, no CR
    before the line end, inner lines of a multi-line reply start with a
    space (so nothing a client sent can forge a reply line)."""
    first = c.readline()
    m = re.match(rb"^(\d{3})([ -])", first)
    if not m:
        raise ScriptError("malformed reply line %r" % first)
    lines = [first]
    if m.group(2) == b"-":
        end = m.group(1) + b" "
        while True:
            ln = c.readline()
            lines.append(ln)
            if ln.startswith(end):
                break
            if not ln.startswith(b" "):
                raise ScriptError("inner reply line without its leading "
                                  "space: %r" % ln)
    for ln in lines:
        if b"\r" in ln or b"\0" in ln:
            raise ScriptError("raw CR or NUL inside a reply line: %r" % ln)
    return int(m.group(1)), b"\n".join(lines).decode("latin-1")


class Runner:
    def __init__(self, srv, root):
        self.srv = srv
        self.root = str(root).encode()
        self.c = None
        self.data = None
        self.last = b""
        self.writer = None
        self.write_errors = []

    def connect(self):
        self.c = self.srv.connect(timeout=IO_TIMEOUT)
        code, _ = read_reply(self.c)
        if code != 220:
            raise ScriptError("banner %d" % code)

    def close(self, check=True):
        try:
            if check:
                self.join_writer()
        finally:
            for s in (self.data, self.c):
                if s is not None:
                    s.close()
            self.data = self.c = None

    def join_writer(self):
        if self.writer is not None:
            self.writer.join(60)
            if self.writer.is_alive():
                raise ScriptError("a write did not finish")
            self.writer = None
        if self.write_errors:
            raise ScriptError("write failed: %s" % self.write_errors[0])

    def send(self, data):
        self.join_writer()
        if len(data) <= BIG_WRITE:
            self.c.send(data)
            return

        def write():
            try:
                self.c.sock.sendall(data)
            except OSError as e:
                self.write_errors.append(e)
        # replies are read while a big write goes on: neither side blocks
        self.writer = threading.Thread(target=write, daemon=True)
        self.writer.start()

    def expect_closed(self):
        """The server closes the connection without another reply."""
        self.join_writer()
        if self.c.buf:
            raise ScriptError("expected a close, got %r" % self.c.buf)
        self.c.sock.settimeout(IO_TIMEOUT)
        try:
            chunk = self.c.sock.recv(4096)
        except ConnectionResetError:
            return
        except socket.timeout:
            raise ScriptError("the server kept the connection open")
        if chunk:
            raise ScriptError("expected a close, got %r" % chunk)

    def expect(self, wanted, regex=None):
        if "closed" in wanted:
            if wanted != ["closed"] or regex is not None:
                raise ScriptError("closed stands alone")
            self.expect_closed()
            return
        try:
            code, text = read_reply(self.c)
        except (EOFError, ConnectionResetError):
            raise ScriptError("connection closed, expected %s" % wanted)
        if not code_matches(code, wanted):
            raise ScriptError("expected %s, got %r" % (" ".join(wanted),
                                                       text))
        if regex is not None and not re.search(regex, text):
            raise ScriptError("reply %r does not match %r" % (text, regex))

    def path(self, rest):
        rel = unescape(rest)
        if rel.startswith(b"/") or b".." in rel.split(b"/"):
            raise ScriptError("paths in scripts stay inside the root")
        return os.path.join(self.root, rel)

    def step(self, verb, rest):
        if verb == "send":
            self.send(unescape(rest) + b"\r\n")
        elif verb == "raw":
            self.send(unescape(rest))
        elif verb == "repeat":
            n, _, text = rest.partition(" ")
            self.send(unescape(text) * int(n))
        elif verb == "expect":
            codes, _, regex = rest.partition(" ~ ")
            self.expect(parse_codes(codes.split()), regex or None)
        elif verb == "expect-cycle":
            n, _, slots = rest.partition(" ")
            slots = [parse_codes(s.split()) for s in slots.split("/")]
            for _ in range(int(n)):
                for wanted in slots:
                    self.expect(wanted)
        elif verb == "login":
            self.send(b"USER anonymous\r\n")
            self.expect(["331"])
            self.send(b"PASS ferry@example.org\r\n")
            self.expect(["230"])
        elif verb == "reconnect":
            self.close()
            self.connect()
        elif verb == "pasv":
            self.join_writer()
            if self.data is not None:
                self.data.close()
            self.c.cmd("EPSV")
            code, text = read_reply(self.c)
            if code != 229:
                raise ScriptError("EPSV: %r" % text)
            port = int(re.search(r"\(\|\|\|(\d+)\|\)", text).group(1))
            self.data = socket.create_connection((self.srv.host, port),
                                                 timeout=IO_TIMEOUT)
        elif verb == "upload":
            self.data.sendall(unescape(rest))
            self.data.close()
            self.data = None
        elif verb == "recv":
            self.last = recv_all(self.data)
            self.data.close()
            self.data = None
        elif verb == "data-lines":
            if self.last and not self.last.endswith(b"\r\n"):
                raise ScriptError("data does not end in CR LF")
            for ln in self.last.split(b"\r\n")[:-1]:
                if b"\r" in ln or b"\n" in ln or b"\0" in ln:
                    raise ScriptError("raw CR, LF or NUL in a data line: %r"
                                      % ln)
        elif verb == "data":
            op, _, regex = rest.partition(" ")
            found = re.search(regex, self.last.decode("latin-1"))
            if op not in ("~", "!~"):
                raise ScriptError("data takes ~ or !~")
            if bool(found) != (op == "~"):
                raise ScriptError("data %s %r fails: %r" % (
                    op, regex, self.last[:2000]))
        elif verb == "file":
            path, _, text = rest.partition(" ")
            with open(self.path(path), "wb") as f:
                f.write(unescape(text))
        elif verb == "exists":
            if not os.path.lexists(self.path(rest)):
                raise ScriptError("%s does not exist" % rest)
        elif verb == "absent":
            if os.path.lexists(self.path(rest)):
                raise ScriptError("%s exists" % rest)
        else:
            raise ScriptError("unknown step %r" % verb)


def session_files():
    return sorted(n for n in os.listdir(SESSIONS) if n.endswith(".ftp"))


@pytest.mark.parametrize("script", session_files())
def test_session_corpus(ferry, tmp_path, script):
    """One malformed session from sessions/: the replies it expects, then
    the server still serves, nothing changed beside the root, and the
    server never connected out."""
    base = tmp_path / "base"
    root = base / "root"
    root.mkdir(parents=True)
    files = make_tree(root)
    (base / "outside.txt").write_bytes(OUTSIDE)
    srv = ferry(root=root, write=True)
    bait = socket.socket()
    bait.bind(("127.0.0.1", 0))
    bait.listen(8)
    bport = bait.getsockname()[1]
    subst = {"BAIT_PORT": str(bport), "BAIT_P1": str(bport >> 8),
             "BAIT_P2": str(bport & 255)}
    run = Runner(srv, root)
    try:
        steps = load_script(os.path.join(SESSIONS, script), subst)
        run.connect()
        for no, verb, rest in steps:
            try:
                run.step(verb, rest)
            except (ScriptError, FtpError, EOFError, OSError) as e:
                raise AssertionError("%s:%d: %s %s: %s: %s" % (
                    script, no, verb, rest, type(e).__name__, e)) from None
        run.close()

        bait.setblocking(False)
        with pytest.raises(BlockingIOError):
            bait.accept()
    finally:
        run.close(check=False)
        bait.close()
    assert sorted(os.listdir(base)) == ["outside.txt", "root"]
    assert (base / "outside.txt").read_bytes() == OUTSIDE
    assert sorted(os.listdir(tmp_path)) == ["base"]
    assert temporaries(root) == []
    assert (root / "hello.txt").read_bytes() == files["hello.txt"]
    c = srv.login()
    try:
        assert c.do("NOOP")[0] == 200
        assert c.do("QUIT")[0] == 221
    finally:
        c.close()

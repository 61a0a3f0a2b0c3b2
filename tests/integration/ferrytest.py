"""Shared machinery for ferry's integration tests.

Starts the real ``ferryd`` on a free loopback port, waits for its 220
banner, stops it with SIGTERM and checks that it exited 0 with no
sanitizer report on stderr.  Also holds a small raw FTP control client
for the tests that must send bytes no well-behaved client would send.

With FERRY_VALGRIND set (``1`` for the valgrind on PATH, or the path of
a valgrind program), every ferryd runs under memcheck, and a server's
stop fails on any error memcheck reports for it or for a process it
forked: invalid accesses, uses of uninitialised memory, and blocks
definitely or indirectly lost at exit.
"""

import errno
import glob
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

# Every model the binary may know; FERRY_MODELS=all probes each one.
ALL_MODELS = ["libev", "libev-lt", "epoll", "poll", "select", "thread",
              "fork", "iterative"]
EVENT_LOOP_MODELS = {"libev", "libev-lt", "epoll", "poll", "select"}
# Models that serve one client at a time: tests whose point is two
# sessions at once are skipped for them.
SERIAL_MODELS = {"iterative"}


def needs_concurrent_sessions(model):
    import pytest
    if model in SERIAL_MODELS:
        pytest.skip("the %s model serves one client at a time" % model)

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:",
                      "LeakSanitizer", "ERROR: ThreadSanitizer",
                      "WARNING: ThreadSanitizer")


def _valgrind_program():
    """The valgrind to run ferryd under, or None: FERRY_VALGRIND unset,
    empty or 0 means none, 1 the one on PATH, anything else its path."""
    v = os.environ.get("FERRY_VALGRIND", "").strip()
    if v in ("", "0"):
        return None
    if v == "1":
        return shutil.which("valgrind") or "valgrind"
    return v


VALGRIND = _valgrind_program()

# ferryd exits 0, 1 or 2 by itself; this one is memcheck's verdict.
VALGRIND_ERROR_STATUS = 86

# Leaks count as errors only when nothing points at the block any more
# (definite) or only such a block does (indirect): what is still
# reachable at exit is memory a process may rightly keep to the end.
# ferryd links jemalloc, whose malloc memcheck must replace to see the
# heap at all: the soname synonym names its library (and matches nothing
# in a build without it).  A forked child stays under memcheck with no
# option and writes a log of its own (%p); --trace-children follows an
# exec, so that ferryd stays under memcheck behind a launcher a test puts
# in front of it (one that lowers RLIMIT_NOFILE must go in front of
# valgrind instead, see launch_command: valgrind refuses that change to
# the program it runs).  --vgdb=no: no FIFOs in /tmp, which a chroot or
# a dropped user could not clean up.  --fair-sched: threads take turns
# under valgrind's one big lock, and a busy worker must not starve the
# others.  FERRY_VALGRIND_OPTIONS adds options (a suppressions file,
# --gen-suppressions=all) when chasing a report.
VALGRIND_OPTIONS = [
    "--tool=memcheck",
    "--error-exitcode=%d" % VALGRIND_ERROR_STATUS,
    "--leak-check=full",
    "--show-leak-kinds=definite,indirect",
    "--errors-for-leak-kinds=definite,indirect",
    "--track-origins=yes",
    "--num-callers=40",
    "--soname-synonyms=somalloc=*jemalloc*",
    "--trace-children=yes",
    "--fair-sched=try",
    "--vgdb=no",
    "--track-fds=no",
]

# valgrind keeps the top descriptors below the soft limit it was started
# with for itself (its program sees a limit lower by as many), and 3.19
# leaves a stray duplicate of its log file open in the program too.
VALGRIND_RESERVED_FDS = 12

# Under valgrind ferryd starts in seconds rather than milliseconds, and
# its leak check takes a while at exit; the waits grow, and stay bounded.
START_TIMEOUT = 120.0 if VALGRIND else 20.0   # until the banner
STOP_TIMEOUT = 180.0 if VALGRIND else 30.0    # until exit after SIGTERM
IO_TIMEOUT = 90.0 if VALGRIND else 30.0       # test clients' sockets


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port that was free a moment ago.  Chosen below the ephemeral
    range, so that the thousands of client sockets the suite leaves in
    TIME_WAIT (and any other program's outgoing connections) never sit on
    it; racy by nature, so ferryd's start is retried on EADDRINUSE."""
    import random
    low = _ephemeral_low()
    for _ in range(200):
        if low > 12000:
            port = random.randrange(10000, low)
        else:
            port = 0
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
            return s.getsockname()[1]
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
        finally:
            s.close()
        time.sleep(0.05)
    raise OSError(errno.EADDRINUSE, "no free port found")


def wait_until(pred, timeout=10.0, interval=0.05):
    """Poll pred() until it is true or the timeout passes; return its last
    value.  Used to let the server settle, never to assert a duration."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


class ServerStartError(Exception):
    pass


class Server:
    """One ferryd process.  ``args`` are extra command-line arguments."""

    def __init__(self, binary, root, logdir, model=None, args=(),
                 ipv6=False, pass_fds=(), name="ferryd"):
        self.binary = binary
        self.root = str(root)
        self.model = model
        self.args = list(args)
        self.ipv6 = ipv6
        self.pass_fds = tuple(pass_fds)
        self.host = "::1" if ipv6 else "127.0.0.1"
        self.family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.proc = None
        self.port = None
        # pids of ferryd's processes a test killed with SIGKILL on purpose:
        # memcheck cannot write their summary (see valgrind_reports)
        self.killed_pids = set()
        self.expect_exit = False   # the test signalled it itself
        self.logpath = os.path.join(str(logdir), "%s-%d.log" % (
            name, int(time.monotonic() * 1e6)))
        # memcheck's logs of the current start attempt, one per process
        self.vg_pattern = None
        self.returncode = None

    # -- life cycle -----------------------------------------------------

    def command(self, port):
        listen = "[%s]:%d" % (self.host, port) if self.ipv6 else \
            "%s:%d" % (self.host, port)
        cmd = [self.binary, "--root", self.root, "--listen", listen]
        if self.model:
            cmd += ["--model", self.model]
        # As root, ferryd refuses to run without a user to drop to unless
        # told; tests that test the drop itself pass --user.
        if os.geteuid() == 0 and "--user" not in self.args:
            cmd.append("--allow-root")
        return cmd + self.args

    def launch_command(self, port, attempt=0):
        """The argv that starts ferryd: command(port), under valgrind
        when FERRY_VALGRIND asks for it, with memcheck's logs beside
        ferryd's own (one per start attempt and process).  A launcher
        that valgrind cannot run in front of ferryd (prlimit lowering
        RLIMIT_NOFILE) goes in front of what this returns instead."""
        cmd = self.command(port)
        if not VALGRIND:
            self.vg_pattern = None
            return cmd
        stem = self.logpath[:-len(".log")]
        self.vg_pattern = "%s.vg%d.*.log" % (stem, attempt)
        extra = os.environ.get("FERRY_VALGRIND_OPTIONS", "").split()
        return ([VALGRIND] + VALGRIND_OPTIONS + extra +
                ["--log-file=%s.vg%d.%%p.log" % (stem, attempt)] + cmd)

    def start(self):
        last = ""
        if VALGRIND:
            # ferryd raises its descriptor limit to the hard limit, but
            # valgrind only lets it go as high as the soft limit it was
            # started with (keeping a few above that for itself): raise
            # it here, so that ferryd gets what it would get alone.
            import resource
            raise_nofile(resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        for attempt in range(8):
            port = free_port(self.family, self.host)
            self._log = open(self.logpath, "ab")
            self.proc = subprocess.Popen(
                self.launch_command(port, attempt), stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=self._log,
                pass_fds=self.pass_fds, close_fds=True)
            self.port = port
            ok, why = self._wait_ready()
            if ok:
                return self
            last = why
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
            if "in use" not in self.log().lower():
                break
        vg = "".join("\n--- memcheck %s ---\n%s" % (p, _vg_excerpt(p, 4000))
                     for p in self.valgrind_logs().values())
        raise ServerStartError(
            "ferryd did not start (%s): %s\n--- log ---\n%s%s"
            % (" ".join(self.command(self.port)), last, self.log()[-4000:],
               vg))

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return False, "exited with status %d" % rc
            try:
                s = socket.create_connection((self.host, self.port),
                                             timeout=2.0)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                line = s.makefile("rb").readline()
            except OSError:
                line = b""
            finally:
                s.close()
            if line.startswith(b"220"):
                return True, ""
            time.sleep(0.05)
        return False, "no 220 banner within %.0f s" % START_TIMEOUT

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal ferryd and wait.  Returns (status, problems) where
        problems lists what is wrong with the way it ended.  sig=None:
        the test already signalled it; just wait."""
        problems = []
        if self.proc is None:
            return None, problems
        if sig is None or self.expect_exit:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append("did not exit within %.0f s" % timeout)
                self.proc.kill()
                self.proc.wait()
        elif self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append("did not exit within %.0f s of signal %d"
                                % (timeout, sig))
                self.proc.kill()
                self.proc.wait()
        else:
            problems.append("had already exited (status %d) before the "
                            "test stopped it" % self.proc.returncode)
        self.returncode = self.proc.returncode
        if VALGRIND and self.returncode == VALGRIND_ERROR_STATUS:
            problems.append("memcheck found errors (exit status %d)"
                            % self.returncode)
        elif not problems and self.returncode != 0:
            problems.append("exit status %d after signal %s"
                            % (self.returncode, sig))
        self._log.close()
        problems += self.sanitizer_reports()
        problems += self.valgrind_reports()
        return self.returncode, problems

    def stop_checked(self):
        rc, problems = self.stop()
        if problems:
            raise AssertionError("ferryd %s: %s\n--- log tail ---\n%s" % (
                " ".join(self.command(self.port)), "; ".join(problems),
                self.log()[-6000:]))
        return rc

    # -- inspection -----------------------------------------------------

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_reports(self):
        text = self.log()
        return ["sanitizer report in stderr: %r" % p
                for p in SANITIZER_PATTERNS if p in text]

    def valgrind_logs(self):
        """{pid: path} of memcheck's logs for this server: ferryd's own
        and one per process it forked."""
        out = {}
        if not self.vg_pattern:
            return out
        for path in glob.glob(self.vg_pattern):
            m = _VG_LOG_RE.search(path)
            if m:
                out[int(m.group(1))] = path
        return out

    def valgrind_reports(self):
        """What memcheck found, one problem per process: any error in its
        ERROR SUMMARY (definite and indirect leaks count as errors), or
        no summary at all, which means valgrind never finished (only a
        SIGKILL stops it from writing one; a ferryd the test killed that
        way is excused, as are the pids in killed_pids; the processes it
        forked are not)."""
        problems = []
        main = self.proc.pid if self.proc is not None else None
        killed = self.returncode == -signal.SIGKILL
        for pid, path in sorted(self.valgrind_logs().items()):
            # a forked child may still be finishing after ferryd exits
            wait_until(lambda: _vg_summary(path) is not None or
                       not os.path.exists("/proc/%d" % pid),
                       STOP_TIMEOUT, 0.2)
            errors = _vg_summary(path)
            who = "ferryd" if pid == main else "ferryd's child %d" % pid
            if errors is None:
                if (pid == main and killed) or pid in self.killed_pids:
                    continue
                what = "memcheck left no ERROR SUMMARY for %s (killed " \
                       "by SIGKILL?): %s" % (who, path)
            elif errors:
                what = "memcheck: %d errors in %s: %s" % (errors, who, path)
            else:
                continue
            # the reports of the first few; a hundred forked sessions
            # failing alike need not repeat them
            if len(problems) < 3:
                what += "\n" + _vg_excerpt(path)
            problems.append(what)
        return problems

    @property
    def pid(self):
        return self.proc.pid

    def fd_count(self):
        return len(self.fds())

    def fds(self):
        return open_fds(self.pid)

    def thread_count(self):
        return len(os.listdir("/proc/%d/task" % self.pid))

    def children(self):
        """(pid, state) of every process whose parent is ferryd."""
        kids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    stat = f.read()
            except OSError:
                continue
            # the command name may hold spaces and parentheses
            rest = stat[stat.rfind(")") + 2:].split()
            if int(rest[1]) == self.pid:
                kids.append((int(name), rest[0]))
        return kids

    def settled_fd_count(self, target, timeout=10.0):
        """Wait for the fd count to come back down to target; return the
        last count seen."""
        last = [None]

        def done():
            last[0] = self.fd_count()
            return last[0] <= target
        wait_until(done, timeout, 0.1)
        return last[0]

    # -- clients --------------------------------------------------------

    def connect(self, timeout=IO_TIMEOUT):
        return Ctrl(self.host, self.port, self.family, timeout)

    def login(self, timeout=IO_TIMEOUT, binary=True):
        """A logged-in raw control connection (in TYPE I unless told)."""
        c = self.connect(timeout)
        c.expect(220)
        c.login()
        if binary:
            c.expect_ok("TYPE I")
        return c

    def url(self, path="/"):
        h = "[%s]" % self.host if self.ipv6 else self.host
        return "ftp://%s:%d%s" % (h, self.port, path)

    def ftplib(self, login=True, timeout=IO_TIMEOUT):
        import ftplib
        f = ftplib.FTP(timeout=timeout)
        f.connect(self.host, self.port)
        if login:
            f.login()
        return f


_VG_LOG_RE = re.compile(r"\.vg\d+\.(\d+)\.log$")   # group: the pid


def proc_tcp_sockets():
    """The TCP sockets of /proc/net/tcp and tcp6, as tuples (state,
    local port, remote port, bytes queued to send, inode); state in the
    kernel's hex ("01" established, "0A" listening)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as fh:
                next(fh)
                for line in fh:
                    f = line.split()
                    yield (f[3], int(f[1].rsplit(":", 1)[1], 16),
                           int(f[2].rsplit(":", 1)[1], 16),
                           int(f[4].split(":")[0], 16), f[9])
        except OSError:
            pass


def listening_inodes(port):
    """Socket inodes of the TCP listeners on a port (IPv4 and IPv6)."""
    return {inode for state, lport, _, _, inode in proc_tcp_sockets()
            if state == "0A" and lport == port}


def open_fds(pid):
    """{fd: target} of a process's open descriptors.  For a process under
    valgrind, valgrind's own are left out (they sit in the reserved range
    at the top, plus the stray copy of its log), so that counts compare
    with those of a plain ferryd."""
    out = {}
    d = "/proc/%d/fd" % pid
    for n in os.listdir(d):
        try:
            out[int(n)] = os.readlink(os.path.join(d, n))
        except OSError:
            pass
    top = _vg_fd_base(pid)
    if top is not None:
        out = {fd: t for fd, t in out.items()
               if fd < top and not _VG_LOG_RE.search(t)}
    return out


def _vg_fd_base(pid):
    """The first descriptor valgrind keeps for itself in process pid, or
    None when pid does not run under valgrind."""
    try:
        if "valgrind" not in os.readlink("/proc/%d/exe" % pid):
            return None
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3]) - VALGRIND_RESERVED_FDS
    except (OSError, ValueError, IndexError):
        pass
    return None


def _vg_read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


_VG_SUMMARY_RE = re.compile(r"^==\d+== ERROR SUMMARY: ([\d,]+) errors", re.M)


def _vg_summary(path):
    """The error count of a memcheck log, None while it has no summary."""
    m = _VG_SUMMARY_RE.search(_vg_read(path))
    return int(m.group(1).replace(",", "")) if m else None


def _vg_excerpt(path, limit=12000):
    """The reports of a memcheck log without its banner and heap
    statistics: what a reader needs to find the bug."""
    keep = []
    skip = ("Memcheck, a memory error detector", "Copyright (C)",
            "Using Valgrind-", "Command: ", "Parent PID: ",
            "For lists of detected", "rerun with -s", "HEAP SUMMARY",
            "in use at exit:", "total heap usage:", "All heap blocks",
            "LEAK SUMMARY", "definitely lost:", "indirectly lost:",
            "possibly lost:", "still reachable:", "suppressed:",
            "Reachable blocks", "To see them, rerun",
            # openat2, which valgrind 3.19 does not know (ferryd falls
            # back to resolving paths a component at a time), and the
            # boilerplate that follows
            "unhandled amd64-linux syscall: 437",
            "You may be able to write your own handler",
            "README_MISSING_SYSCALL_OR_IOCTL",
            "Nevertheless we consider this a bug",
            "valgrind.org/support/bug_reports.html")
    for line in _vg_read(path).splitlines():
        body = re.sub(r"^(==|--)\d+(==|--) ?", "", line)
        if any(k in body for k in skip):
            continue
        if not body.strip() and (not keep or not keep[-1].strip()):
            continue
        keep.append(body)
    text = "\n".join(keep).strip()
    if len(text) > limit:
        text = text[:limit] + "\n[... %d more characters in %s]" % (
            len(text) - limit, path)
    return text


class FtpError(Exception):
    pass


_IAC_RE = re.compile(rb"\xff[\xfb-\xfe].|\xff[\xf0-\xfa]", re.S)


class Ctrl:
    """A raw FTP control connection.  Replies are parsed by RFC 959's
    rules (multi-line blocks end with "NNN "); Telnet negotiation the
    server may send is dropped."""

    def __init__(self, host, port, family=socket.AF_INET,
                 timeout=IO_TIMEOUT):
        self.host = host
        self.family = family
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Close with RST instead of FIN, as a crashed client would."""
        reset_close(self.sock)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line.encode("utf-8", "surrogateescape")
                  if isinstance(line, str) else line)
        self.send(b"\r\n")

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("control connection closed by server")
        self.buf += _IAC_RE.sub(b"", chunk)

    def readline(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        """(code, [lines]) of the next reply."""
        first = self.readline()
        m = re.match(rb"^(\d{3})([ -])", first)
        if not m:
            raise FtpError("malformed reply line %r" % first)
        code = int(m.group(1))
        lines = [first]
        if m.group(2) == b"-":
            end = m.group(1) + b" "
            while True:
                ln = self.readline()
                lines.append(ln)
                if ln.startswith(end):
                    break
        return code, [ln.decode("utf-8", "replace") for ln in lines]

    def expect(self, *codes):
        code, lines = self.reply()
        if code not in codes:
            raise FtpError("expected %s, got %r" % (codes, lines))
        return code, lines

    def do(self, line):
        self.cmd(line)
        return self.reply()

    def expect_ok(self, line):
        code, lines = self.do(line)
        if not 200 <= code < 300:
            raise FtpError("%s: %r" % (line, lines))
        return code, lines

    def login(self, user="anonymous", password="ferry@example.org"):
        code, lines = self.do("USER " + user)
        if code == 331:
            code, lines = self.do("PASS " + password)
        if code != 230:
            raise FtpError("login failed: %r" % lines)

    def closed_by_peer(self, timeout=5.0):
        """True once the server has closed the connection (EOF or RST);
        any bytes still queued are read and discarded."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    # -- data connections --------------------------------------------

    def pasv(self):
        code, lines = self.do("PASV")
        if code != 227:
            raise FtpError("PASV: %r" % lines)
        m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", lines[-1])
        nums = [int(x) for x in m.groups()]
        return ".".join(map(str, nums[:4])), nums[4] * 256 + nums[5]

    def epsv(self):
        code, lines = self.do("EPSV")
        if code != 229:
            raise FtpError("EPSV: %r" % lines)
        m = re.search(r"\((.)\1\1(\d+)\1\)", lines[-1])
        return self.host, int(m.group(2))

    def open_data(self, timeout=IO_TIMEOUT):
        """EPSV (PASV on IPv4 when EPSV is refused) and connect."""
        try:
            host, port = self.epsv()
        except FtpError:
            host, port = self.pasv()
        s = socket.create_connection((self.host, port), timeout=timeout)
        return s

    def transfer_in(self, command, timeout=IO_TIMEOUT):
        """Run a command that sends data to us (RETR, LIST...); return
        (bytes, final reply)."""
        data = self.open_data(timeout)
        self.cmd(command)
        code, lines = self.reply()
        if code not in (125, 150):
            data.close()
            raise FtpError("%s: %r" % (command, lines))
        got = recv_all(data)
        data.close()
        return got, self.reply()

    def transfer_out(self, command, payload, timeout=IO_TIMEOUT):
        """Run a command that takes data from us (STOR, APPE)."""
        data = self.open_data(timeout)
        self.cmd(command)
        code, lines = self.reply()
        if code not in (125, 150):
            data.close()
            raise FtpError("%s: %r" % (command, lines))
        data.sendall(payload)
        data.close()
        return self.reply()


def recv_all(sock, limit=None):
    parts = []
    n = 0
    while limit is None or n < limit:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        parts.append(chunk)
        n += len(chunk)
    return b"".join(parts)


def reset_close(sock):
    """Close a socket with RST (SO_LINGER 0)."""
    import struct
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def run(cmd, timeout=300, check=True, cwd=None, env=None):
    """Run a client program; on failure show its output."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=cwd, env=env)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" % (
            " ".join(map(str, cmd)), p.returncode,
            p.stdout.decode("utf-8", "replace")[-3000:],
            p.stderr.decode("utf-8", "replace")[-3000:]))
    return p


class Threads:
    """Run callables in threads, collect their exceptions."""

    def __init__(self):
        self.threads = []
        self.errors = []
        self.lock = threading.Lock()

    def spawn(self, fn, *args):
        def body():
            try:
                fn(*args)
            except BaseException as e:  # noqa: B902 - reported below
                import traceback
                with self.lock:
                    self.errors.append("%s: %s\n%s" % (
                        type(e).__name__, e, traceback.format_exc()))
        t = threading.Thread(target=body, daemon=True)
        t.start()
        self.threads.append(t)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = sum(t.is_alive() for t in self.threads)
        return alive, self.errors


def raise_nofile(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def is_addr_in_use(exc):
    return isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE


# -- the file tree the tests serve ----------------------------------------

OLD_MTIME = 981173106          # 2001-02-03 04:05:06 UTC
TEXT = b"".join(b"line %d of a text file\n" % i for i in range(2000))


def write_file(path, data, mtime=None):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(str(path), (mtime, mtime))


def make_tree(root, big=False):
    """Fill root with the standard content; return {relpath: bytes}
    (big.bin, when asked for, is returned as its sha256 string only)."""
    root = str(root)
    rnd = os.urandom
    files = {
        "hello.txt": b"hello ferry\n",
        "text.txt": TEXT,
        "empty.bin": b"",
        "small.bin": rnd(100 * 1024),
        "medium.bin": rnd((1 << 20) + 7),
        "old.txt": b"written long ago\n",
        "dir/a.txt": b"a\n" * 100,
        "dir/sub/b.bin": rnd(33333),
        "dir/space name.txt": b"spaces are fine\n",
        "dir/\u00fcn\u00efc\u00f6d\u00e9.txt": "utf-8 name\n".encode(),
        "dir/sub/deeper/c.bin": rnd(4097),
    }
    for rel, data in files.items():
        write_file(os.path.join(root, rel), data,
                   OLD_MTIME if rel == "old.txt" else None)
    os.makedirs(os.path.join(root, "emptydir"), exist_ok=True)
    if big:
        path = os.path.join(root, "big.bin")
        h = hashlib.sha256()
        with open(path, "wb") as f:
            # 64 MiB: random megabytes with a few holes of zeros between
            for i in range(64):
                block = rnd(1 << 20) if i % 5 else b"\0" * (1 << 20)
                f.write(block)
                h.update(block)
        files["big.bin"] = h.hexdigest()
    return files


def tree_digest(root, skip=()):
    """{relpath: sha256} of every regular file below root; directories
    appear with the value "dir"."""
    out = {}
    root = str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = "dir"
        for n in filenames:
            r = os.path.normpath(os.path.join(rel, n))
            if r in skip:
                continue
            out[r] = sha256_file(os.path.join(dirpath, n))
    return out


def temporaries(root):
    """Names under root that look like ferry's hidden upload files."""
    found = []
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for n in filenames + dirnames:
            if n.startswith(".ferry-part") or ".ferry-part." in n:
                found.append(os.path.join(dirpath, n))
    return found


LS_RE = re.compile(
    r"^(?P<type>[-dlcbps])(?P<perm>[-rwxsStT]{9})[.+@]?\s+\d+\s+\S+\s+\S+\s+"
    r"(?P<size>\d+)\s+(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r"\s+(?P<day>\d{1,2})\s+(?P<when>\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)$")


def parse_ls(text):
    """Parse `ls -l` lines into {name: match}; fails on a line that does
    not parse (a "total N" line is allowed)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("total "):
            continue
        m = LS_RE.match(line)
        if not m:
            raise AssertionError("LIST line not in ls -l format: %r" % line)
        name = m.group("name").lstrip()
        if m.group("type") == "l" and " -> " in name:
            name = name.split(" -> ", 1)[0]
        out[name] = m
    return out

"""Slow clients do not stop a fast one, and their timeouts free them.

Two kinds of slow client are held against one ferryd at once:

* tricklers, which send their login and then NOOPs one byte a second;
* non-readers, which log in, open a passive data connection with a tiny
  receive buffer, send RETR of a 64 MiB file and never read a byte.

While they are all held, a fast client runs RETRs (64 MiB included), a
STOR read back, and a LIST, each checked by sha256 or by name, each
bounded.  Then the slow clients go quiet: the tricklers stop sending (half
at a command boundary, half in the middle of a command) and must see 421
and a close from the idle timeout; the non-readers' transfers must be cut
by the stalled-transfer timeout (426 on the control connection, the data
connection closed, the session still usable).  Finally ferryd's
descriptors (its threads for the thread model, its children for the fork
model) must come back to what they were before.

The 2,000 slow clients are non-blocking sockets driven by one selector
thread, so the test itself stays cheap.  Scale per model:

* the event-loop models and thread (a thread per client) hold the full
  1,000 + 1,000;
* fork holds 500 + 500: ferryd forks a child per client, and a fork costs
  15-30 ms on a loaded 2-core CI machine, so 2,000 clients take a minute
  just to be accepted and the module twice its time budget (the full
  2,000 pass, in about two minutes);
* select holds what FD_SETSIZE (1024) leaves room for: every descriptor
  ferryd holds (control, data, the open file) takes a number below 1024,
  and beyond that ferryd refuses the client with 421, which test_models.py
  checks;
* iterative serves one client at a time, so none of this applies;
* under valgrind (FERRY_VALGRIND) every model holds 100 + 100: memcheck
  slows ferryd twenty-fold, and the point there is the memory checking
  of the same paths, not the count.

A non-reader is also a memory question: whatever ferryd queues on a data
socket the client does not drain sits in the host's TCP memory.  The
first non-readers are a canary: if ferryd queues more than QUEUE_LIMIT
each, test_non_reader_send_queue_bounded fails, and the scale test holds
only as many non-readers as fit in HOST_QUEUE_BUDGET (with a warning),
rather than pushing a shared machine into TCP memory exhaustion.

Timeouts are ceilings for "it happened at all", never measurements: a
trickler completes a command every 6 s against a 15 s idle timeout, and
the fast client finishes long before the stall timeout (25 s, or 45 s for
fork, thread and memcheck) fires.
"""

import errno
import heapq
import io
import os
import re
import selectors
import shutil
import socket
import subprocess
import threading
import time
import warnings

import pytest

import ferrytest
from ferrytest import (make_tree, needs_concurrent_sessions, open_fds,
                       parse_ls, proc_tcp_sockets, raise_nofile, sha256,
                       wait_until)

TRICKLERS = 1000
NON_READERS = 1000
# select(): tricklers it holds; the non-readers then fill what is left
# below FD_SETSIZE (see select_scale).
SELECT_TRICKLERS = 250
# fork: a process per client (see the module's docstring)
FORK_TRICKLERS = 500
FORK_NON_READERS = 500
VALGRIND_SLOW_CLIENTS = 100     # of each kind, under memcheck
FD_SETSIZE = 1024

LOGIN_TIMEOUT = 60      # a trickled login takes about 18 s
IDLE_TIMEOUT = 15       # a trickled NOOP takes about 6 s
# The stall timeout must outlast holding the slow clients plus the fast
# client's work, which take a few seconds with the event loops; a fork or
# a thread per client, and memcheck, take longer to hold them.  (After the
# release the test waits for the longer of the stall timeout and the
# tricklers' way out: an 18 s login, a 6 s NOOP, then the idle timeout.)
STALL_TIMEOUT = 25
STALL_TIMEOUT_SLOW = 45


def stall_timeout(model):
    if model in ("fork", "thread") or ferrytest.VALGRIND:
        return STALL_TIMEOUT_SLOW
    return STALL_TIMEOUT

TRANSFER_LIMIT = 30.0   # each fast transfer, while the slow ones are held

SETUP_WINDOW = 50       # slow clients between connect() and steady state
CANARY = 16             # non-readers whose server-side queue is measured
QUEUE_LIMIT = 1 << 20   # bytes ferryd may queue for one non-reader
HOST_QUEUE_BUDGET = 256 << 20
DRAIN_LIMIT = 8 << 20   # bytes a non-reader may find after the 426
RCVBUF = 4096

REPLY_RE = re.compile(rb"^(\d{3})([ -])")


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    needs_concurrent_sessions(model)
    raise_nofile(16384)
    root = tmp_path_factory.mktemp("slow-root")
    files = make_tree(root, big=True)
    s = mod_spawn(root=root, model=model, write=True,
                  args=["--max-clients", "4000", "--max-per-ip", "4000",
                        "--login-timeout", str(LOGIN_TIMEOUT),
                        "--idle-timeout", str(IDLE_TIMEOUT),
                        "--stall-timeout", str(stall_timeout(model))])
    s.files = files
    s.rootpath = root
    s.model_name = model
    # Warm up (page cache, lazily made threads) so the baseline below is
    # what an idle ferryd holds.
    f = s.ftplib()
    f.retrbinary("RETR big.bin", lambda b: None)
    f.retrlines("LIST", lambda ln: None)
    f.quit()
    return s


# -- what ferryd holds -----------------------------------------------------

def stable(fn, timeout=20.0):
    """fn()'s value once three samples 0.2 s apart agree (bounded)."""
    seen = []

    def done():
        seen.append(fn())
        return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]
    wait_until(done, timeout, 0.2)
    return seen[-1]


def child_fds(srv):
    """{pid: descriptor count} of ferryd's children (fork model)."""
    out = {}
    for pid, state in srv.children():
        try:
            out[pid] = len(open_fds(pid))
        except OSError:
            out[pid] = 0        # exited while we looked
    return out


class Baseline:
    """ferryd at rest, and what one idle logged-in session adds to it."""

    def __init__(self, srv):
        self.fork = srv.model_name == "fork"
        if self.fork:           # an earlier test's sessions are gone
            wait_until(lambda: not srv.children(), 30, 0.2)
        self.fds = stable(srv.fd_count)
        self.threads = stable(srv.thread_count)
        c = srv.login()
        try:
            if self.fork:
                kids = stable(lambda: tuple(sorted(child_fds(srv).items())))
                assert len(kids) == 1, kids
                self.session_fds = kids[0][1]    # the child's own count
            else:
                self.session_fds = stable(srv.fd_count) - self.fds
        finally:
            c.close()
        assert wait_until(lambda: self.at_rest(srv), 20), self.describe(srv)

    def at_rest(self, srv):
        if srv.fd_count() > self.fds or srv.thread_count() > self.threads:
            return False
        return not self.fork or not srv.children()

    def describe(self, srv):
        return ("ferryd holds %d fds (baseline %d), %d threads (baseline "
                "%d), %d children" % (srv.fd_count(), self.fds,
                                      srv.thread_count(), self.threads,
                                      len(srv.children())))


# -- the server's end of a data connection ---------------------------------

def server_send_queues(pairs):
    """{(passive_port, client_port): bytes queued in ferryd's socket} for
    the data connections given as such pairs.  Both ports are needed: the
    kernel gives one ephemeral port to connections to different ports."""
    want = set(pairs)
    out = {}
    if shutil.which("ss"):
        flt = " or ".join("dport = :%d" % cp for cp in
                          sorted(set(cp for _, cp in want)))
        text = subprocess.run(["ss", "-tnH", "state", "established",
                               "( %s )" % flt], stdout=subprocess.PIPE,
                              universal_newlines=True, timeout=30).stdout
        for line in text.splitlines():
            f = line.split()
            if len(f) < 4:
                continue
            key = (int(f[2].rsplit(":", 1)[1]), int(f[3].rsplit(":", 1)[1]))
            if key in want:
                out[key] = int(f[1])
        return out
    for state, lport, rport, queued, _ in proc_tcp_sockets():   # no ss: slow
        if state == "01" and (lport, rport) in want:
            out[(lport, rport)] = queued
    return out


def settled_queues(pairs, timeout=10.0):
    """The queues once they stop growing (ferryd fills them at once;
    under load that may take a moment)."""
    seen = []

    def done():
        seen.append(server_send_queues(pairs))
        return len(seen) >= 2 and seen[-1] == seen[-2] and \
            len(seen[-1]) == len(pairs)
    wait_until(done, timeout, 0.5)
    return seen[-1]


def tcp_mem_max():
    try:
        with open("/proc/sys/net/ipv4/tcp_mem") as f:
            return int(f.read().split()[2]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# -- slow clients, driven by one selector thread ---------------------------

class Swarm:
    """A selector loop in one thread running many small client state
    machines.  Other threads only read client states and set flags;
    everything else happens in the loop."""

    def __init__(self, host, port):
        self.addr = (host, port)
        self.sel = selectors.DefaultSelector()
        self.timers = []
        self.seq = 0
        self.waiting = []            # not yet started (setup window)
        self.in_setup = 0
        self.clients = []
        self.errors = []
        self.lock = threading.Lock()
        self.release = False         # slow clients: go quiet now
        self.quit = False            # non-readers: QUIT now
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, clients):
        with self.lock:
            self.waiting.extend(clients)
            self.clients.extend(clients)

    def count(self, kind, *states):
        with self.lock:
            return sum(1 for c in self.clients
                       if isinstance(c, kind) and c.state in states)

    def of(self, kind):
        with self.lock:
            return [c for c in self.clients if isinstance(c, kind)]

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)

    def check(self):
        with self.lock:
            errs = list(self.errors)
        assert not errs, "%d slow clients failed; first: %s" % (
            len(errs), "\n".join(errs[:5]))

    def at(self, when, fn):
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, fn))

    def setup_finished(self):
        self.in_setup -= 1

    def stop(self):
        self.done.set()
        self.thread.join(30)
        for c in self.clients:
            c.close()
        self.sel.close()

    def _run(self):
        while not self.done.is_set():
            with self.lock:
                while self.waiting and self.in_setup < SETUP_WINDOW:
                    c = self.waiting.pop(0)
                    self.in_setup += 1
                    c.start()
            now = time.monotonic()
            delay = 0.05
            if self.timers:
                delay = max(0.0, min(delay, self.timers[0][0] - now))
            for key, mask in self.sel.select(delay):
                self._call(key.data, mask)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                self._call(fn)

    def _call(self, fn, *args):
        try:
            fn(*args)
        except Exception:       # a bug in a state machine: report it
            import traceback
            self.error(traceback.format_exc())


class Client:
    """A non-blocking FTP control connection with a reply parser."""

    def __init__(self, swarm, idx):
        self.swarm = swarm
        self.idx = idx
        self.sock = None
        self.rbuf = b""
        self.multi = None
        self.state = "waiting"
        self.in_setup = True

    def start(self):
        self.state = "connecting"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = self.sock.connect_ex(self.swarm.addr)
        if err not in (0, errno.EINPROGRESS):
            return self.fail("connect: %s" % os.strerror(err))
        self.swarm.sel.register(self.sock, selectors.EVENT_WRITE,
                                self._connected)

    def _connected(self, mask):
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return self.fail("connect: %s" % os.strerror(err))
        self.swarm.sel.modify(self.sock, selectors.EVENT_READ, self._readable)
        self.state = "banner"

    def _readable(self, mask):
        try:
            chunk = self.sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        except BlockingIOError:
            return
        if not chunk:
            return self.on_eof()
        self.rbuf += chunk
        while b"\n" in self.rbuf and self.state not in ("failed", "closed"):
            line, self.rbuf = self.rbuf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if self.multi is None:
                m = REPLY_RE.match(line)
                if not m:
                    return self.fail("malformed reply %r" % line)
                if m.group(2) == b"-":
                    self.multi = m.group(1) + b" "
                    continue
                self.on_reply(int(m.group(1)), line)
            elif line.startswith(self.multi):
                self.multi = None
                self.on_reply(int(line[:3]), line)

    def send(self, data):
        try:
            n = self.sock.send(data)
        except OSError as e:
            return self.fail("send %r: %s" % (data, e))
        if n != len(data):      # a few bytes into an empty buffer
            self.fail("short send of %r" % data)

    def setup_done(self):
        if self.in_setup:
            self.in_setup = False
            self.swarm.setup_finished()

    def fail(self, msg):
        if self.state in ("failed", "closed"):
            return
        self.swarm.error("%s %d (%s): %s" % (type(self).__name__, self.idx,
                                             self.state, msg))
        self.state = "failed"
        self.setup_done()
        self.close()

    def unregister(self, sock):
        try:
            self.swarm.sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def close(self):
        if self.sock is not None:
            self.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def on_eof(self):
        self.fail("control connection closed by ferryd")


class Trickler(Client):
    """Sends its login, then NOOPs, one byte a second.  Once released
    (and past at least one NOOP, so the idle timeout is what governs),
    an even one stops at a command boundary, an odd one after the first
    two bytes of a NOOP; either must then hear 421 and see the close."""

    LOGIN = [(b"USER ftp\r\n", 331), (b"PASS x\r\n", 230)]
    NOOP = (b"NOOP\r\n", 200)
    MAX_NOOPS = 40              # bounds the trickle if never released

    def __init__(self, swarm, idx):
        super().__init__(swarm, idx)
        self.script = list(self.LOGIN)
        self.cur = b""
        self.pos = 0
        self.expect = []
        self.noops = 0          # NOOPs answered
        self.code = None        # the reply cur calls for
        self.cut_short = idx % 2 == 1

    def on_reply(self, code, line):
        if self.state == "banner":
            if code != 220:
                return self.fail("banner %r" % line)
            self.state = "trickle"
            self.setup_done()
            # spread the tricklers over the second
            self.swarm.at(time.monotonic() + (self.idx % 10) / 10.0,
                          self.tick)
        elif self.state == "quiet" and code == 421:
            self.state = "told"
        elif self.expect and self.state in ("trickle", "quiet"):
            want = self.expect.pop(0)
            if code != want:
                return self.fail("expected %d, got %r" % (want, line))
            if want == 200:
                self.noops += 1
        else:
            self.fail("unexpected reply %r" % line)

    def on_eof(self):
        if self.state == "told":
            self.state = "closed"
            self.close()
        else:
            self.fail("closed by ferryd without 421")

    def tick(self):
        if self.state != "trickle":
            return
        if self.pos == len(self.cur):
            if self.script:
                self.cur, code = self.script.pop(0)
            elif (self.swarm.release and self.noops >= 1
                  and not self.expect) or self.noops >= self.MAX_NOOPS:
                if not self.cut_short:
                    self.state = "quiet"
                    return
                self.cur, code = b"NO", None      # and no more
            else:
                self.cur, code = self.NOOP
            self.pos = 0
            self.code = code
        self.send(self.cur[self.pos:self.pos + 1])
        self.pos += 1
        if self.pos == len(self.cur):
            if self.code is None:
                self.state = "quiet"
                return
            self.expect.append(self.code)
        self.swarm.at(time.monotonic() + 1.0, self.tick)


class NonReader(Client):
    """Logs in, opens a passive data connection with a tiny receive
    buffer, sends RETR of the big file and never reads it.  After the
    426 it checks that ferryd closed the data connection, that the
    session still answers, keeps it alive with a NOOP every few seconds,
    and QUITs when told."""

    STEPS = [(b"USER anonymous\r\n", 331), (b"PASS x\r\n", 230),
             (b"TYPE I\r\n", 200), (b"EPSV\r\n", 229)]
    KEEPALIVE = 5.0

    def __init__(self, swarm, idx):
        super().__init__(swarm, idx)
        self.step = -1
        self.data = None
        self.pasv_port = None
        self.client_port = None
        self.drained = 0

    def on_reply(self, code, line):
        st = self.state
        if st == "banner" or st == "login":
            want = 220 if st == "banner" else self.STEPS[self.step][1]
            if code != want:
                return self.fail("expected %d, got %r" % (want, line))
            if want == 229:
                m = re.search(rb"\((.)\1\1(\d+)\1\)", line)
                if not m:
                    return self.fail("EPSV reply %r" % line)
                return self.open_data(int(m.group(2)))
            self.state = "login"
            self.step += 1
            self.send(self.STEPS[self.step][0])
        elif st == "retr":
            if code not in (125, 150):
                return self.fail("RETR: %r" % line)
            self.state = "held"
            self.setup_done()
        elif st == "held":
            if code != 426:
                return self.fail("expected 426 from the stall timeout, "
                                 "got %r" % line)
            self.state = "draining"
            self.swarm.sel.register(self.data, selectors.EVENT_READ,
                                    self._drain)
        elif st == "noop":
            if code != 200:
                return self.fail("NOOP after the 426: %r" % line)
            self.state = "idle"
            self.swarm.at(time.monotonic() + self.KEEPALIVE, self.keepalive)
        elif st == "quitting":
            if code != 221:
                return self.fail("QUIT: %r" % line)
            self.state = "bye"
        else:
            self.fail("unexpected reply %r" % line)

    def open_data(self, port):
        self.pasv_port = port
        self.state = "data"
        self.data = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # before connect(), so the window is small from the first byte
        self.data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self.data.setblocking(False)
        err = self.data.connect_ex((self.swarm.addr[0], port))
        if err not in (0, errno.EINPROGRESS):
            return self.fail("data connect: %s" % os.strerror(err))
        self.swarm.sel.register(self.data, selectors.EVENT_WRITE,
                                self._data_connected)

    def _data_connected(self, mask):
        self.unregister(self.data)          # and never read it
        err = self.data.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return self.fail("data connect: %s" % os.strerror(err))
        self.client_port = self.data.getsockname()[1]
        self.state = "retr"
        self.send(b"RETR big.bin\r\n")

    def _drain(self, mask):
        try:
            chunk = self.data.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        except BlockingIOError:
            return
        if chunk:
            self.drained += len(chunk)
            if self.drained > DRAIN_LIMIT:
                self.fail("data connection still open after the 426 "
                          "(%d bytes read)" % self.drained)
            return
        self.unregister(self.data)
        self.data.close()
        self.data = None
        self.state = "noop"
        self.send(b"NOOP\r\n")

    def keepalive(self):
        if self.state != "idle":
            return
        if self.swarm.quit:
            self.state = "quitting"
            return self.send(b"QUIT\r\n")
        self.state = "noop"
        self.send(b"NOOP\r\n")

    def on_eof(self):
        if self.state == "bye":
            self.state = "closed"
            self.close()
        else:
            self.fail("control connection closed by ferryd")

    def close(self):
        if self.data is not None:
            self.unregister(self.data)
            self.data.close()
            self.data = None
        super().close()


# -- the fast client --------------------------------------------------------

def bounded(label, fn, durations):
    t0 = time.monotonic()
    result = fn()
    took = time.monotonic() - t0
    durations.append((label, took))
    assert took <= TRANSFER_LIMIT, (
        "%s took %.1f s beside the slow clients (limit %.0f s)"
        % (label, took, TRANSFER_LIMIT))
    return result


def fast_client(srv, tag):
    """RETRs of three sizes, a STOR read back, a LIST; every byte
    checked.  Returns [(label, seconds)]."""
    durations = []
    f = srv.ftplib(timeout=TRANSFER_LIMIT)
    try:
        for name in ("small.bin", "medium.bin", "small.bin", "medium.bin"):
            buf = bytearray()
            bounded("RETR " + name,
                    lambda: f.retrbinary("RETR " + name, buf.extend),
                    durations)
            assert sha256(bytes(buf)) == sha256(srv.files[name]), name
        buf = bytearray()
        bounded("RETR big.bin",
                lambda: f.retrbinary("RETR big.bin", buf.extend, 1 << 20),
                durations)
        assert sha256(bytes(buf)) == srv.files["big.bin"]
        data = os.urandom((1 << 20) + 13)
        name = "fast-%s.bin" % tag
        bounded("STOR " + name,
                lambda: f.storbinary("STOR " + name, io.BytesIO(data)),
                durations)
        back = bytearray()
        bounded("RETR " + name,
                lambda: f.retrbinary("RETR " + name, back.extend), durations)
        assert sha256(bytes(back)) == sha256(data)
        lines = []
        bounded("LIST", lambda: f.retrlines("LIST", lines.append), durations)
        names = parse_ls("\n".join(lines))
        for want in ("big.bin", "small.bin", "medium.bin", name):
            assert want in names, (want, sorted(names))
        assert int(names[name].group("size")) == len(data)
        f.quit()
    finally:
        f.close()
    return durations


# -- the tests --------------------------------------------------------------

def hold_non_readers(swarm, count, first_idx=0):
    nr = [NonReader(swarm, first_idx + i) for i in range(count)]
    swarm.add(nr)
    return nr


def wait_held(swarm, nr, timeout):
    def ready():
        swarm.check()
        return all(c.state == "held" for c in nr)
    assert wait_until(ready, timeout, 0.1), \
        "only %d of %d non-readers reached their download" % (
            sum(c.state == "held" for c in nr), len(nr))


def test_non_reader_send_queue_bounded(srv):
    """A client that never reads costs ferryd a bounded send queue: what
    the kernel holds for it must not grow to the socket's maximum buffer
    (tcp_wmem, 4 MiB by default), or a thousand of them exhaust the
    host's TCP memory and every client stalls."""
    swarm = Swarm(srv.host, srv.port)
    try:
        nr = hold_non_readers(swarm, CANARY)
        wait_held(swarm, nr, 60)
        q = settled_queues([(c.pasv_port, c.client_port) for c in nr])
        assert len(q) == len(nr), "found %d of %d data sockets" % (
            len(q), len(nr))
        worst = max(q.values())
        assert worst <= QUEUE_LIMIT, (
            "ferryd queues %d KiB for a data connection whose client never "
            "reads; %d such clients would pin %d MiB of the host's TCP "
            "memory (tcp_mem allows %d MiB in all)"
            % (worst >> 10, NON_READERS, worst * NON_READERS >> 20,
               tcp_mem_max() >> 20))
    finally:
        swarm.stop()


def select_scale(base, tricklers):
    """Non-readers select() can hold beside the tricklers: each costs the
    session's descriptors plus a data socket and the open file, and the
    setup window may hold a passive listener each."""
    room = FD_SETSIZE - base.fds - tricklers - SETUP_WINDOW - 16
    return room // (base.session_fds + 2)


def test_fast_client_beside_slow_ones(srv, model, valgrind):
    """Tricklers and non-readers held, a fast client served beside them,
    then the idle and stall timeouts free them all (module docstring)."""
    base = Baseline(srv)
    fork = base.fork
    tricklers = TRICKLERS
    non_readers = NON_READERS
    if model == "select":
        tricklers = SELECT_TRICKLERS
        non_readers = select_scale(base, tricklers)
    elif fork:
        tricklers, non_readers = FORK_TRICKLERS, FORK_NON_READERS
    if valgrind:
        tricklers = min(tricklers, VALGRIND_SLOW_CLIENTS)
        non_readers = min(non_readers, VALGRIND_SLOW_CLIENTS)
    t_start = time.monotonic()
    swarm = Swarm(srv.host, srv.port)
    try:
        tr = [Trickler(swarm, i) for i in range(tricklers)]
        swarm.add(tr)
        nr = hold_non_readers(swarm, CANARY)
        wait_held(swarm, nr, 120)
        q = settled_queues([(c.pasv_port, c.client_port) for c in nr])
        per = max(q.values()) if q else 0
        if per > QUEUE_LIMIT:
            non_readers = max(CANARY, min(non_readers,
                                          HOST_QUEUE_BUDGET // per))
            warnings.warn("ferryd queues %d KiB per non-reader: holding %d "
                          "of them, not %d" % (per >> 10, non_readers,
                                               NON_READERS))
        nr += hold_non_readers(swarm, non_readers - CANARY, CANARY)
        wait_held(swarm, nr, 180)
        assert wait_until(lambda: swarm.count(Trickler, "trickle")
                          == tricklers or swarm.errors, 60), \
            "only %d tricklers connected" % swarm.count(Trickler, "trickle")
        swarm.check()
        t_held = time.monotonic()

        # ferryd really holds them all
        if fork:
            kids = child_fds(srv)
            assert len(kids) >= tricklers + non_readers, len(kids)
            busy = sum(1 for n in kids.values()
                       if n >= base.session_fds + 2)
            assert busy >= non_readers, (busy, non_readers)
        else:
            assert srv.fd_count() >= base.fds + tricklers + \
                non_readers * (base.session_fds + 1), srv.fd_count()
        if model == "thread":
            assert srv.thread_count() >= base.threads + tricklers + \
                non_readers, srv.thread_count()

        durations = fast_client(srv, model)
        t_fast = time.monotonic()

        # and all of them were still held while the fast client worked
        swarm.check()
        still = (swarm.count(Trickler, "trickle"),
                 swarm.count(NonReader, "held"))
        assert still == (tricklers, non_readers), (
            "slow clients let go before the fast client finished "
            "(%.1f s after they were held; stall timeout %d s): "
            "%d tricklers, %d non-readers still held"
            % ((t_fast - t_held, stall_timeout(model)) + still))

        # now they go quiet, and the timeouts must free them
        swarm.release = True

        def timed_out():
            swarm.check()
            return (swarm.count(Trickler, "closed") == tricklers and
                    swarm.count(NonReader, "idle", "noop") == non_readers)
        assert wait_until(timed_out, LOGIN_TIMEOUT + IDLE_TIMEOUT +
                          stall_timeout(model) + 60, 0.2), (
            "after release: tricklers %s, non-readers %s" % (
                {s: swarm.count(Trickler, s) for s in
                 ("trickle", "quiet", "told", "closed")},
                {s: swarm.count(NonReader, s) for s in
                 ("held", "draining", "noop", "idle")}))
        t_timeouts = time.monotonic()

        # the tricklers' sessions and the non-readers' transfers are
        # gone; only the non-readers' idle sessions remain
        if fork:
            def only_sessions():
                kids = child_fds(srv)
                return len(kids) == non_readers and \
                    max(kids.values()) <= base.session_fds
            assert wait_until(only_sessions, 30, 0.2), (
                "%d children, busiest holds %d fds (an idle session: %d)"
                % (len(child_fds(srv)), max(child_fds(srv).values() or [0]),
                   base.session_fds))
        else:
            want = base.fds + non_readers * base.session_fds
            got = srv.settled_fd_count(want, 30)
            assert got <= want, (
                "ferryd holds %d fds after the timeouts; baseline %d plus "
                "%d idle sessions of %d is %d"
                % (got, base.fds, non_readers, base.session_fds, want))
        if model == "thread":
            assert wait_until(lambda: srv.thread_count() <= base.threads +
                              non_readers, 30), srv.thread_count()

        swarm.quit = True
        assert wait_until(lambda: swarm.count(NonReader, "closed") ==
                          non_readers or swarm.errors, 60), \
            "%d non-readers closed" % swarm.count(NonReader, "closed")
        swarm.check()
    finally:
        swarm.stop()

    # everything is back to where it started, and ferryd still serves
    assert wait_until(lambda: base.at_rest(srv), 30, 0.2), base.describe(srv)
    fast_client(srv, model + "-after")
    print("\n%s: %d tricklers + %d non-readers held in %.1f s (%d KiB "
          "queued per non-reader); fast client %.1f s (slowest %s %.1f s); "
          "timeouts done %.1f s after release (at most %d bytes after a "
          "426); total %.1f s" % (
              model, tricklers, non_readers, t_held - t_start, per >> 10,
              t_fast - t_held, *max(durations, key=lambda d: d[1]),
              t_timeouts - t_fast, max(c.drained for c in nr),
              time.monotonic() - t_start))

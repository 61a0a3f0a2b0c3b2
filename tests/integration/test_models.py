"""Tests of one concurrency model each: select's FD_SETSIZE limit, fork's
children, thread's threads, and --workers.  The first three choose their
model themselves and are skipped when the binary refuses it; the workers
tests run for each event-loop model in FERRY_MODELS."""

import io
import os
import re
import threading
import time

import pytest

from conftest import require_model
from ferrytest import (EVENT_LOOP_MODELS, Threads, make_tree, raise_nofile,
                       reset_close, sha256, wait_until)

pytestmark = pytest.mark.model_specific


# root path -> {relpath: content} of the tree made in it
ROOT_FILES = {}


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "m-root"
    r.mkdir()
    ROOT_FILES[str(r)] = make_tree(r)
    return r


def full_session(srv, files, i=0, upload=False):
    f = srv.ftplib(timeout=120)
    try:
        buf = bytearray()
        f.retrbinary("RETR small.bin", buf.extend)
        assert sha256(bytes(buf)) == sha256(files["small.bin"])
        lines = []
        f.retrlines("LIST", lines.append)
        assert any(ln.endswith(" hello.txt") for ln in lines)
        if upload:
            data = os.urandom(10000 + i)
            f.storbinary("STOR m-%d.bin" % i, io.BytesIO(data))
            buf = bytearray()
            f.retrbinary("RETR m-%d.bin" % i, buf.extend)
            assert bytes(buf) == data
        f.quit()
    finally:
        f.close()


# -- select --------------------------------------------------------------

FD_SETSIZE = 1024


def occupy_fds(lo, hi):
    """dup /dev/null onto every free fd number in [lo, hi) of this
    process; returns them (to hand to ferryd and close afterwards)."""
    devnull = os.open("/dev/null", os.O_RDONLY)
    taken = []
    for n in range(lo, hi):
        try:
            os.fstat(n)
            continue             # in use here; it will be free in ferryd
        except OSError:
            pass
        os.dup2(devnull, n, inheritable=True)
        taken.append(n)
    os.close(devnull)
    return taken


def test_select_refuses_fds_above_fd_setsize(spawn, model_probe, root):
    """Connections whose fd would be >= FD_SETSIZE get 421 and a log line;
    the server keeps serving the others and new clients."""
    require_model(model_probe, "select")
    raise_nofile(4096)
    taken = occupy_fds(64, FD_SETSIZE - 12)
    try:
        s = spawn(root=root, model="select", pass_fds=taken,
                  args=["--max-clients", "3000", "--max-per-ip", "3000"])
    finally:
        for n in taken:
            os.close(n)
    log_before = len(s.log())
    held = []
    refused = 0
    served = 0
    try:
        for _ in range(1200):
            c = s.connect(timeout=30)
            held.append(c)
            code, lines = c.reply()
            if code == 421:
                refused += 1
                assert c.closed_by_peer(10)
                if refused >= 5:
                    break
            else:
                assert code == 220, lines
                served += 1
        assert refused >= 5, "no 421 after %d connections" % len(held)
        assert served > 0
        # the clients that were let in still work while others are refused
        for c in held[:3]:
            c.login()
            assert c.do("NOOP")[0] == 200
    finally:
        for c in held:
            c.close()
    tail = s.log()[log_before:]
    assert re.search(r"FD_SETSIZE|setsize|fd[^\n]*(too (high|large|big)|"
                     r">=|exceed|limit)", tail, re.I), tail[-2000:]
    # and once those clients are gone, service is normal again
    time.sleep(0.5)
    full_session(s, ROOT_FILES[str(root)])


# -- fork ----------------------------------------------------------------

def test_fork_leaves_no_zombies(spawn, model_probe, root):
    require_model(model_probe, "fork")
    s = spawn(root=root, model="fork", write=True,
              args=["--max-clients", "500", "--max-per-ip", "500"])
    full_session(s, ROOT_FILES[str(root)])
    assert wait_until(lambda: not s.children(), 20), s.children()
    fds_before = s.fd_count()
    t = Threads()
    sem = threading.Semaphore(10)

    def one(i):
        with sem:
            if i % 4 == 3:          # a client that vanishes mid-session
                c = s.login()
                c.pasv()
                c.reset()
            else:
                full_session(s, ROOT_FILES[str(root)], i, upload=(i % 2 == 0))
    for i in range(100):
        t.spawn(one, i)
    alive, errors = t.join(300)
    assert not alive and not errors, errors[:1]
    assert wait_until(lambda: not s.children(), 30), \
        "children left (state Z = zombie): %r" % s.children()
    assert wait_until(lambda: s.fd_count() <= fds_before, 10), \
        "parent fds: %d before, %d after" % (fds_before, s.fd_count())
    assert s.thread_count() == 1, "the fork model's parent must stay " \
        "single-threaded"


def test_fork_children_serve_concurrently(spawn, model_probe, root):
    """One child per client: a client that holds its session open does
    not block the next."""
    require_model(model_probe, "fork")
    s = spawn(root=root, model="fork")
    holders = [s.login() for _ in range(5)]
    try:
        assert wait_until(lambda: len(s.children()) >= 5, 10)
        full_session(s, ROOT_FILES[str(root)])
    finally:
        for c in holders:
            c.close()
    assert wait_until(lambda: not s.children(), 30), s.children()


# -- thread --------------------------------------------------------------

def test_thread_leaves_no_threads(spawn, model_probe, root):
    require_model(model_probe, "thread")
    s = spawn(root=root, model="thread", write=True,
              args=["--max-clients", "500", "--max-per-ip", "500"])
    full_session(s, ROOT_FILES[str(root)])
    wait_until(lambda: False, 0.5)
    base = s.thread_count()
    fds_before = s.fd_count()
    holders = [s.login() for _ in range(30)]
    assert wait_until(lambda: s.thread_count() >= base + 30, 10), \
        "expected a thread per client: %d threads for 30 clients" % \
        s.thread_count()
    t = Threads()
    for i in range(50):
        t.spawn(full_session, s, ROOT_FILES[str(root)], i, i % 2 == 0)
    alive, errors = t.join(300)
    assert not alive and not errors, errors[:1]
    for i, c in enumerate(holders):
        c.reset() if i % 2 else c.close()
    assert wait_until(lambda: s.thread_count() <= base, 20), \
        "threads: %d before, %d after the clients left" % (
            base, s.thread_count())
    assert wait_until(lambda: s.fd_count() <= fds_before, 10)


def test_thread_max_clients_bound(spawn, model_probe, root):
    require_model(model_probe, "thread")
    s = spawn(root=root, model="thread", args=["--max-clients", "5"])
    held = [s.login() for _ in range(5)]
    try:
        extra = s.connect()
        code, lines = extra.reply()
        assert code == 421, lines
        extra.close()
        assert s.thread_count() <= 5 + 8, s.thread_count()
    finally:
        for c in held:
            c.close()
    time.sleep(0.3)
    full_session(s, ROOT_FILES[str(root)])


# -- iterative -----------------------------------------------------------

def test_iterative_silent_client_cannot_hold_server(spawn, model_probe,
                                                    root):
    """One client at a time, but a silent one is cut by the login
    timeout and the next client is then served."""
    require_model(model_probe, "iterative")
    s = spawn(root=root, model="iterative", args=["--login-timeout", "1"])
    silent = s.connect()
    silent.expect(220)
    full_session(s, ROOT_FILES[str(root)])     # waits in the backlog, then served
    silent.close()


# -- --workers -----------------------------------------------------------

def start_workers(spawn, model_probe, model, root, n="2"):
    if model not in EVENT_LOOP_MODELS:
        pytest.skip("--workers applies to the event-loop models, not %s"
                    % model)
    try:
        return spawn(root=root, model=model,
                     args=["--workers", n, "--log-level", "debug",
                           "--max-clients", "1000", "--max-per-ip", "1000"])
    except Exception as e:       # noqa: B902
        if "workers" in str(e).lower():
            pytest.skip("ferryd rejects --workers: %s" % str(e)[:300])
        raise


def test_workers_spread_connections(spawn, model_probe, model, root):
    s = start_workers(spawn, model_probe, model, root)
    conns = []
    try:
        for _ in range(40):
            c = s.login()
            assert c.do("NOOP")[0] == 200
            conns.append(c)
        workers = set(re.findall(r"\bworker=(\d+)", s.log()))
        assert len(workers) >= 2, "all connections on one worker: %r; log " \
            "tail:\n%s" % (workers, s.log()[-1500:])
    finally:
        for c in conns:
            c.close()


def test_workers_survive_a_busy_neighbour(spawn, model_probe, model, root):
    """Heavy load (big downloads, pipelined floods) runs while other
    clients complete their sessions, whichever worker they landed on."""
    s = start_workers(spawn, model_probe, model, root)
    big = os.urandom(32 << 20)
    (root / "load.bin").write_bytes(big)
    stop = threading.Event()
    load = Threads()

    def downloader():
        while not stop.is_set():
            f = s.ftplib(timeout=120)
            buf = bytearray()
            f.retrbinary("RETR load.bin", buf.extend)
            assert sha256(bytes(buf)) == sha256(big)
            f.quit()

    def flooder():
        c = s.login()
        while not stop.is_set():
            c.send(b"NOOP\r\n" * 2000)
            for _ in range(2000):
                assert c.reply()[0] == 200
        c.close()

    for _ in range(4):
        load.spawn(downloader)
    for _ in range(2):
        load.spawn(flooder)
    time.sleep(0.5)
    victims = Threads()
    for i in range(20):
        victims.spawn(lambda i=i: [full_session(s, ROOT_FILES[str(root)])
                                   for _ in range(5)])
    alive, errors = victims.join(240)
    stop.set()
    assert not alive and not errors, errors[:1]
    alive, errors = load.join(240)
    assert not alive and not errors, errors[:1]


def test_workers_zero_means_one_per_cpu(spawn, model_probe, model, root):
    s = start_workers(spawn, model_probe, model, root, n="0")
    for _ in range(4):
        full_session(s, ROOT_FILES[str(root)])
    assert s.thread_count() >= min(os.cpu_count() or 1, 64)


def test_rst_clients_on_workers(spawn, model_probe, model, root):
    s = start_workers(spawn, model_probe, model, root)
    full_session(s, ROOT_FILES[str(root)])
    base = s.fd_count()
    for _ in range(50):
        c = s.login()
        c.pasv()
        reset_close(c.sock)
    assert wait_until(lambda: s.fd_count() <= base, 15), \
        "fds %d -> %d" % (base, s.fd_count())

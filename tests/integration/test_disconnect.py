"""Clients that vanish at every step of a session.  Afterwards ferryd
holds exactly the descriptors (and threads, and child processes) it held
before, no partial upload exists under its real name, no hidden
temporary is left, and the server still serves."""

import os
import socket
import time

import pytest

from ferrytest import (make_tree, needs_concurrent_sessions, recv_all,
                       reset_close, sha256,
                       temporaries, wait_until)

REPEAT = 4


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    root = tmp_path_factory.mktemp("disc-root")
    files = make_tree(root, big=True)
    many = root / "many"
    many.mkdir()
    for i in range(3000):
        (many / ("file-with-a-longish-name-%05d.txt" % i)).write_bytes(b"")
    s = mod_spawn(root=root, model=model, write=True,
                  args=["--max-per-ip", "1000", "--max-clients", "1000"])
    s.files = files
    s.rootpath = root
    return s


def session_ok(srv):
    """A full, well-behaved session: proves the server still serves."""
    c = srv.login()
    try:
        got, (code, _) = c.transfer_in("RETR small.bin")
        assert code == 226 and sha256(got) == sha256(srv.files["small.bin"])
        got, (code, _) = c.transfer_in("LIST")
        assert code == 226 and b"hello.txt" in got
        assert c.do("QUIT")[0] == 221
    finally:
        c.close()


class Resources:
    """What the server holds: fds, threads, children."""

    def __init__(self, srv):
        self.srv = srv
        self.fds = srv.fds()
        self.threads = srv.thread_count()

    def settled(self, timeout=15.0):
        srv = self.srv
        fd_ok = wait_until(lambda: srv.fd_count() <= len(self.fds), timeout,
                           0.1)
        if not fd_ok:
            now = srv.fds()
            extra = {k: v for k, v in now.items() if k not in self.fds}
            raise AssertionError("fd leak: %d before, %d after; new: %r" % (
                len(self.fds), len(now), extra))
        assert wait_until(lambda: srv.thread_count() <= self.threads,
                          timeout, 0.1), "threads: %d before, %d after" % (
            self.threads, srv.thread_count())
        assert wait_until(lambda: not srv.children(), timeout, 0.1), \
            "children left: %r" % srv.children()


@pytest.fixture
def res(srv):
    session_ok(srv)          # warm up: lazily made fds exist from now on
    wait_until(lambda: not srv.children(), 10)
    r = Resources(srv)
    yield r
    r.settled()
    assert temporaries(srv.rootpath) == []
    session_ok(srv)


# -- login ----------------------------------------------------------------

def test_vanish_before_banner(srv, res):
    for _ in range(REPEAT):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.close()
        s = socket.create_connection(("127.0.0.1", srv.port))
        reset_close(s)


def test_vanish_during_login(srv, res):
    for _ in range(REPEAT):
        for partial in (b"USER anonymous\r\n", b"USER anonymous\r\nPA",
                        b"USE", b"USER anonymous\r\nPASS x\r\n"):
            c = srv.connect()
            c.expect(220)
            c.send(partial)
            c.close()
            c = srv.connect()
            c.expect(220)
            c.send(partial)
            c.reset()


# -- passive set-up ------------------------------------------------------

@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
def test_vanish_after_pasv(srv, res, verb):
    for _ in range(REPEAT):
        c = srv.login()
        c.pasv() if verb == "PASV" else c.epsv()
        c.close()
        c = srv.login()
        host, port = c.pasv() if verb == "PASV" else c.epsv()
        d = socket.create_connection(("127.0.0.1", port))
        c.reset()
        time.sleep(0.05)
        d.close()


def test_vanish_with_data_connected_no_command(srv, res):
    for _ in range(REPEAT):
        c = srv.login()
        d = c.open_data()
        c.close()
        reset_close(d)


# -- mid-transfer -------------------------------------------------------

def start_retr(srv, name="big.bin"):
    c = srv.login()
    d = c.open_data()
    c.cmd("RETR " + name)
    c.expect(125, 150)
    got = recv_all(d, 1 << 20)
    assert len(got) >= 1 << 20
    return c, d


def test_vanish_mid_retr(srv, res):
    for _ in range(REPEAT):
        c, d = start_retr(srv)
        c.reset()
        reset_close(d)
        c, d = start_retr(srv)
        c.close()
        d.close()


def test_data_reset_mid_retr_control_survives(srv, res):
    """The data connection dies, the client stays: 426 (or 451), then
    the session goes on."""
    for _ in range(REPEAT):
        c, d = start_retr(srv)
        reset_close(d)
        code, lines = c.reply()
        assert code in (426, 451), lines
        assert c.do("NOOP")[0] == 200
        got, (code, _) = c.transfer_in("RETR medium.bin")
        assert code == 226
        assert sha256(got) == sha256(srv.files["medium.bin"])
        c.close()


def test_vanish_mid_list(srv, res):
    for verb in ("LIST", "MLSD", "NLST", "LIST -la"):
        for _ in range(2):
            c = srv.login()
            d = c.open_data()
            d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.cmd(verb + " many")
            c.expect(125, 150)
            d.recv(1000)
            c.reset()
            reset_close(d)


def start_stor(srv, name, nbytes=1 << 20):
    c = srv.login()
    d = c.open_data()
    c.cmd("STOR " + name)
    c.expect(125, 150)
    d.sendall(os.urandom(nbytes))
    time.sleep(0.1)        # let the server write some of it
    return c, d


def test_vanish_mid_stor(srv, res):
    for i in range(REPEAT):
        name = "vanish-%d.bin" % i
        # the whole client dies: both connections reset
        c, d = start_stor(srv, name)
        reset_close(d)
        c.reset()
        # control goes first (FIN), the data connection is reset after
        c, d = start_stor(srv, name + ".b")
        c.close()
        time.sleep(0.1)
        reset_close(d)
    srv_root = srv.rootpath

    def gone():
        return not [n for n in os.listdir(srv_root)
                    if n.startswith("vanish-")]
    assert wait_until(gone, 10), os.listdir(srv_root)


def test_data_reset_mid_stor_control_survives(srv, res):
    c, d = start_stor(srv, "reset-up.bin")
    reset_close(d)
    code, lines = c.reply()
    assert code in (426, 451, 550, 552), lines
    assert c.do("NOOP")[0] == 200
    c.close()
    assert wait_until(lambda: not (srv.rootpath / "reset-up.bin").exists(),
                      5)


def test_vanish_mid_stor_over_existing(srv, res):
    old = os.urandom(5000)
    (srv.rootpath / "keep.bin").write_bytes(old)
    for _ in range(REPEAT):
        c, d = start_stor(srv, "keep.bin")
        c.reset()
        reset_close(d)
    time.sleep(0.2)
    assert (srv.rootpath / "keep.bin").read_bytes() == old


def test_vanish_mid_retr_many_at_once(srv, model, res):
    """Twenty clients vanish at the same moment, mid-download."""
    needs_concurrent_sessions(model)
    pairs = [start_retr(srv, "big.bin") for _ in range(20)]
    for c, d in pairs:
        c.reset()
        reset_close(d)

"""Slow clients do not stop a fast one: clients that trickle their
commands a byte at a time and clients that never read their downloads
hold sessions open while another client completes its transfers."""

import os
import socket
import threading

import pytest

from ferrytest import (Threads, make_tree, needs_concurrent_sessions,
                       raise_nofile, sha256, wait_until)

TRICKLERS = 100
NON_READERS = 100


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    raise_nofile(8192)
    root = tmp_path_factory.mktemp("slow-root")
    files = make_tree(root, big=True)
    s = mod_spawn(root=root, model=model, write=True,
                  args=["--max-clients", "2000", "--max-per-ip", "2000"])
    s.files = files
    s.rootpath = root
    return s


def test_fast_client_beside_slow_ones(srv, model):
    needs_concurrent_sessions(model)
    stop = threading.Event()
    slow = Threads()
    socks = []
    lock = threading.Lock()

    def trickler():
        c = srv.connect(timeout=60)
        with lock:
            socks.append(c.sock)
        c.expect(220)
        line = b"USER anonymous\r\nPASS x\r\nNOOP\r\n"
        i = 0
        while not stop.is_set() and i < len(line):
            c.sock.send(line[i:i + 1])
            i += 1
            stop.wait(0.2)

    def non_reader():
        c = srv.login(timeout=60)
        with lock:
            socks.append(c.sock)
        d = c.open_data()
        with lock:
            socks.append(d)
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.cmd("RETR big.bin")
        c.expect(125, 150)
        stop.wait(120)          # and never read

    for _ in range(TRICKLERS):
        slow.spawn(trickler)
    for _ in range(NON_READERS):
        slow.spawn(non_reader)
    # every slow client is in place before the fast one starts
    assert wait_until(lambda: len(socks) >= TRICKLERS + 2 * NON_READERS,
                      60), "only %d slow connections opened" % len(socks)
    try:
        f = srv.ftplib(timeout=60)
        for i in range(10):
            buf = bytearray()
            name = "medium.bin" if i % 2 else "small.bin"
            f.retrbinary("RETR " + name, buf.extend)
            assert sha256(bytes(buf)) == sha256(srv.files[name])
        buf = bytearray()
        f.retrbinary("RETR big.bin", buf.extend)
        assert sha256(bytes(buf)) == srv.files["big.bin"]
        import io
        data = os.urandom(1 << 20)
        f.storbinary("STOR fast.bin", io.BytesIO(data))
        assert f.size("fast.bin") == len(data)
        f.quit()
    finally:
        stop.set()
        alive, errors = slow.join(60)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
    assert not alive and not errors, errors[:1]

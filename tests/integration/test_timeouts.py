"""Idle, login and data-connection timeouts fire and free the session;
a running transfer is activity and is never cut by the idle timeout.

The bounds below are generous ceilings for "it fired at all", not
measurements: a timeout of 1 s must fire well within 20 s."""

import os
import socket
import time

import pytest

from ferrytest import make_tree, recv_all, sha256, sha256_file

FIRE_WITHIN = 20.0


@pytest.fixture
def srv(ferry, tmp_path):
    root = tmp_path / "to-root"
    root.mkdir()
    files = make_tree(root, big=True)

    def start(*args):
        s = ferry(root=root, write=True, args=list(args))
        s.files = files
        s.rootpath = root
        return s
    return start


def wait_421_and_close(c):
    c.sock.settimeout(FIRE_WITHIN)
    code, lines = c.reply()
    assert code == 421, lines
    assert c.closed_by_peer(FIRE_WITHIN)


def test_idle_timeout(srv):
    s = srv("--idle-timeout", "1")
    c = s.login()
    try:
        assert c.do("NOOP")[0] == 200
        wait_421_and_close(c)
    finally:
        c.close()
    # commands reset the idle clock: a client that keeps talking stays
    c = s.login()
    try:
        for _ in range(6):
            time.sleep(0.4)
            assert c.do("NOOP")[0] == 200
    finally:
        c.close()


def test_idle_timeout_with_pasv_open(srv):
    s = srv("--idle-timeout", "1")
    c = s.login()
    try:
        c.pasv()
        wait_421_and_close(c)
    finally:
        c.close()


def test_slow_download_not_cut_by_idle_timeout(srv):
    s = srv("--idle-timeout", "1", "--stall-timeout", "60")
    c = s.login()
    try:
        d = c.open_data()
        c.cmd("RETR big.bin")
        c.expect(125, 150)
        got = bytearray()
        t_end = time.monotonic() + 3.5
        while time.monotonic() < t_end:        # about 3.5 s of trickle
            chunk = d.recv(4096)
            assert chunk
            got += chunk
            time.sleep(0.05)
        got += recv_all(d)
        d.close()
        # the 226 proves the session outlived the trickle; the idle clock
        # restarts when the transfer ends, which (with kernel buffers
        # still full) can be well before we read the last byte, so no
        # further command is tried here
        code, lines = c.reply()
        assert code == 226, lines
        assert sha256(bytes(got)) == s.files["big.bin"]
    finally:
        c.close()


def test_slow_upload_not_cut_by_idle_timeout(srv):
    s = srv("--idle-timeout", "1", "--stall-timeout", "60")
    data = os.urandom(40 * 1024)
    c = s.login()
    try:
        d = c.open_data()
        c.cmd("STOR trickle.bin")
        c.expect(125, 150)
        for i in range(0, len(data), 1024):     # about 4 s
            d.sendall(data[i:i + 1024])
            time.sleep(0.1)
        d.close()
        code, lines = c.reply()
        assert code == 226, lines
        assert c.do("NOOP")[0] == 200
    finally:
        c.close()
    assert sha256_file(s.rootpath / "trickle.bin") == sha256(data)


def test_login_timeout(srv):
    s = srv("--login-timeout", "1", "--idle-timeout", "600")
    c = s.connect()
    try:
        c.expect(220)
        wait_421_and_close(c)
    finally:
        c.close()
    c = s.connect()               # USER but never PASS
    try:
        c.expect(220)
        assert c.do("USER anonymous")[0] == 331
        wait_421_and_close(c)
    finally:
        c.close()
    c = s.login()                 # a logged-in client is not cut by it
    try:
        time.sleep(2.5)
        assert c.do("NOOP")[0] == 200
    finally:
        c.close()


@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
def test_data_connection_setup_timeout(srv, verb):
    s = srv("--data-timeout", "1", "--idle-timeout", "600")
    c = s.login()
    try:
        c.pasv() if verb == "PASV" else c.epsv()
        c.sock.settimeout(FIRE_WITHIN)
        c.cmd("RETR small.bin")         # and never connect
        code, lines = c.reply()
        if code in (125, 150):
            code, lines = c.reply()
        assert code in (425, 426), lines
        assert c.do("NOOP")[0] == 200
        got, (code, _) = c.transfer_in("RETR small.bin")
        assert code == 226 and got == s.files["small.bin"]
    finally:
        c.close()


def test_stalled_download_times_out(srv):
    """A client that stops reading is cut after the data timeout."""
    s = srv("--stall-timeout", "1", "--idle-timeout", "600")
    c = s.login()
    try:
        d = c.open_data()
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.cmd("RETR big.bin")
        c.expect(125, 150)
        d.recv(1000)
        c.sock.settimeout(FIRE_WITHIN + 10)
        code, lines = c.reply()         # and never read again
        assert code in (426, 451, 421), lines
        d.close()
        if code != 421:
            assert c.do("NOOP")[0] == 200
    finally:
        c.close()


def test_stalled_upload_times_out(srv):
    s = srv("--stall-timeout", "1", "--idle-timeout", "600")
    c = s.login()
    try:
        d = c.open_data()
        c.cmd("STOR stalled.bin")
        c.expect(125, 150)
        d.sendall(b"x" * 1000)          # then silence
        c.sock.settimeout(FIRE_WITHIN + 10)
        code, lines = c.reply()
        assert code in (426, 451, 421), lines
        d.close()
    finally:
        c.close()
    time.sleep(0.2)
    assert not (s.rootpath / "stalled.bin").exists()

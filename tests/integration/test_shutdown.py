"""SIGTERM and SIGINT: stop accepting, let transfers in flight finish,
exit 0."""

import signal
import socket
import time

import pytest

from ferrytest import SERIAL_MODELS, make_tree, recv_all, sha256


# root path -> {relpath: content} of the tree made in it
ROOT_FILES = {}


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "sd-root"
    r.mkdir()
    ROOT_FILES[str(r)] = make_tree(r, big=True)
    return r


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_idle_server_exits_0(ferry, root, sig):
    s = ferry(root=root)
    rc, problems = s.stop(sig)
    assert not problems and rc == 0, problems


def test_sigterm_with_idle_clients(ferry, root, model):
    s = ferry(root=root)
    clients = [s.login() for _ in range(1 if model in SERIAL_MODELS else 5)]
    rc, problems = s.stop(signal.SIGTERM)
    assert not problems and rc == 0, (problems, s.log()[-2000:])
    for c in clients:
        c.close()


def test_sigterm_lets_transfer_finish(ferry, root):
    s = ferry(root=root)
    c = s.login()
    d = c.open_data()
    c.cmd("RETR big.bin")
    c.expect(125, 150)
    got = bytearray(recv_all(d, 1 << 20))
    s.proc.send_signal(signal.SIGTERM)
    s.expect_exit = True
    time.sleep(0.3)
    # no new clients while draining
    refused = False
    try:
        n = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        try:
            line = n.makefile("rb").readline()
            refused = not line.startswith(b"220")
        except OSError:
            refused = True
        n.close()
    except OSError:
        refused = True
    assert refused, "a new client was welcomed after SIGTERM"
    got += recv_all(d)
    d.close()
    code, lines = c.reply()
    assert code == 226, lines
    assert sha256(bytes(got)) == ROOT_FILES[str(root)]["big.bin"]
    c.close()
    rc, problems = s.stop(None)
    assert rc == 0 and not problems, problems

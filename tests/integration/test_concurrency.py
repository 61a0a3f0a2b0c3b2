"""Many simultaneous sessions, each running LIST, RETR and STOR with its
own upload names, every byte verified.  The iterative model serves one
client at a time, so there the clients queue: fewer of them, no barrier,
longer timeouts, and still every byte checked."""

import io
import os
import subprocess
import threading

import pytest

from ferrytest import (Threads, make_tree, parse_ls, raise_nofile, sha256,
                       sha256_file, temporaries, wait_until)

SESSIONS = 200


def plan(model):
    """(sessions, all connected at once?, per-operation timeout)."""
    if model == "iterative":
        return 24, False, 300
    return SESSIONS, True, 120


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    raise_nofile(8192)
    root = tmp_path_factory.mktemp("conc-root")
    files = make_tree(root)
    s = mod_spawn(root=root, model=model, write=True,
                  args=["--max-clients", "2000", "--max-per-ip", "2000",
                        "--idle-timeout", "300"])
    s.files = files
    s.rootpath = root
    return s


def test_many_sessions_ftplib(srv, model):
    n, together, timeout = plan(model)
    barrier = threading.Barrier(n, timeout=timeout) if together else None
    done = []
    lock = threading.Lock()
    uploads = {}

    def session(i):
        f = None
        try:
            f = srv.ftplib(timeout=timeout)
            if barrier:
                barrier.wait()     # every session is logged in at once
            lines = []
            f.retrlines("LIST", lines.append)
            names = set(parse_ls("\n".join(lines)))
            assert {"hello.txt", "medium.bin", "dir"} <= names
            for name in ("small.bin", "dir/sub/b.bin", "medium.bin"
                         if i % 10 == 0 else "hello.txt"):
                buf = bytearray()
                f.retrbinary("RETR " + name, buf.extend)
                assert sha256(bytes(buf)) == sha256(srv.files[name]), name
            data = os.urandom(20000 + i * 37)
            up = "up-%03d.bin" % i
            f.storbinary("STOR " + up, io.BytesIO(data))
            buf = bytearray()
            f.retrbinary("RETR " + up, buf.extend)
            assert bytes(buf) == data
            assert f.size(up) == len(data)
            with lock:
                uploads[up] = sha256(data)
            f.quit()
            f = None
            with lock:
                done.append(i)
        except BaseException:
            if barrier:
                barrier.abort()
            raise
        finally:
            if f is not None:
                f.close()

    t = Threads()
    for i in range(n):
        t.spawn(session, i)
    alive, errors = t.join(timeout * 3)
    assert not alive, "%d sessions still running" % alive
    assert not errors, "%d sessions failed; first: %s" % (len(errors),
                                                         errors[0])
    assert len(done) == n
    for up, digest in uploads.items():
        assert sha256_file(srv.rootpath / up) == digest, up
    assert temporaries(srv.rootpath) == []


def test_many_curl_processes(srv, model, tmp_path):
    n = 8 if model == "iterative" else 60
    procs = []
    for i in range(n):
        src = tmp_path / ("src-%d" % i)
        src.write_bytes(os.urandom(50000 + i))
        out = tmp_path / ("out-%d" % i)
        name = "medium.bin" if i % 3 == 0 else "small.bin"
        cmd = ["curl", "-sS", "--fail", "--max-time", "300",
               "-o", str(out), srv.url("/" + name), "--next",
               "-sS", "--fail", "--max-time", "300", "-T", str(src), srv.url("/curl-up-%d.bin" % i)]
        if i % 2:
            cmd.insert(1, "--disable-epsv")
            cmd.insert(cmd.index("--next") + 1, "--disable-epsv")
        procs.append((subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE),
                      src, out, name, i))
    for p, src, out, name, i in procs:
        so, se = p.communicate(timeout=600)
        assert p.returncode == 0, (i, se)
        assert sha256_file(out) == sha256(srv.files[name])
        assert sha256_file(srv.rootpath / ("curl-up-%d.bin" % i)) == \
            sha256_file(src)


def test_server_settles_after_load(srv):
    """Every session above is gone: the server holds no more than a
    fresh one and serves at once."""
    c = srv.login()
    got, (code, _) = c.transfer_in("RETR hello.txt")
    c.close()
    assert code == 226 and got == srv.files["hello.txt"]
    assert wait_until(lambda: srv.fd_count() < 40, 20), srv.fds()

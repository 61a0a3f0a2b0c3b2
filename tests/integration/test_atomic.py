"""Uploads appear under their real name only when complete, and two
uploads of one name never interleave."""

import os
import threading
import time

import pytest

from ferrytest import (SERIAL_MODELS, Threads, needs_concurrent_sessions,
                       sha256, sha256_file, temporaries)


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    root = tmp_path_factory.mktemp("atomic-root")
    s = mod_spawn(root=root, model=model, write=True)
    s.rootpath = root
    return s


def size_reply(c, name):
    return c.do("SIZE " + name)


def test_slow_stor_invisible_until_complete(srv, model):
    target = srv.rootpath / "slow.bin"
    data = os.urandom(256 * 1024)
    c = srv.login()
    # a second client watches over FTP, where the model serves two at once
    watcher = None if model in SERIAL_MODELS else srv.login()
    try:
        d = c.open_data()
        c.cmd("STOR slow.bin")
        c.expect(125, 150)
        step = len(data) // 8
        for i in range(7):
            d.sendall(data[i * step:(i + 1) * step])
            time.sleep(0.1)
            assert not target.exists(), "partial upload visible on disk"
            if watcher:
                assert size_reply(watcher, "slow.bin")[0] == 550
        d.sendall(data[7 * step:])
        d.close()
        assert c.reply()[0] == 226
        assert sha256_file(target) == sha256(data)
        if watcher:
            assert size_reply(watcher, "slow.bin")[1][0] == \
                "213 %d" % len(data)
    finally:
        c.close()
        if watcher:
            watcher.close()
    assert temporaries(srv.rootpath) == []


def test_slow_stor_over_existing_keeps_old_content(srv):
    target = srv.rootpath / "replace.bin"
    old = os.urandom(100000)
    target.write_bytes(old)
    new = os.urandom(300000)
    c = srv.login()
    try:
        d = c.open_data()
        c.cmd("STOR replace.bin")
        c.expect(125, 150)
        step = len(new) // 6
        for i in range(5):
            d.sendall(new[i * step:(i + 1) * step])
            time.sleep(0.1)
            assert target.read_bytes() == old
        d.sendall(new[5 * step:])
        d.close()
        assert c.reply()[0] == 226
    finally:
        c.close()
    assert sha256_file(target) == sha256(new)


def test_reader_during_upload_sees_old_file_whole(srv, model):
    needs_concurrent_sessions(model)
    target = srv.rootpath / "readwhile.bin"
    old = os.urandom(200000)
    target.write_bytes(old)
    new = os.urandom(400000)
    up = srv.login()
    rd = srv.login()
    try:
        d = up.open_data()
        up.cmd("STOR readwhile.bin")
        up.expect(125, 150)
        d.sendall(new[:150000])
        time.sleep(0.1)
        got, (code, _) = rd.transfer_in("RETR readwhile.bin")
        assert code == 226 and got == old
        d.sendall(new[150000:])
        d.close()
        assert up.reply()[0] == 226
        got, (code, _) = rd.transfer_in("RETR readwhile.bin")
        assert code == 226 and got == new
    finally:
        up.close()
        rd.close()


@pytest.mark.parametrize("rounds", [5])
def test_concurrent_uploads_same_name(srv, model, rounds):
    """Two (then eight) clients upload one name at once, chunks
    interleaved: the result is one upload, whole."""
    needs_concurrent_sessions(model)
    for r in range(rounds):
        n = 2 if r < 3 else 8
        payloads = [os.urandom(512 * 1024 + i) for i in range(n)]
        conns = []
        for p in payloads:
            c = srv.login()
            d = c.open_data()
            c.cmd("STOR same.bin")
            c.expect(125, 150)
            conns.append((c, d))
        step = 32 * 1024
        for off in range(0, len(payloads[-1]), step):
            for (c, d), p in zip(conns, payloads):
                if off < len(p):
                    d.sendall(p[off:off + step])
        for c, d in conns:
            d.close()
        for c, d in conns:
            code, lines = c.reply()
            assert code in (226, 450, 451, 550), lines
            c.close()
        final = sha256_file(srv.rootpath / "same.bin")
        assert final in {sha256(p) for p in payloads}, "interleaved upload"
    assert temporaries(srv.rootpath) == []


def test_concurrent_ftplib_uploads_same_name(srv, model):
    needs_concurrent_sessions(model)
    import io
    payloads = [os.urandom(2 << 20) for _ in range(4)]
    t = Threads()
    barrier = threading.Barrier(len(payloads))

    def up(p):
        f = srv.ftplib()
        barrier.wait(30)
        f.storbinary("STOR race.bin", io.BytesIO(p), blocksize=16384)
        f.quit()
    for p in payloads:
        t.spawn(up, p)
    alive, errors = t.join(120)
    assert not alive and not errors, errors
    assert sha256_file(srv.rootpath / "race.bin") in \
        {sha256(p) for p in payloads}


def test_appe_and_resume_complete_whole(srv):
    """APPE and REST+STOR write in place by design; the result is still
    exactly the bytes sent."""
    c = srv.login()
    try:
        a, b = os.urandom(70000), os.urandom(90000)
        code, _ = c.transfer_out("STOR resume.bin", a)
        assert code == 226
        assert c.do("REST %d" % len(a))[0] == 350
        code, _ = c.transfer_out("STOR resume.bin", b)
        assert code == 226
        assert sha256_file(srv.rootpath / "resume.bin") == sha256(a + b)
        # REST in the middle then STOR overwrites from there
        assert c.do("REST 1000")[0] == 350
        code, _ = c.transfer_out("STOR resume.bin", b"Z" * 10)
        assert code == 226
        want = (a + b)[:1000] + b"Z" * 10 + (a + b)[1010:]
        assert sha256_file(srv.rootpath / "resume.bin") == sha256(want)
    finally:
        c.close()

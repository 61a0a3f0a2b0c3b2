"""Without --write, ferryd serves files but changes nothing."""

import os

import pytest

from ferrytest import make_tree, run, sha256, tree_digest

REFUSED = (550, 502, 553, 532)


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    root = tmp_path_factory.mktemp("ro-root")
    files = make_tree(root)
    s = mod_spawn(root=root, model=model, write=False)
    s.files = files
    s.rootpath = root
    s.before = tree_digest(root)
    return s


def test_downloads_work(srv):
    c = srv.login()
    try:
        got, (code, _) = c.transfer_in("RETR medium.bin")
        assert code == 226 and sha256(got) == sha256(srv.files["medium.bin"])
    finally:
        c.close()


@pytest.mark.parametrize("cmd", ["STOR new.bin", "STOR hello.txt",
                                 "APPE hello.txt", "STOU", "DELE hello.txt",
                                 "MKD newdir", "RMD emptydir", "RMD dir",
                                 "RNFR hello.txt", "DELE dir/a.txt",
                                 "MKD dir/newdir"])
def test_write_commands_refused(srv, cmd):
    c = srv.login()
    try:
        data = c.open_data()
        code, lines = c.do(cmd)
        if code in (125, 150):
            data.sendall(b"should not land")
            data.close()
            code, lines = c.reply()
            raise AssertionError("%s accepted on a read-only server: %r"
                                 % (cmd, lines))
        data.close()
        assert code in REFUSED + (500,) if cmd == "STOU" else \
            code in REFUSED, (cmd, lines)
        if cmd.startswith("RNFR"):
            code, lines = c.do("RNTO renamed.txt")
            assert code in REFUSED + (503,), lines
        assert c.do("NOOP")[0] == 200
    finally:
        c.close()
    assert tree_digest(srv.rootpath) == srv.before


def test_curl_upload_refused(srv, tmp_path):
    src = tmp_path / "up"
    src.write_bytes(os.urandom(1000))
    p = run(["curl", "-sS", "--max-time", "60", "-T", str(src),
             srv.url("/curl-up.bin")], check=False)
    assert p.returncode != 0
    assert tree_digest(srv.rootpath) == srv.before


def test_feat_and_listing_still_work(srv):
    c = srv.login()
    try:
        code, lines = c.do("FEAT")
        assert code == 211
        got, (code, _) = c.transfer_in("MLSD")
        assert code == 226 and b"hello.txt" in got
    finally:
        c.close()
    assert tree_digest(srv.rootpath) == srv.before

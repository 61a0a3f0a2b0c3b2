"""curl against ferryd: listings, downloads, uploads, resume, EPSV and
PASV, a 64 MiB file and a file past 4 GiB."""

import os

import pytest

from ferrytest import (make_tree, parse_ls, run, sha256, sha256_file,
                       temporaries, write_file)

CURL = ["curl", "--silent", "--show-error", "--fail", "--max-time", "120"]
MODES = {"epsv": [], "pasv": ["--disable-epsv"]}
HUGE_SIZE = (1 << 32) + (1 << 16)       # 4 GiB + 64 KiB, sparse
HUGE_DATA_AT = (1 << 32) - (1 << 16)    # random bytes from here to the end


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    root = tmp_path_factory.mktemp("curl-root")
    files = make_tree(root, big=True)
    tail = os.urandom(HUGE_SIZE - HUGE_DATA_AT)
    with open(root / "huge.bin", "wb") as f:
        f.truncate(HUGE_SIZE)
        f.seek(HUGE_DATA_AT)
        f.write(tail)
    s = mod_spawn(root=root, model=model, write=True)
    s.files = files
    s.huge_tail = tail
    s.rootpath = root
    return s


def curl(*args, **kw):
    return run(CURL + [str(a) for a in args], **kw)


@pytest.mark.parametrize("mode", MODES)
def test_list_root(srv, mode):
    out = curl(*MODES[mode], srv.url("/")).stdout.decode()
    entries = parse_ls(out)
    top = {"hello.txt", "text.txt", "empty.bin", "small.bin", "medium.bin",
           "old.txt", "dir", "emptydir", "big.bin", "huge.bin"}
    assert top <= set(entries), out
    assert entries["dir"].group("type") == "d"
    assert entries["small.bin"].group("type") == "-"
    assert int(entries["small.bin"].group("size")) == 100 * 1024
    assert int(entries["huge.bin"].group("size")) == HUGE_SIZE
    # an old file shows its year, a recent one its time of day
    assert entries["old.txt"].group("when") == "2001"
    assert entries["old.txt"].group("mon") == "Feb"
    assert ":" in entries["hello.txt"].group("when")


@pytest.mark.parametrize("mode", MODES)
def test_nlst(srv, mode):
    out = curl(*MODES[mode], "--list-only", srv.url("/dir/")).stdout
    names = {n for n in out.decode("utf-8").splitlines() if n}
    names = {n.rsplit("/", 1)[-1] for n in names}
    assert names == {"a.txt", "sub", "space name.txt",
                     "\u00fcn\u00efc\u00f6d\u00e9.txt"}, out


def test_list_subdir_and_empty(srv):
    out = curl(srv.url("/dir/sub/")).stdout.decode()
    assert set(parse_ls(out)) >= {"b.bin", "deeper"}
    assert curl(srv.url("/emptydir/")).stdout.strip() == b""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["hello.txt", "empty.bin", "small.bin",
                                  "medium.bin", "dir/sub/b.bin",
                                  "dir/space%20name.txt",
                                  "dir/%C3%BCn%C3%AFc%C3%B6d%C3%A9.txt"])
def test_get(srv, tmp_path, mode, name):
    out = tmp_path / "out"
    curl(*MODES[mode], "-o", out, srv.url("/" + name))
    from urllib.parse import unquote
    want = srv.files[unquote(name)]
    assert sha256_file(out) == sha256(want)


@pytest.mark.parametrize("mode", MODES)
def test_get_64mib(srv, tmp_path, mode):
    out = tmp_path / "big"
    curl(*MODES[mode], "-o", out, srv.url("/big.bin"))
    assert sha256_file(out) == srv.files["big.bin"]


def test_get_missing_fails(srv, tmp_path):
    p = curl("-o", tmp_path / "x", srv.url("/no-such-file"), check=False)
    assert p.returncode == 78, p.stderr   # CURLE_REMOTE_FILE_NOT_FOUND


@pytest.mark.parametrize("mode", MODES)
def test_put(srv, tmp_path, mode):
    data = os.urandom(300000)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    curl(*MODES[mode], "-T", src, srv.url("/put-%s.bin" % mode))
    assert sha256_file(srv.rootpath / ("put-%s.bin" % mode)) == sha256(data)
    back = tmp_path / "back"
    curl(*MODES[mode], "-o", back, srv.url("/put-%s.bin" % mode))
    assert sha256_file(back) == sha256(data)
    assert temporaries(srv.rootpath) == []


def test_put_create_dirs(srv, tmp_path):
    data = os.urandom(5000)
    src = tmp_path / "x"
    src.write_bytes(data)
    curl("--ftp-create-dirs", "-T", src, srv.url("/made/by/curl/x.bin"))
    assert sha256_file(srv.rootpath / "made/by/curl/x.bin") == sha256(data)


def test_put_overwrite(srv, tmp_path):
    for size in (50000, 1000):       # shorter second upload truncates
        data = os.urandom(size)
        src = tmp_path / "o"
        src.write_bytes(data)
        curl("-T", src, srv.url("/overwrite.bin"))
        assert sha256_file(srv.rootpath / "overwrite.bin") == sha256(data)


def test_put_64mib(srv, tmp_path):
    data = os.urandom(64 << 20)
    src = tmp_path / "big-up"
    src.write_bytes(data)
    curl("-T", src, srv.url("/big-up.bin"))
    assert sha256_file(srv.rootpath / "big-up.bin") == sha256(data)
    assert temporaries(srv.rootpath) == []


@pytest.mark.parametrize("mode", MODES)
def test_resume_download(srv, tmp_path, mode):
    # SIZE + REST + RETR
    full = srv.files["medium.bin"]
    part = tmp_path / "partial"
    part.write_bytes(full[:len(full) // 3])
    curl(*MODES[mode], "-C", "-", "-o", part, srv.url("/medium.bin"))
    assert sha256_file(part) == sha256(full)


def test_resume_download_64mib(srv, tmp_path):
    part = tmp_path / "partial-big"
    with open(srv.rootpath / "big.bin", "rb") as f:
        part.write_bytes(f.read(40 << 20))
    curl("-C", "-", "-o", part, srv.url("/big.bin"))
    assert sha256_file(part) == srv.files["big.bin"]


@pytest.mark.parametrize("mode", MODES)
def test_resume_upload(srv, tmp_path, mode):
    # SIZE + APPE
    data = os.urandom(700001)
    name = "resume-up-%s.bin" % mode
    first = tmp_path / "first"
    first.write_bytes(data[:250000])
    curl(*MODES[mode], "-T", first, srv.url("/" + name))
    assert (srv.rootpath / name).stat().st_size == 250000
    whole = tmp_path / "whole"
    whole.write_bytes(data)
    curl(*MODES[mode], "-C", "-", "-T", whole, srv.url("/" + name))
    assert sha256_file(srv.rootpath / name) == sha256(data)


def test_range_download(srv, tmp_path):
    full = srv.files["medium.bin"]
    out = tmp_path / "r"
    curl("-r", "1000-", "-o", out, srv.url("/medium.bin"))
    assert sha256_file(out) == sha256(full[1000:])


def test_huge_file_size_and_tail(srv, tmp_path):
    """A file past 4 GiB: SIZE reports all of it, and REST near the end
    followed by RETR returns the right tail (no 4 GiB download)."""
    import ftplib
    f = srv.ftplib()
    try:
        f.voidcmd("TYPE I")
        assert f.size("huge.bin") == HUGE_SIZE
        for offset in (HUGE_SIZE - 1000, 1 << 32, HUGE_DATA_AT + 12345):
            got = bytearray()
            f.retrbinary("RETR huge.bin", got.extend, rest=offset)
            want = srv.huge_tail[offset - HUGE_DATA_AT:]
            assert len(got) == HUGE_SIZE - offset
            assert sha256(bytes(got)) == sha256(want)
        # REST exactly at the end: an empty transfer, not an error
        got = bytearray()
        try:
            f.retrbinary("RETR huge.bin", got.extend, rest=HUGE_SIZE)
        except ftplib.error_perm as e:
            assert str(e)[:3] in ("550", "551", "554"), e
        else:
            assert got == b""
    finally:
        f.close()
    # and curl's range request (REST past 4 GiB) from the end
    out = tmp_path / "tail"
    start = HUGE_SIZE - 40000
    curl("-r", "%d-" % start, "-o", out, srv.url("/huge.bin"))
    assert sha256_file(out) == sha256(srv.huge_tail[start - HUGE_DATA_AT:])


def test_huge_file_resume(srv, tmp_path):
    """curl -C - with a local copy 4 GiB long: the server sends the last
    bytes only (the local file is sparse too)."""
    out = tmp_path / "huge-local"
    have = HUGE_SIZE - 20000
    with open(out, "wb") as f:
        f.truncate(HUGE_DATA_AT)
        f.write(srv.huge_tail[:have - HUGE_DATA_AT])
    curl("-C", "-", "-o", out, srv.url("/huge.bin"))
    assert out.stat().st_size == HUGE_SIZE
    with open(out, "rb") as f:
        f.seek(HUGE_DATA_AT)
        assert sha256(f.read()) == sha256(srv.huge_tail)


def test_quote_commands(srv):
    """curl -Q sends raw commands around the transfer."""
    write_file(srv.rootpath / "q.txt", b"q\n")
    p = curl("-Q", "NOOP", "-Q", "SYST", srv.url("/q.txt"))
    assert p.stdout == b"q\n"

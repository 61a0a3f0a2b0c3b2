"""lftp mirrors trees both ways; wget fetches single files and a tree."""

import os

import pytest

from ferrytest import make_tree, run, sha256_file, temporaries, tree_digest

LFTP_SET = ("set cmd:fail-exit yes; set net:max-retries 1; "
            "set net:timeout 30; set net:reconnect-interval-base 1; "
            "set ftp:ssl-allow no; ")


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    root = tmp_path_factory.mktemp("lftp-root")
    files = make_tree(root)
    # a wider tree for mirroring
    for i in range(30):
        d = root / "tree" / ("d%02d" % (i % 6)) / ("e%d" % (i % 3))
        d.mkdir(parents=True, exist_ok=True)
        (d / ("f%03d.bin" % i)).write_bytes(os.urandom(i * 1531 + 1))
    (root / "tree" / "emptysub").mkdir()
    s = mod_spawn(root=root, model=model, write=True)
    s.files = files
    s.rootpath = root
    return s


def lftp(srv, script, cwd=None):
    return run(["lftp", "-c", LFTP_SET + "open -u anonymous,x@y " +
                srv.url("") + "; " + script], cwd=cwd, timeout=300)


@pytest.mark.parametrize("passive_ext", [True, False])
def test_mirror_download(srv, tmp_path, passive_ext):
    dest = tmp_path / "mirror"
    opt = "" if passive_ext else "set ftp:prefer-epsv no; "
    lftp(srv, opt + "mirror /tree %s" % dest)
    assert tree_digest(dest) == tree_digest(srv.rootpath / "tree")


def test_mirror_download_whole_root(srv, tmp_path):
    dest = tmp_path / "all"
    lftp(srv, "mirror --exclude-glob up-* / %s" % dest)
    want = tree_digest(srv.rootpath)
    got = tree_digest(dest)
    for k in list(want):
        if k.startswith("up-"):
            del want[k]
    assert got == want


def test_mirror_upload(srv, tmp_path):
    src = tmp_path / "src"
    for i in range(25):
        d = src / ("u%d" % (i % 4)) / ("v%d" % (i % 2))
        d.mkdir(parents=True, exist_ok=True)
        (d / ("g%02d.dat" % i)).write_bytes(os.urandom(i * 4099 + 3))
    (src / "u0" / "empty").mkdir()
    (src / "top.txt").write_bytes(b"top\n" * 1000)
    lftp(srv, "mirror -R %s /up-mirror" % src)
    assert tree_digest(srv.rootpath / "up-mirror") == tree_digest(src)
    # and round trip back down
    back = tmp_path / "back"
    lftp(srv, "mirror /up-mirror %s" % back)
    assert tree_digest(back) == tree_digest(src)
    assert temporaries(srv.rootpath) == []


def test_lftp_get_put_ls(srv, tmp_path):
    (tmp_path / "p.bin").write_bytes(os.urandom(77777))
    p = lftp(srv, "cls -1 /dir; get /medium.bin -o %s; put %s -o /up-p.bin; "
             "pget -n 3 /medium.bin -o %s" % (
                 tmp_path / "m", tmp_path / "p.bin", tmp_path / "m3"),
             cwd=tmp_path)
    names = {n.rstrip("/").rsplit("/", 1)[-1]
             for n in p.stdout.decode().splitlines()}
    assert {"a.txt", "sub", "space name.txt"} <= names, names
    assert sha256_file(tmp_path / "m") == sha256_file(
        srv.rootpath / "medium.bin")
    assert sha256_file(tmp_path / "m3") == sha256_file(
        srv.rootpath / "medium.bin")
    assert sha256_file(srv.rootpath / "up-p.bin") == sha256_file(
        tmp_path / "p.bin")


def test_wget_single_file(srv, tmp_path):
    out = tmp_path / "w"
    run(["wget", "-q", "-O", str(out), srv.url("/medium.bin")])
    assert sha256_file(out) == sha256_file(srv.rootpath / "medium.bin")
    run(["wget", "-q", "-O", str(out), srv.url("/dir/space%20name.txt")])
    assert out.read_bytes() == srv.files["dir/space name.txt"]


def test_wget_recursive(srv, tmp_path):
    """wget sends `LIST -a` and walks the tree."""
    run(["wget", "-q", "-r", "-nH", "--no-remove-listing", "-P",
         str(tmp_path / "w"), srv.url("/tree/")], timeout=300)
    got = tree_digest(tmp_path / "w" / "tree", skip=())
    got = {k: v for k, v in got.items() if not k.endswith(".listing")}
    want = tree_digest(srv.rootpath / "tree")
    # wget does not create empty directories it has nothing to put in
    want = {k: v for k, v in want.items() if k != "emptysub"}
    got = {k: v for k, v in got.items() if k != "emptysub"}
    assert got == want


def test_wget_continue(srv, tmp_path):
    out = tmp_path / "c"
    out.write_bytes(srv.files["medium.bin"][:300000])
    run(["wget", "-q", "-c", "-O", str(out), srv.url("/medium.bin")])
    assert sha256_file(out) == sha256_file(srv.rootpath / "medium.bin")

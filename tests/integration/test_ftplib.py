"""Python's ftplib against ferryd: the command set one client at a time."""

import calendar
import ftplib
import os
import re
import socket
import time

import pytest

from ferrytest import (OLD_MTIME, TEXT, make_tree, sha256, sha256_file,
                       temporaries)


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    root = tmp_path_factory.mktemp("ftplib-root")
    files = make_tree(root, big=True)
    s = mod_spawn(root=root, model=model, write=True)
    s.files = files
    s.rootpath = root
    return s


@pytest.fixture
def ftp(srv):
    f = srv.ftplib()
    yield f
    try:
        f.quit()
    except (ftplib.Error, OSError, EOFError):
        f.close()


def retr(ftp, name, rest=None):
    buf = bytearray()
    ftp.retrbinary("RETR " + name, buf.extend, rest=rest)
    return bytes(buf)


def test_banner_and_login(srv):
    f = srv.ftplib(login=False)
    try:
        assert f.getwelcome().startswith("220")
        assert f.login("anonymous", "me@example.org").startswith("230")
    finally:
        f.quit()
    f = srv.ftplib(login=False)
    try:
        assert f.login("ftp", "").startswith("230")
    finally:
        f.quit()


def test_non_anonymous_user_refused(srv):
    f = srv.ftplib(login=False)
    try:
        with pytest.raises(ftplib.error_perm) as e:
            f.login("root", "secret")
        assert str(e.value)[:3] == "530"
    finally:
        f.close()


def test_feat(ftp):
    resp = ftp.sendcmd("FEAT")
    lines = resp.splitlines()
    assert lines[0].startswith("211-") and lines[-1].startswith("211 ")
    feats = [ln[1:] for ln in lines[1:-1]]
    assert all(ln.startswith(" ") for ln in lines[1:-1]), lines
    names = {f.split(" ")[0].upper() for f in feats}
    for need in ("EPSV", "MDTM", "SIZE", "UTF8", "MLST", "REST"):
        assert need in names, resp
    assert any(f.upper() == "REST STREAM" for f in feats), resp
    mlst = [f for f in feats if f.upper().startswith("MLST ")][0]
    facts = mlst.split(" ", 1)[1].lower().split(";")
    for fact in ("type*", "size*", "modify*"):
        assert fact in facts, mlst


def test_syst_noop_help_stat(ftp):
    assert ftp.sendcmd("SYST").startswith("215 ")
    assert ftp.sendcmd("NOOP").startswith("200")
    h = ftp.sendcmd("HELP")
    assert h[:3] in ("214", "211"), h
    s = ftp.sendcmd("STAT")
    assert s.startswith("211"), s
    assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")
    assert ftp.sendcmd("MODE S").startswith("200")
    assert ftp.sendcmd("STRU F").startswith("200")


def test_stat_path_lists_over_control(ftp):
    resp = ftp.sendcmd("STAT /dir")
    assert resp[:3] in ("211", "212", "213"), resp
    assert "a.txt" in resp


def test_pwd_cwd_cdup(srv, ftp):
    assert ftp.pwd() == "/"
    ftp.cwd("dir")
    assert ftp.pwd() == "/dir"
    ftp.cwd("sub/deeper")
    assert ftp.pwd() == "/dir/sub/deeper"
    assert retr(ftp, "c.bin") == srv.files["dir/sub/deeper/c.bin"]
    ftp.sendcmd("CDUP")
    assert ftp.pwd() == "/dir/sub"
    ftp.cwd("..")
    assert ftp.pwd() == "/dir"
    ftp.cwd("/")
    assert ftp.pwd() == "/"
    ftp.cwd("/dir/sub")
    assert ftp.pwd() == "/dir/sub"
    assert ftp.sendcmd("XPWD").startswith('257 "/dir/sub"')
    with pytest.raises(ftplib.error_perm) as e:
        ftp.cwd("/no/such/dir")
    assert str(e.value)[:3] == "550"
    with pytest.raises(ftplib.error_perm) as e:
        ftp.cwd("/hello.txt")       # a file is not a directory
    assert str(e.value)[:3] == "550"
    assert ftp.pwd() == "/dir/sub"


def test_retr_relative_and_absolute(srv, ftp):
    ftp.voidcmd("TYPE I")
    ftp.cwd("dir")
    assert retr(ftp, "sub/b.bin") == srv.files["dir/sub/b.bin"]
    assert retr(ftp, "/medium.bin") == srv.files["medium.bin"]
    assert retr(ftp, "../small.bin") == srv.files["small.bin"]
    assert retr(ftp, "space name.txt") == srv.files["dir/space name.txt"]
    name = "\u00fcn\u00efc\u00f6d\u00e9.txt"
    assert retr(ftp, name) == srv.files["dir/" + name]


def test_mlsd(srv, ftp):
    entries = dict(ftp.mlsd("/", facts=["type", "size", "modify"]))
    for name in ("hello.txt", "small.bin", "old.txt", "dir", "emptydir"):
        assert name in entries, entries
    assert entries["dir"]["type"] == "dir"
    assert entries["small.bin"]["type"] == "file"
    assert int(entries["small.bin"]["size"]) == 100 * 1024
    assert entries["old.txt"]["modify"].startswith("20010203040506")
    mt = os.stat(srv.rootpath / "hello.txt").st_mtime
    want = time.strftime("%Y%m%d%H%M%S", time.gmtime(int(mt)))
    assert entries["hello.txt"]["modify"][:14] == want
    assert not any(n in (".", "..") for n in entries if
                   entries[n].get("type") not in ("cdir", "pdir"))


def test_mlsd_raw_format(ftp):
    """facts; ... then exactly one space, then the name (RFC 3659)."""
    lines = []
    ftp.retrlines("MLSD dir", lines.append)
    names = set()
    for ln in lines:
        m = re.match(r"^((?:[A-Za-z0-9.\-]+=[^;= ]*;)+) (.+)$", ln)
        assert m, ln
        facts = dict(f.split("=", 1) for f in m.group(1).split(";") if f)
        facts = {k.lower(): v for k, v in facts.items()}
        assert "type" in facts and "modify" in facts, ln
        assert re.match(r"^\d{14}(\.\d{1,3})?$", facts["modify"]), ln
        names.add(m.group(2))
    assert {"a.txt", "sub", "space name.txt"} <= names


def test_mlsd_on_file_fails(ftp):
    with pytest.raises(ftplib.error_perm) as e:
        list(ftp.mlsd("hello.txt"))
    assert str(e.value)[:3] in ("501", "550")


def test_mlst(srv, ftp):
    resp = ftp.sendcmd("MLST old.txt")
    lines = resp.splitlines()
    assert lines[0].startswith("250-") and lines[-1].startswith("250")
    assert len(lines) == 3, lines
    body = lines[1]
    assert body.startswith(" "), body
    facts_s, name = body[1:].split(" ", 1)
    facts = {k.lower(): v for k, v in
             (f.split("=", 1) for f in facts_s.split(";") if f)}
    assert facts["type"] == "file"
    assert int(facts["size"]) == len(srv.files["old.txt"])
    assert facts["modify"].startswith("20010203040506")
    assert name.endswith("old.txt")
    resp = ftp.sendcmd("MLST /dir")
    assert "type=dir" in resp.lower()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("MLST nothing-here")
    assert str(e.value)[:3] == "550"


def test_size_mdtm(srv, ftp):
    ftp.voidcmd("TYPE I")
    assert ftp.size("medium.bin") == len(srv.files["medium.bin"])
    assert ftp.size("empty.bin") == 0
    assert ftp.size("/dir/sub/b.bin") == 33333
    resp = ftp.sendcmd("MDTM old.txt")
    assert resp.split()[0] == "213"
    assert resp.split()[1][:14] == "20010203040506"
    stamp = resp.split()[1][:14]
    assert calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S")) == OLD_MTIME
    for bad in ("SIZE nothing", "MDTM nothing", "SIZE dir"):
        with pytest.raises(ftplib.error_perm) as e:
            ftp.sendcmd(bad)
        assert str(e.value)[:3] == "550", bad


def test_rest_retr(srv, ftp):
    ftp.voidcmd("TYPE I")
    data = srv.files["medium.bin"]
    for off in (0, 1, 4096, len(data) - 1, len(data) // 2):
        assert retr(ftp, "medium.bin", rest=off) == data[off:]
    # REST applies to one transfer only
    assert retr(ftp, "medium.bin") == data


def test_rest_bad_argument(ftp):
    for arg in ("abc", "-5", ""):
        with pytest.raises(ftplib.error_perm) as e:
            ftp.sendcmd(("REST " + arg).strip())
        assert str(e.value)[:3] in ("500", "501"), arg


def test_stor_and_appe(srv, ftp):
    ftp.voidcmd("TYPE I")
    import io
    a, b = os.urandom(123457), os.urandom(65536 * 3 + 5)
    ftp.storbinary("STOR stor-appe.bin", io.BytesIO(a))
    assert sha256_file(srv.rootpath / "stor-appe.bin") == sha256(a)
    ftp.storbinary("APPE stor-appe.bin", io.BytesIO(b))
    assert sha256_file(srv.rootpath / "stor-appe.bin") == sha256(a + b)
    assert retr(ftp, "stor-appe.bin") == a + b
    # APPE to a name that does not exist creates it
    ftp.storbinary("APPE appe-new.bin", io.BytesIO(b))
    assert sha256_file(srv.rootpath / "appe-new.bin") == sha256(b)
    # an empty upload makes an empty file
    ftp.storbinary("STOR empty-up.bin", io.BytesIO(b""))
    assert (srv.rootpath / "empty-up.bin").stat().st_size == 0
    assert temporaries(srv.rootpath) == []


def test_stor_into_missing_dir_fails(ftp):
    import io
    with pytest.raises(ftplib.error_perm) as e:
        ftp.storbinary("STOR no/such/dir/x.bin", io.BytesIO(b"x"))
    assert str(e.value)[:3] in ("550", "553")


def test_rename(srv, ftp):
    import io
    data = os.urandom(1000)
    ftp.storbinary("STOR ren-a.bin", io.BytesIO(data))
    assert ftp.sendcmd("RNFR ren-a.bin").startswith("350")
    assert ftp.sendcmd("RNTO ren-b.bin").startswith("250")
    assert not (srv.rootpath / "ren-a.bin").exists()
    assert sha256_file(srv.rootpath / "ren-b.bin") == sha256(data)
    ftp.mkd("ren-dir")
    ftp.rename("ren-b.bin", "ren-dir/ren-c.bin")
    assert sha256_file(srv.rootpath / "ren-dir/ren-c.bin") == sha256(data)
    ftp.rename("ren-dir", "ren-dir2")
    assert (srv.rootpath / "ren-dir2/ren-c.bin").exists()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RNFR does-not-exist")
    assert str(e.value)[:3] == "550"
    # RNTO without RNFR
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RNTO whatever")
    assert str(e.value)[:3] == "503"
    # RNFR then another command: the pending rename is forgotten
    ftp.sendcmd("RNFR ren-dir2")
    ftp.voidcmd("NOOP")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RNTO ren-dir3")
    assert str(e.value)[:3] == "503"


def test_dele(srv, ftp):
    import io
    ftp.storbinary("STOR del-me.bin", io.BytesIO(b"bye"))
    assert ftp.delete("del-me.bin").startswith("250")
    assert not (srv.rootpath / "del-me.bin").exists()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.delete("del-me.bin")
    assert str(e.value)[:3] == "550"
    with pytest.raises(ftplib.error_perm):
        ftp.delete("emptydir")       # DELE does not remove directories


def test_mkd_rmd(srv, ftp):
    resp = ftp.sendcmd("MKD new-dir")
    assert resp.startswith("257"), resp
    assert '"/new-dir"' in resp or '"new-dir"' in resp
    assert (srv.rootpath / "new-dir").is_dir()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.mkd("new-dir")           # exists already
    assert str(e.value)[:3] == "550"
    ftp.mkd("new-dir/inner")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rmd("new-dir")           # not empty
    assert str(e.value)[:3] == "550"
    ftp.rmd("new-dir/inner")
    ftp.rmd("new-dir")
    assert not (srv.rootpath / "new-dir").exists()
    with pytest.raises(ftplib.error_perm):
        ftp.rmd("hello.txt")


def test_type_a_converts_lf_to_crlf(srv, ftp):
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("RETR text.txt")
    got = bytearray()
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        got.extend(chunk)
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert bytes(got) == TEXT.replace(b"\n", b"\r\n")
    # retrlines (TYPE A) yields the lines without their ends
    lines = []
    ftp.retrlines("RETR text.txt", lines.append)
    assert lines == TEXT.decode().split("\n")[:-1]
    ftp.voidcmd("TYPE I")
    assert retr(ftp, "text.txt") == TEXT


def test_type_commands(ftp):
    assert ftp.sendcmd("TYPE I").startswith("200")
    assert ftp.sendcmd("TYPE A").startswith("200")
    assert ftp.sendcmd("TYPE A N").startswith("200")
    try:
        assert ftp.sendcmd("TYPE L 8").startswith("200")
    except ftplib.error_perm as e:
        assert str(e)[:3] == "504"
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("TYPE E")
    assert str(e.value)[:3] in ("501", "504")


def test_list_nlst(srv, ftp):
    lines = []
    ftp.retrlines("LIST", lines.append)
    from ferrytest import parse_ls
    entries = parse_ls("\n".join(lines))
    assert int(entries["medium.bin"].group("size")) == (1 << 20) + 7
    names = ftp.nlst()
    assert {"hello.txt", "dir", "big.bin"} <= {n.rsplit("/", 1)[-1]
                                              for n in names}
    for opt in ("-a", "-l", "-la", "-al"):
        lines = []
        ftp.retrlines("LIST " + opt, lines.append)
        assert "hello.txt" in set(parse_ls("\n".join(lines))), opt
    lines = []
    ftp.retrlines("LIST -la dir", lines.append)
    assert "a.txt" in set(parse_ls("\n".join(lines)))
    lines = []
    ftp.retrlines("LIST hello.txt", lines.append)
    assert list(parse_ls("\n".join(lines)))[0].endswith("hello.txt")


def test_epsv_and_pasv(srv):
    """ftplib uses PASV on IPv4; EPSV is driven by hand here."""
    f = srv.ftplib()
    try:
        assert f.sendcmd("PASV").startswith("227")
        assert retr(f, "hello.txt") == srv.files["hello.txt"]   # PASV
        resp = f.sendcmd("EPSV")
        assert resp.startswith("229") and "(|||" in resp
        port = int(resp.split("(|||")[1].split("|")[0])
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f.putcmd("RETR small.bin")
        assert f.getresp()[:3] in ("150", "125")
        got = s.makefile("rb").read()
        s.close()
        assert f.voidresp().startswith("226")
        assert got == srv.files["small.bin"]
        # a second PASV replaces the first listener
        f.sendcmd("PASV")
        assert retr(f, "hello.txt") == srv.files["hello.txt"]
    finally:
        f.quit()


def test_epsv_all(srv):
    f = srv.ftplib()
    try:
        assert f.sendcmd("EPSV ALL")[:1] == "2"
        with pytest.raises(ftplib.error_perm):
            f.sendcmd("PASV")
        assert f.sendcmd("EPSV").startswith("229")
    finally:
        f.quit()


def test_abor_during_transfer(srv):
    """ftplib.abort() sends ABOR as urgent data: 426 then 226 (or 226
    alone when the transfer had already finished), and the session goes
    on."""
    f = srv.ftplib()
    try:
        f.voidcmd("TYPE I")
        conn = f.transfercmd("RETR big.bin")
        got = conn.recv(65536)
        assert got
        resp = f.abort()
        code = resp[:3]
        assert code in ("426", "226", "225"), resp
        if code == "426":
            assert f.getresp()[:3] in ("226", "225")
        conn.close()
        assert f.sendcmd("NOOP").startswith("200")
        assert retr(f, "small.bin") == srv.files["small.bin"]
    finally:
        f.quit()


def test_abor_without_transfer(ftp):
    resp = ftp.abort()
    assert resp[:3] in ("225", "226"), resp
    assert ftp.sendcmd("NOOP").startswith("200")


def test_abor_during_upload(srv):
    f = srv.ftplib()
    try:
        f.voidcmd("TYPE I")
        conn = f.transfercmd("STOR aborted-up.bin")
        conn.sendall(os.urandom(256 * 1024))
        resp = f.abort()
        assert resp[:3] in ("426", "226", "225"), resp
        if resp[:3] == "426":
            assert f.getresp()[:3] in ("226", "225")
        conn.close()
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        f.quit()
    # an aborted upload leaves no partial file and no temporary
    assert not (srv.rootpath / "aborted-up.bin").exists()
    assert temporaries(srv.rootpath) == []


def test_quit(srv):
    f = srv.ftplib()
    assert f.quit().startswith("221")


def test_fifty_retrs_one_session(srv):
    f = srv.ftplib()
    try:
        f.voidcmd("TYPE I")
        names = ["hello.txt", "small.bin", "medium.bin", "dir/sub/b.bin",
                 "empty.bin"]
        for i in range(50):
            name = names[i % len(names)]
            assert sha256(retr(f, name)) == sha256(srv.files[name]), (i, name)
        assert f.sendcmd("NOOP").startswith("200")
    finally:
        f.quit()


def test_interleaved_commands_one_session(srv):
    """Many kinds of command on one control connection, in a row."""
    import io
    f = srv.ftplib()
    try:
        f.voidcmd("TYPE I")
        for i in range(20):
            data = os.urandom(1000 + i * 997)
            name = "mix-%d.bin" % i
            f.storbinary("STOR " + name, io.BytesIO(data))
            assert f.size(name) == len(data)
            assert retr(f, name) == data
            lines = []
            f.retrlines("LIST", lines.append)
            assert any(ln.endswith(" " + name) for ln in lines)
            assert dict(f.mlsd())[name]["size"] == str(len(data))
            f.delete(name)
    finally:
        f.quit()

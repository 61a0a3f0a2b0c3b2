"""Hostile and malformed input on the control connection, sent raw:
traversal, symlink escapes, over-long lines, NUL bytes, unknown and
out-of-order commands, Telnet sequences, pipelining and fragmentation,
names that carry CR/LF, passive-port hijack."""

import os
import socket
import threading
import time

import pytest

from ferrytest import (make_tree, parse_ls, recv_all, sha256,
                       temporaries)

SECRET = b"this file lies outside the root\n"


@pytest.fixture(scope="module")
def srv(mod_spawn, model, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root = base / "root"
    root.mkdir()
    files = make_tree(root)
    (base / "secret.txt").write_bytes(SECRET)
    (base / "x").write_bytes(SECRET)
    (base / "outdir").mkdir()
    (base / "outdir" / "inner.txt").write_bytes(SECRET)
    os.symlink("/etc", root / "etc")
    os.symlink("..", root / "up")
    os.symlink("../secret.txt", root / "esc")
    os.symlink("../x", root / "esc-w")        # for the write test alone
    os.symlink(str(base / "outdir"), root / "absout")
    os.symlink("dir/a.txt", root / "inside")
    os.symlink("dir", root / "insidedir")
    os.symlink("../a.txt", root / "dir" / "sub" / "uplink")   # stays inside
    s = mod_spawn(root=root, model=model, write=True)
    s.files = files
    s.base = base
    s.rootpath = root
    return s


@pytest.fixture
def c(srv):
    conn = srv.login()
    yield conn
    conn.close()


def outside_intact(srv):
    assert (srv.base / "secret.txt").read_bytes() == SECRET
    assert (srv.base / "x").read_bytes() == SECRET
    assert sorted(os.listdir(srv.base)) == ["outdir", "root", "secret.txt",
                                             "x"]
    assert os.listdir(srv.base / "outdir") == ["inner.txt"]


def retr_refused(c, path):
    """RETR path with a data connection ready: must be refused (550) and
    must send nothing from outside the root."""
    data = c.open_data()
    code, lines = c.do("RETR " + path)
    got = b""
    if code in (125, 150):
        data.settimeout(10)
        got = recv_all(data)
        code, lines = c.reply()
    data.close()
    assert SECRET not in got and b"root:" not in got, (path, got[:200])
    assert code == 550, (path, lines)


def list_output(c, cmd):
    """(code, data) of a listing command; data is None when refused."""
    data = c.open_data()
    code, lines = c.do(cmd)
    if code not in (125, 150):
        data.close()
        return code, None
    got = recv_all(data)
    data.close()
    code, lines = c.reply()
    assert code == 226, lines
    return code, got.decode("utf-8", "replace")


# -- traversal ------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "../../etc/passwd", "../secret.txt", "/../secret.txt", "/../x",
    "../x", "dir/../../secret.txt", "./../secret.txt", "dir/sub/../../../x",
    "/etc/passwd", "//../x", "..", "../../../../../../etc/passwd",
])
def test_retr_traversal(srv, c, path):
    retr_refused(c, path)
    outside_intact(srv)


@pytest.mark.parametrize("cmd", ["SIZE ../secret.txt", "MDTM ../secret.txt",
                                 "MLST ../secret.txt", "SIZE /../x",
                                 "MLST ..", "SIZE up/secret.txt"])
def test_info_traversal(c, cmd):
    code, lines = c.do(cmd)
    assert code == 550, lines
    assert str(len(SECRET)) not in " ".join(lines[1:])


def listing_names(cmd, text):
    """Names in a LIST, NLST or MLSD output (symlink targets left out)."""
    verb = cmd.split()[0].upper()
    lines = [ln.rstrip("\r") for ln in text.split("\n") if ln.strip()]
    if verb == "LIST":
        return set(parse_ls("\n".join(lines)))
    if verb == "MLSD":
        return {ln.split(" ", 1)[-1] for ln in lines}
    return {ln.rsplit("/", 1)[-1] for ln in lines}


OUTSIDE = {"secret.txt", "x", "outdir", "inner.txt", "passwd", "hostname"}


def test_cwd_dotdot_at_root(srv, c):
    """".." above "/" is refused (550), never clamped to the root."""
    for path in ("..", "../..", "/..", "dir/../..", "up", "../root"):
        code, lines = c.do("CWD " + path)
        assert code == 550, (path, lines)
        code, lines = c.do("PWD")
        assert code == 257 and lines[0].split('"')[1] == "/", (path, lines)
    code, lines = c.do("CDUP")
    assert code == 550, lines
    assert c.do("PWD")[1][0].split('"')[1] == "/"
    code, text = list_output(c, "LIST")
    names = listing_names("LIST", text)
    assert "hello.txt" in names and not names & OUTSIDE


def test_list_traversal(c):
    for cmd in ("LIST ..", "LIST ../", "NLST ..", "MLSD ..", "LIST -la ..",
                "LIST /..", "NLST ../outdir", "MLSD /../outdir"):
        code, text = list_output(c, cmd)
        assert text is None and code == 550, (cmd, code, text)
    code, lines = c.do("STAT ..")
    assert code in (450, 550), lines


def test_write_traversal(srv, c):
    for cmd in ("MKD ../newdir", "MKD ..", "MKD /../newdir", "RMD ../outdir",
                "DELE ../secret.txt", "DELE /../x", "RNFR ../secret.txt",
                "RMD ..", "MKD up/newdir", "DELE esc/../x"):
        code, lines = c.do(cmd)
        assert code in (550, 553), (cmd, lines)
    outside_intact(srv)
    # rename out of the root
    assert c.do("RNFR hello.txt")[0] == 350
    code, lines = c.do("RNTO ../moved.txt")
    assert code in (550, 553), lines
    assert (srv.rootpath / "hello.txt").exists()
    assert c.do("RNFR hello.txt")[0] == 350
    code, lines = c.do("RNTO up/moved.txt")
    assert code in (550, 553), lines
    outside_intact(srv)


def test_stor_traversal(srv, c):
    for path in ("../escape.txt", "/../escape.txt", "up/escape.txt",
                 "etc/ferry-escape", "absout/escape.txt"):
        data = c.open_data()
        code, lines = c.do("STOR " + path)
        if code in (125, 150):
            data.sendall(b"escape")
        data.close()
        if code in (125, 150):
            code, lines = c.reply()
        assert code in (550, 553), (path, lines)
    assert not os.path.exists("/etc/ferry-escape")
    outside_intact(srv)


# -- symlinks -------------------------------------------------------------

@pytest.mark.parametrize("path", ["etc/passwd", "esc", "up/secret.txt",
                                  "up/x", "absout/inner.txt", "etc/hostname",
                                  "insidedir/../up/x"])
def test_symlink_escape_retr(srv, c, path):
    retr_refused(c, path)


def test_symlink_escape_listing(c):
    for cmd in ("LIST etc", "LIST etc/", "NLST etc", "MLSD etc", "LIST up",
                "MLSD up", "LIST absout", "NLST absout", "LIST -la up"):
        code, text = list_output(c, cmd)
        if text is not None:
            names = listing_names(cmd, text)
            assert not names & OUTSIDE, (cmd, text)
        else:
            assert code in (450, 550), cmd
    for path in ("etc", "up", "absout", "insidedir/../up"):
        code, lines = c.do("CWD " + path)
        assert code == 550, (path, lines)
        assert c.do("PWD")[1][0].split('"')[1] == "/"
    for cmd in ("SIZE esc", "MDTM esc", "MLST etc/passwd", "SIZE etc/passwd",
                "MLST up", "MLST absout"):
        assert c.do(cmd)[0] == 550, cmd
    # the root's own listing may show the links (or hide the outward
    # ones), never what lies behind them
    code, text = list_output(c, "LIST")
    names = listing_names("LIST", text)
    assert {"inside", "insidedir"} <= names and not names & OUTSIDE


def test_symlink_escape_write(srv, c):
    """Writing through an outward symlink never touches the outside."""
    data = c.open_data()
    code, lines = c.do("STOR esc-w")
    if code in (125, 150):
        data.sendall(b"overwritten")
        data.close()
        code, lines = c.reply()
    else:
        data.close()
    assert code in (226, 550, 553), lines
    outside_intact(srv)
    for cmd in ("DELE up/x", "RMD absout/..", "MKD absout/new",
                "DELE esc/../x"):
        assert c.do(cmd)[0] in (550, 553), cmd
    outside_intact(srv)


def test_symlink_inside_root_works(srv, c):
    got, (code, lines) = c.transfer_in("RETR inside")
    assert code == 226 and got == srv.files["dir/a.txt"]
    got, (code, lines) = c.transfer_in("RETR insidedir/sub/b.bin")
    assert code == 226 and got == srv.files["dir/sub/b.bin"]
    got, (code, lines) = c.transfer_in("RETR dir/sub/uplink")
    assert code == 226 and got == srv.files["dir/a.txt"]
    assert c.do("CWD insidedir")[0] == 250
    got, (code, lines) = c.transfer_in("LIST")
    assert "a.txt" in parse_ls(got.decode())
    assert c.do("SIZE /inside")[1][0] == "213 %d" % len(srv.files["dir/a.txt"])


# -- malformed lines ------------------------------------------------------

@pytest.mark.parametrize("length", [4097, 5000, 70000, 1 << 20])
def test_overlong_line(c, length):
    c.send(b"X" * length + b"\r\n")
    code, lines = c.reply()
    assert code == 500, lines
    assert c.do("NOOP")[0] == 200
    # a long argument to a real command
    c.send(b"RETR " + b"a" * length + b"\r\n")
    code, lines = c.reply()
    assert code in (500, 501, 550), lines
    assert c.do("PWD")[0] == 257


def test_overlong_line_before_login(srv):
    c = srv.connect()
    try:
        c.expect(220)
        c.send(b"USER " + b"a" * 10000 + b"\r\n")
        assert c.reply()[0] == 500
        c.login()
        assert c.do("NOOP")[0] == 200
    finally:
        c.close()


def test_line_just_under_limit(c):
    # a 4000-byte path is a long but legal line: a clean 550, not 500
    code, lines = c.do("SIZE " + "d" * 250 + "/" + "e" * 3700)
    assert code in (550, 501), lines
    assert c.do("NOOP")[0] == 200


@pytest.mark.parametrize("line", [b"NO\x00OP", b"\x00", b"NOOP\x00",
                                  b"RETR hello\x00.txt", b"CWD dir\x00/sub",
                                  b"\x00\x00\x00\x00"])
def test_nul_bytes(c, line):
    c.send(line + b"\r\n")
    code, lines = c.reply()
    assert code in (500, 501), lines
    assert c.do("NOOP")[0] == 200
    assert c.do("PWD")[1][0].split('"')[1] == "/"


@pytest.mark.parametrize("line", ["FOOBAR", "XYZZY arg", "GET /", "SITE EXEC x",
                                  "HELO there", "A", "NOOPNOOP",
                                  "\u00e9\u00e9\u00e9"])
def test_unknown_commands(c, line):
    code, lines = c.do(line)
    assert code in (500, 502), lines
    assert c.do("NOOP")[0] == 200


def test_invalid_utf8(c):
    c.send(b"CWD \xff\xfe\xc3\x28\r\n")
    code, lines = c.reply()
    assert code in (500, 501, 550, 553), lines
    c.send(b"\xc3\x28\xa0\xa1\r\n")
    code, lines = c.reply()
    assert code in (500, 501, 502), lines
    assert c.do("NOOP")[0] == 200


def test_case_and_line_endings(c):
    assert c.do("noop")[0] == 200
    assert c.do("NoOp")[0] == 200
    c.send(b"NOOP\n")                 # a bare LF ends a line too
    assert c.reply()[0] == 200
    c.send(b"\r\n")                   # an empty line: 500 or ignored
    c.send(b"NOOP\r\n")
    code, lines = c.reply()
    if code == 500:
        code, lines = c.reply()
    assert code == 200, lines


def test_commands_before_login(srv):
    c = srv.connect()
    try:
        c.expect(220)
        for cmd in ("PASV", "EPSV", "LIST", "NLST", "RETR hello.txt",
                    "CWD dir", "PWD", "STOR x", "MKD y", "SIZE hello.txt",
                    "MLSD", "DELE hello.txt", "RNFR hello.txt", "MDTM old.txt",
                    "CDUP", "REST 10"):
            code, lines = c.do(cmd)
            assert code == 530, (cmd, lines)
        code, lines = c.do("PASS nothing")   # PASS before USER
        assert code in (503, 530), lines
        assert c.do("NOOP")[0] == 200
        # STAT answers, but names no version before login
        code, lines = c.do("STAT")
        assert code == 211 and not any("ferry" in l for l in lines), lines
        c.login()
        code, lines = c.do("STAT")
        assert code == 211 and any(l.strip().startswith("ferry ")
                                   for l in lines), lines
        assert c.do("PWD")[0] == 257
    finally:
        c.close()
    assert not (srv.rootpath / "x").exists()
    assert not (srv.rootpath / "y").exists()


def test_data_commands_without_pasv(c):
    for cmd in ("RETR hello.txt", "LIST", "NLST", "MLSD", "STOR nopasv.txt",
                "APPE nopasv.txt"):
        code, lines = c.do(cmd)
        assert code in (425, 503), (cmd, lines)
    assert c.do("NOOP")[0] == 200


def test_port_eprt_refused(srv, c):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    try:
        code, lines = c.do("PORT 127,0,0,1,%d,%d" % (port >> 8, port & 255))
        assert code == 502, lines
        code, lines = c.do("EPRT |1|127.0.0.1|%d|" % port)
        assert code == 502, lines
        code, lines = c.do("PORT 10,0,0,1,0,21")      # FTP bounce attempt
        assert code == 502, lines
        code, lines = c.do("RETR hello.txt")
        assert code in (425, 503), lines
        lsock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            lsock.accept()           # the server never connected out
    finally:
        lsock.close()


# -- Telnet ---------------------------------------------------------------

IAC, IP, DM, DO, WILL, NOP = 255, 244, 242, 253, 251, 241


def test_telnet_ip_synch_before_abor(c):
    c.send(bytes([IAC, IP, IAC, DM]) + b"ABOR\r\n")
    code, lines = c.reply()
    assert code in (225, 226), lines
    assert c.do("NOOP")[0] == 200


def test_telnet_prefix_on_noop(c):
    for prefix in (bytes([IAC, IP]), bytes([IAC, NOP]), bytes([IAC, DO, 1]),
                   bytes([IAC, WILL, 3]), bytes([IAC, IP, IAC, DM])):
        c.send(prefix + b"NOOP\r\n")
        assert c.reply()[0] == 200, prefix
    assert c.do("PWD")[0] == 257


def test_telnet_urgent_like_lftp(c):
    """lftp: IAC IP, then IAC DM as urgent data, then the command."""
    for cmd, codes in ((b"STAT", (211, 212, 213)), (b"ABOR", (225, 226))):
        c.send(bytes([IAC, IP, IAC]))
        c.sock.send(bytes([DM]), socket.MSG_OOB)
        c.send(cmd + b"\r\n")
        code, lines = c.reply()
        assert code in codes, (cmd, lines)
    assert c.do("NOOP")[0] == 200


def test_urgent_abor_like_ftplib(c):
    """ftplib sends the whole "ABOR\\r\\n" with MSG_OOB: its last byte is
    the urgent one."""
    c.sock.send(b"ABOR\r\n", socket.MSG_OOB)
    code, lines = c.reply()
    assert code in (225, 226), lines
    assert c.do("NOOP")[0] == 200


# -- framing --------------------------------------------------------------

def test_ten_thousand_pipelined_commands(srv, c):
    """10,000 commands in one write: every reply, in order."""
    cycle = [("NOOP", 200), ("PWD", 257), ("TYPE A", 200), ("SYST", 215),
             ("MDTM old.txt", 213), ("SIZE nothing", 550), ("FOOBAR", None),
             ("TYPE I", 200), ("SIZE hello.txt", 213)]
    cmds = [cycle[i % len(cycle)] for i in range(10000)]
    blob = b"".join(cmd.encode() + b"\r\n" for cmd, _ in cmds)
    err = []

    def writer():
        try:
            c.sock.sendall(blob)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    for i, (cmd, want) in enumerate(cmds):
        code, lines = c.reply()
        if want is None:
            assert code in (500, 502), (i, cmd, lines)
        else:
            assert code == want, (i, cmd, lines)
    t.join(30)
    assert not err
    assert c.do("NOOP")[0] == 200


def test_pipelined_transfer_commands(srv, c):
    """PASV and RETR in one write, then the data."""
    c.send(b"TYPE I\r\nPASV\r\n")
    assert c.reply()[0] == 200
    code, lines = c.reply()
    assert code == 227
    import re
    nums = [int(x) for x in re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)",
                                      lines[-1]).groups()]
    data = socket.create_connection(("127.0.0.1", nums[4] * 256 + nums[5]),
                                    timeout=30)
    c.send(b"RETR small.bin\r\nNOOP\r\n")
    assert c.reply()[0] in (125, 150)
    got = recv_all(data)
    data.close()
    assert c.reply()[0] == 226
    assert c.reply()[0] == 200
    assert sha256(got) == sha256(srv.files["small.bin"])


def test_command_split_byte_by_byte(srv):
    c = srv.connect()
    try:
        c.expect(220)
        for line in (b"USER anonymous\r\n", b"PASS x@y\r\n", b"CWD dir\r\n",
                     b"PWD\r\n"):
            for i in range(len(line)):
                c.sock.send(line[i:i + 1])
                time.sleep(0.002)
        assert c.reply()[0] == 331
        assert c.reply()[0] == 230
        assert c.reply()[0] == 250
        code, lines = c.reply()
        assert code == 257 and '"/dir"' in lines[0]
        # a CRLF split between two sends
        c.send(b"NOOP\r")
        time.sleep(0.05)
        c.send(b"\n")
        assert c.reply()[0] == 200
    finally:
        c.close()


# -- names carrying CR/LF -------------------------------------------------

EVIL_NAMES = ["evil\r\n-rw-r--r-- 1 0 0 0 Jan 1 2000 injected",
              "nl\ninjected2", "m\r\ntype=file;size=1; injected3",
              "cr\rinjected4"]
INJECTED = ("injected", "injected2", "type=file;size=1; injected3",
            "injected4")


def test_names_with_crlf_not_emitted_raw(srv, c):
    d = srv.rootpath / "evil"
    d.mkdir(exist_ok=True)
    for n in EVIL_NAMES:
        (d / n).write_bytes(b"x")
    (d / "plain.txt").write_bytes(b"x")
    for cmd in ("LIST evil", "NLST evil", "MLSD evil", "LIST -la evil"):
        code, text = list_output(c, cmd)
        assert text is not None, cmd
        assert "plain.txt" in text, cmd
        for line in text.split("\n"):
            line = line.rstrip("\r")
            if "\r" in line:
                raise AssertionError("%s: raw CR inside a line: %r"
                                     % (cmd, line))
        if cmd.startswith("LIST"):
            names = set(parse_ls(text))
            assert not names & {"injected", "injected2", "injected4"}, names
        if cmd.startswith("NLST"):
            names = {n.rstrip("\r").rsplit("/", 1)[-1]
                     for n in text.split("\n") if n}
            assert not names & {"injected2", "injected4",
                                "-rw-r--r-- 1 0 0 0 Jan 1 2000 injected"}, names
        if cmd.startswith("MLSD"):
            names = {ln.rstrip("\r").split(" ", 1)[-1]
                     for ln in text.split("\n") if ln}
            assert not names & {"injected2", "injected3", "injected4"}, names
    code, lines = c.do("STAT evil")
    for line in lines[1:-1]:
        assert "\r" not in line
        assert line.strip() not in INJECTED, lines


# -- passive port hijack --------------------------------------------------

def test_passive_port_hijack_refused(srv, c):
    """A connection to a session's passive port from another address is
    not given the data."""
    host, port = c.pasv()
    thief = socket.socket()
    try:
        thief.bind(("127.0.0.2", 0))
    except OSError:
        thief.close()
        pytest.skip("cannot bind 127.0.0.2 as a source address")
    thief.settimeout(5)
    thief.connect(("127.0.0.1", port))
    time.sleep(0.2)
    legit = None
    try:
        legit = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        legit = None     # the listener may be gone after a refusal
    c.cmd("RETR small.bin")
    code, lines = c.reply()
    stolen = b""
    try:
        thief.settimeout(3)
        stolen = recv_all(thief)
    except (socket.timeout, ConnectionResetError):
        pass
    thief.close()
    assert stolen == b"", "data went to a connection from another address"
    if code in (125, 150):
        assert legit is not None
        got = recv_all(legit)
        assert sha256(got) == sha256(srv.files["small.bin"])
        assert c.reply()[0] == 226
    else:
        assert code in (425, 426), lines
    if legit is not None:
        legit.close()
    assert c.do("NOOP")[0] == 200


def test_no_temporaries_left(srv):
    assert temporaries(srv.rootpath) == []

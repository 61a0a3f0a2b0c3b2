"""An IPv6 listener on ::1: login, list, download and upload."""

import io
import os

import pytest

from ferrytest import have_ipv6_loopback, make_tree, run, sha256, sha256_file


@pytest.fixture
def srv6(ferry, tmp_path):
    if not have_ipv6_loopback():
        pytest.skip("::1 is not available on this machine")
    root = tmp_path / "root6"
    root.mkdir()
    files = make_tree(root)
    s = ferry(root=root, write=True, ipv6=True)
    s.files = files
    s.rootpath = root
    return s


def test_ipv6_ftplib(srv6):
    f = srv6.ftplib()
    try:
        buf = bytearray()
        f.retrbinary("RETR medium.bin", buf.extend)      # EPSV on IPv6
        assert sha256(bytes(buf)) == sha256(srv6.files["medium.bin"])
        data = os.urandom(100000)
        f.storbinary("STOR v6.bin", io.BytesIO(data))
        assert sha256_file(srv6.rootpath / "v6.bin") == sha256(data)
        assert "hello.txt" in f.nlst()
        resp = f.sendcmd("EPSV")
        assert resp.startswith("229")
    finally:
        f.quit()


def test_ipv6_curl(srv6, tmp_path):
    out = tmp_path / "o"
    run(["curl", "-sS", "--fail", "--max-time", "60", "-g", "-o", str(out),
         srv6.url("/small.bin")])
    assert out.read_bytes() == srv6.files["small.bin"]
    p = run(["curl", "-sS", "--fail", "--max-time", "60", "-g",
             srv6.url("/")])
    assert b"hello.txt" in p.stdout


def test_ipv6_pasv_refused_or_sane(srv6):
    """PASV cannot describe an IPv6 address: refused, or EPSV works."""
    c = srv6.login()
    try:
        code, lines = c.do("PASV")
        assert code in (227, 425, 500, 501, 502, 522), lines
        got, (code, _) = c.transfer_in("RETR hello.txt")
        assert code == 226 and got == srv6.files["hello.txt"]
    finally:
        c.close()


def test_dual_listeners(spawn, model, tmp_path):
    """--listen twice: IPv4 and IPv6 both served by one process."""
    if not have_ipv6_loopback():
        pytest.skip("::1 is not available on this machine")
    from ferrytest import free_port
    import socket
    root = tmp_path / "dual"
    root.mkdir()
    (root / "f.txt").write_bytes(b"dual\n")
    port6 = free_port(socket.AF_INET6, "::1")
    s = spawn(root=root, model=model, args=["--listen", "[::1]:%d" % port6])
    for url in (s.url("/f.txt"), "ftp://[::1]:%d/f.txt" % port6):
        p = run(["curl", "-sS", "--fail", "--max-time", "30", "-g", url])
        assert p.stdout == b"dual\n"

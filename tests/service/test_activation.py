"""Socket activation and readiness for real: systemd-socket-activate binds
a loopback socket and starts activation_probe (which uses ferry's sdlisten
and notify modules exactly as ferryd does) with LISTEN_FDS, LISTEN_PID,
LISTEN_FDNAMES and NOTIFY_SOCKET.  The test listens on the notify socket,
connects to the activated socket and checks what the probe saw.

Usage: test_activation.py ACTIVATION_PROBE
Exit 0 on success, 1 on failure, 77 (skipped) without systemd-socket-activate."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TIMEOUT = 20


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port):
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main():
    activate = shutil.which("systemd-socket-activate")
    if not activate:
        print("systemd-socket-activate not installed: skipped")
        return 77
    probe = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(path)
        notify.settimeout(TIMEOUT)
        port = free_port()
        proc = subprocess.Popen(
            [activate, "-l", f"127.0.0.1:{port}", "--fdname=ftp",
             "-E", f"NOTIFY_SOCKET={path}", probe],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # The activator starts the service on the first connection.
            conn = connect(port)
            messages = []
            while "READY=1" not in messages:
                messages.append(notify.recv(4096).decode())
            assert messages == ["STATUS=serving 1 sockets", "READY=1"], messages
            line = conn.makefile().readline()
            conn.close()
            assert line == "fd=3 name=ftp family=inet nonblock=1 cloexec=1\n", line
            assert notify.recv(4096).decode() == "STOPPING=1"
            out, _ = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, (proc.returncode, out)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            notify.close()
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AssertionError, OSError, subprocess.TimeoutExpired) as e:
        print(f"FAIL: {e!r}")
        sys.exit(1)

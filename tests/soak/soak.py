#!/usr/bin/python3
"""ferry soak: many clients of mixed load against each event-loop model.

For each model (libev, libev-lt, epoll, poll, select by default) the soak
starts its own ferryd on 127.0.0.1 over a root of pattern files it makes,
runs several ferry-bench processes at once (mixed get/list/put on real
files, verified downloads from /synthetic/, whole-session churn, NOOP
round trips and idle sessions), samples the server's memory and
descriptors while they run, and then checks:

  * no request failed (every ferry-bench reports 0 errors, every download
    compared byte for byte with the pattern, every listing the right
    number of entries, every idle session kept);
  * every uploaded file is whole (the pattern, of the size sent);
  * the server's RSS after warm-up stays flat: the median of the second
    half of the measured window exceeds the median at the end of warm-up
    by no more than a bound;
  * the server's descriptor count comes back to its idle count once the
    clients have left;
  * ferryd logged no error and exits 0 on SIGTERM.

It prints one table per run and exits 1 on any failure, 2 on a usage or
set-up error.  Everything it starts runs in a process group of its own
and is stopped by PID on exit, Ctrl-C included.  Only 127.0.0.1 is used.

See tests/soak/README.md.
"""

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

MODELS = ["libev", "libev-lt", "epoll", "poll", "select"]

# How each model's clients are shared among the ferry-bench processes
# (percent).  mixed: get/list/put on real files; get: verified downloads
# from /synthetic/; churn: a whole session per request; noop: round trips
# on a logged-in session; idle: logged in and silent.
SPLIT_DEFAULT = "mixed=50,get=20,churn=10,noop=10,idle=10"

# Real files in data/: sizes chosen to cross page and chunk boundaries
# (0, 1, not a power of two, exactly a page, a few chunks, one period of
# the pattern and a bit).
DATA_SIZES = [0, 1, 1000, 4096, 16384, 65536, 262144, 1048576 + 13]
DATA_FILES = 96            # data/f000.bin ... f095.bin
PUT_SIZE = 4096            # ferry-bench's default upload size

# Seconds of each model's share kept for start, settle, checks and stop.
RESERVE_S = 8.0
# Seconds to wait for the descriptor count to come back after the load.
SETTLE_S = 30.0

PATTERN_PERIOD = 1048573


def pattern_byte(off):
    """include/ferry/pattern.h, ferry_pattern_byte()."""
    x = off % PATTERN_PERIOD
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x & 0xFF


# ---- processes we started ------------------------------------------------

class Children:
    """Every process the soak starts, so that each is stopped by its PID."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        # A session of its own: Ctrl-C reaches this script only, which then
        # stops the children itself, in order.  The stop signals wait while
        # the child is started and recorded, so none is started unrecorded.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            p = subprocess.Popen(argv, start_new_session=True, **kw)
            self.procs.append(p)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=10.0):
        if p.poll() is not None:
            return p.returncode
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return p.wait()

    def stop_all(self):
        # Load generators first, then servers.
        for p in reversed(self.procs):
            if p.poll() is None:
                self.stop(p, wait=5.0)
        self.procs = [p for p in self.procs if p.poll() is None]


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Abort(Exception):
    pass


def on_signal(signum, frame):
    raise Abort("signal %d" % signum)


# ---- /proc ------------------------------------------------------------------

def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / hz   # utime + stime


def machine_busy_s():
    """CPU seconds all cores spent not idle, since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / hz


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Sampler(threading.Thread):
    """Samples ferryd's RSS, PSS and descriptor count every interval."""

    def __init__(self, pid, interval):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples = []          # (t, rss KiB, pss KiB, fds)
        self.halt = threading.Event()
        self.lost = False

    def sample(self):
        try:
            s = (time.monotonic(), proc_rss_kib(self.pid),
                 proc_pss_kib(self.pid), proc_fds(self.pid))
        except (OSError, ValueError):
            self.lost = True
            return None
        self.samples.append(s)
        return s

    def run(self):
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.interval)


# ---- set-up ----------------------------------------------------------------

def make_tree(root, bench):
    """data/: pattern files, a folder, symlinks in and out; up/ for puts."""
    data = os.path.join(root, "data")
    os.makedirs(os.path.join(data, "sub"))
    os.makedirs(os.path.join(root, "up"))
    proto = {}
    for size in set(DATA_SIZES):
        path = os.path.join(root, "proto-%d" % size)
        subprocess.run([bench, "--make-file", path, "--size", str(size)],
                       check=True, stdout=subprocess.DEVNULL)
        proto[size] = path
    for i in range(DATA_FILES):
        shutil.copyfile(proto[DATA_SIZES[i % len(DATA_SIZES)]],
                        os.path.join(data, "f%03d.bin" % i))
    shutil.copyfile(proto[16384], os.path.join(data, "sub", "g.bin"))
    for path in proto.values():
        os.unlink(path)
    # Followed beneath the root (listed, downloadable) ...
    os.symlink("f005.bin", os.path.join(data, "link-in"))
    # ... and leading out of it (never listed, never served).
    os.symlink("/etc/passwd", os.path.join(data, "link-out"))
    os.symlink("../../..", os.path.join(data, "link-up"))
    # What LIST of data/ must show: the files, sub/ and link-in.
    return DATA_FILES + 2


def free_port():
    """A port below the ephemeral range, so TIME_WAIT sockets of the
    clients never hold it."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise Abort("no free port")


def wait_banner(port, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            time.sleep(0.1)
    return False


def parse_split(spec, clients):
    weights = {}
    for part in spec.split(","):
        name, _, w = part.partition("=")
        if name not in ("mixed", "get", "churn", "noop", "idle"):
            raise ValueError("unknown workload in --split: %r" % name)
        weights[name] = int(w)
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("--split weights add up to 0")
    counts = {k: clients * w // total for k, w in weights.items()}
    # What rounding left over goes to the first workload.
    counts[next(iter(counts))] += clients - sum(counts.values())
    return {k: v for k, v in counts.items() if v > 0}


# ---- one model ---------------------------------------------------------------

def bench_argv(args, port, workload, clients, warmup, duration, expect):
    a = [args.ferry_bench, "-p", str(port), "-c", str(clients),
         "--json", "--quiet", "--timeout", "30", "--connect-timeout", "30"]
    if workload == "mixed":
        a += ["-w", "mixed", "--files", "data/f{000..%03d}.bin" % (DATA_FILES - 1),
              "--files", "data/link-in", "--files", "data/sub/g.bin",
              "--verify-pattern", "--path", "data", "--expect-entries", str(expect),
              "--put-dir", "up"]
    elif workload == "get":
        a += ["-w", "get", "--files", "/synthetic/4K", "--files", "/synthetic/1000",
              "--files", "/synthetic/1M", "--verify-pattern"]
    elif workload == "churn":
        a += ["-w", "churn", "--files", "data/f{000..%03d}.bin" % (DATA_FILES - 1),
              "--verify-pattern"]
    elif workload == "noop":
        a += ["-w", "noop"]
    if workload == "idle":
        # idle has no warm-up: it holds for the whole run.
        a += ["-w", "idle", "-d", "%g" % (warmup + duration)]
    else:
        a += ["-d", "%g" % duration, "--warmup", "%g" % warmup]
    return a


def check_uploads(updir, keepdir):
    """Every file in up/ should be PUT_SIZE bytes of the pattern.  Returns
    (whole, cut, wrong): cut files are a true prefix of the pattern, wrong
    ones differ from it.  Files not whole are moved to keepdir."""
    expect = bytes(pattern_byte(i) for i in range(PUT_SIZE))
    whole, cut, wrong = 0, [], []
    for name in os.listdir(updir):
        with open(os.path.join(updir, name), "rb") as f:
            data = f.read(PUT_SIZE + 1)
        if data == expect:
            whole += 1
            continue
        (cut if len(data) < PUT_SIZE and expect.startswith(data) else wrong).append(
            "%s (%d bytes)" % (name, len(data)))
        os.makedirs(keepdir, exist_ok=True)
        os.rename(os.path.join(updir, name), os.path.join(keepdir, name))
    return whole, cut, wrong


def median_in(samples, t0, t1, col):
    v = [s[col] for s in samples if t0 <= s[0] <= t1]
    return statistics.median(v) if v else None


def slope_kib_per_min(samples, t0, t1):
    pts = [(s[0], s[1]) for s in samples if t0 <= s[0] <= t1]
    if len(pts) < 3:
        return 0.0
    mt = sum(p[0] for p in pts) / len(pts)
    mr = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mt) ** 2 for p in pts)
    if den == 0:
        return 0.0
    return 60.0 * sum((p[0] - mt) * (p[1] - mr) for p in pts) / den


def run_model(args, kids, model, clients, load_s, root, expect, workdir):
    res = {"model": model, "clients": clients, "failures": [], "requests": 0,
           "bytes": 0, "errors": 0, "abandoned_mixed": 0}
    fail = res["failures"]
    updir = os.path.join(root, "up")
    shutil.rmtree(updir)
    os.mkdir(updir)

    warmup = max(3.0, round(load_s * args.warmup_fraction))
    duration = max(5.0, round(load_s - warmup, 1))
    split = parse_split(args.split, clients)
    res["split"] = split

    log_path = os.path.join(workdir, "ferryd-%s.log" % model)
    limit = 2 * clients + 64
    port = None
    srv = None
    for _ in range(5):
        port = free_port()
        argv = [args.ferryd, "--root", root, "--listen", "127.0.0.1:%d" % port,
                "--model", model, "--write", "--synthetic",
                "--max-clients", str(limit), "--max-per-ip", str(limit),
                "--log-level", args.log_level]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        if args.anon_write:
            argv.append("--anon-write")
        with open(log_path, "w") as log:
            srv = kids.start(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if wait_banner(port, srv, 10.0):
            break
        kids.stop(srv)
        with open(log_path) as f:
            if "in use" not in f.read():
                srv = None
                break
        srv = None
    if srv is None:
        fail.append("ferryd did not start (see %s)" % log_path)
        return res
    pid = srv.pid

    # The idle figures: after one connection (the banner check) has come
    # and gone, before any load.
    time.sleep(1.0)
    fds_idle = proc_fds(pid)
    rss_idle = proc_rss_kib(pid)
    sampler = Sampler(pid, args.interval)
    sampler.start()

    cpu0_srv, cpu0_all, t_start = proc_cpu_s(pid), machine_busy_s(), time.monotonic()
    benches = {}
    for w, n in split.items():
        out = open(os.path.join(workdir, "bench-%s-%s.json" % (model, w)), "w+")
        err = open(os.path.join(workdir, "bench-%s-%s.err" % (model, w)), "w+")
        p = kids.start(bench_argv(args, port, w, n, warmup, duration, expect),
                       stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        benches[w] = (p, out, err)

    deadline = t_start + warmup + duration + 60.0
    for w, (p, out, err) in benches.items():
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            fail.append("ferry-bench %s did not finish in time" % w)
            kids.stop(p, signal.SIGINT)
    t_left = time.monotonic()
    cpu1_all = machine_busy_s()
    try:
        cpu1_srv = proc_cpu_s(pid)
    except (OSError, ValueError):
        cpu1_srv = cpu0_srv

    bench_cpu = 0.0
    warm_ends, meas_ends = [], []
    for w, (p, out, err) in benches.items():
        out.seek(0)
        text = out.read()
        err.seek(0)
        etext = err.read().strip()
        out.close()
        err.close()
        try:
            j = json.loads(text)
        except ValueError:
            fail.append("ferry-bench %s: no report (exit %s) %s" % (w, p.returncode, etext[-300:]))
            continue
        res["requests"] += j["requests"] if w != "idle" else 0
        res["bytes"] += j["bytes"]
        res["errors"] += j["errors"]
        bench_cpu += j["cpu"]["user_s"] + j["cpu"]["sys_s"]
        res.setdefault("by_workload", {})[w] = {
            "clients": j["clients"], "requests": j["requests"], "bytes": j["bytes"],
            "errors": j["errors"], "p99_us": j["latency_us"]["p99"]}
        if j["errors"]:
            kinds = {k: v for k, v in j["errors_by_kind"].items() if v}
            fail.append("ferry-bench %s: %d errors %s" % (w, j["errors"], kinds))
        elif p.returncode != 0:
            fail.append("ferry-bench %s exited %s" % (w, p.returncode))
        if j.get("interrupted"):
            fail.append("ferry-bench %s was interrupted" % w)
        if w == "mixed":
            res["abandoned_mixed"] = j["abandoned"]
        if w == "idle":
            idle = j["idle"]
            res["idle"] = idle
            if not (idle["wanted"] == idle["accepted"] == idle["kept"]) or idle["dropped"]:
                fail.append("idle sessions: %s" % idle)
        else:
            # The measured window from the reports themselves: from the
            # last warm-up end to the first measured end.
            warm_ends.append(t_start + j["ramp_s"] + j["warmup_s"])
            meas_ends.append(warm_ends[-1] + j["elapsed_s"])
    t_warm_end = max(warm_ends, default=t_start + warmup)
    t_meas_end = min(meas_ends, default=t_start + warmup + duration)

    # Clients gone: the descriptors must come back to the idle count.
    t_phase = time.monotonic()
    phases = res["phases_s"] = {"load": round(t_phase - t_start, 1)}
    fds_after = None
    settle_end = time.monotonic() + SETTLE_S
    while srv.poll() is None and time.monotonic() < settle_end:
        s = sampler.sample()
        if s is not None:
            fds_after = s[3]
            if fds_after <= fds_idle:
                break
        time.sleep(0.5)
    sampler.halt.set()
    sampler.join()
    samples = sampler.samples
    phases["settle"] = round(time.monotonic() - t_phase, 1)
    t_phase = time.monotonic()

    alive = srv.poll() is None
    if not alive:
        fail.append("ferryd exited during the run (status %s)" % srv.returncode)

    # An upload whose data connection ended cleanly is complete as far as
    # FTP can tell (stream mode has no other end marker).  ferry-bench, at
    # the end of its run, closes the data connection of a request in
    # flight before the control connection, so a put cut there may be
    # stored as a shorter file: such files are allowed, as many as the
    # requests in flight at the end, provided every byte they hold is
    # right.  Mid-run, a server that stops an upload early fails the put
    # in ferry-bench itself.
    keepdir = os.path.join(workdir, "uploads-not-whole-%s" % model)
    whole, cut, wrong = check_uploads(updir, keepdir)
    res["uploads_ok"], res["uploads_cut"], res["uploads_bad"] = whole, len(cut), len(wrong)
    if wrong:
        fail.append("%d uploads hold wrong bytes, e.g. %s (kept in %s)"
                    % (len(wrong), wrong[:3], keepdir))
    if len(cut) > res["abandoned_mixed"]:
        fail.append("%d uploads cut short, more than the %d requests in flight at the end, "
                    "e.g. %s (kept in %s)" % (len(cut), res["abandoned_mixed"], cut[:3], keepdir))
    phases["uploads"] = round(time.monotonic() - t_phase, 1)

    # Memory: the end of warm-up against the second half of the window.
    warm_win = max(3 * args.interval, 0.25 * (t_warm_end - t_start))
    rss_warm = median_in(samples, t_warm_end - warm_win, t_warm_end, 1)
    mid = t_warm_end + (t_meas_end - t_warm_end) / 2
    rss_end = median_in(samples, mid, t_meas_end, 1)
    pss_end = median_in(samples, mid, t_meas_end, 2)
    load = [s for s in samples if t_start <= s[0] <= t_meas_end]
    res.update({
        "rss_idle_kib": rss_idle,
        "rss_warm_kib": rss_warm,
        "rss_end_kib": rss_end,
        "rss_max_kib": max((s[1] for s in load), default=None),
        "pss_end_kib": pss_end,
        "rss_slope_kib_min": slope_kib_per_min(samples, mid, t_meas_end),
        "fds_idle": fds_idle,
        "fds_peak": max((s[3] for s in samples), default=None),
        "fds_after": fds_after,
        "samples": len(samples),
        "warmup_s": warmup,
        "measured_s": round(t_meas_end - t_warm_end, 1),
    })
    if rss_warm is None or rss_end is None:
        fail.append("too few memory samples (%d)" % len(samples))
    else:
        growth = rss_end - rss_warm
        bound = max(args.rss_slack_kib, rss_warm * args.rss_slack_pct / 100.0)
        res["rss_growth_kib"] = growth
        res["rss_bound_kib"] = bound
        if growth > bound:
            fail.append("RSS grew %d KiB after warm-up (bound %d KiB)" % (growth, bound))
    if alive and (fds_after is None or fds_after > fds_idle):
        fail.append("descriptors: %s after the clients left, %d before the load"
                    % (fds_after, fds_idle))

    # What else the machine did meanwhile: all busy CPU less ferryd's and
    # ferry-bench's, in cores.
    span = max(1e-3, t_left - t_start)
    res["ferryd_cores"] = (cpu1_srv - cpu0_srv) / span
    res["bench_cores"] = bench_cpu / span
    res["other_cores"] = max(0.0, (cpu1_all - cpu0_all - (cpu1_srv - cpu0_srv) - bench_cpu) / span)
    res["loadavg"] = loadavg()

    # Stop: SIGTERM drains; an idle server exits 0 at once.
    t_phase = time.monotonic()
    if alive:
        rc = kids.stop(srv, signal.SIGTERM, wait=30.0)
        if rc != 0:
            fail.append("ferryd exited %s on SIGTERM" % rc)
    phases["stop"] = round(time.monotonic() - t_phase, 1)
    with open(log_path, errors="replace") as f:
        lines = f.read().splitlines()
    errs = [l for l in lines if " error " in l or "AddressSanitizer" in l or "runtime error:" in l]
    warns = sorted({l.split("event=")[1].split()[0] for l in lines
                    if " warn " in l and "event=" in l})
    res["log_warn_events"] = warns
    if errs:
        fail.append("ferryd logged %d errors, first: %s" % (len(errs), errs[0][:200]))
    t_phase = time.monotonic()
    shutil.rmtree(updir)
    os.mkdir(updir)
    phases["clean"] = round(time.monotonic() - t_phase, 1)
    return res


# ---- report -------------------------------------------------------------------

def mib(kib):
    return "-" if kib is None else "%.1f" % (kib / 1024.0)


def print_tables(results, out=sys.stdout):
    h1 = ("model", "clients", "requests", "req/s", "MB", "errors", "uploads whole/cut/bad",
          "verdict")
    rows = []
    for r in results:
        secs = r.get("measured_s") or 0
        rows.append((r["model"], str(r["clients"]), str(r["requests"]),
                     "%.0f" % (r["requests"] / secs) if secs else "-",
                     "%.0f" % (r["bytes"] / 1e6), str(r["errors"]),
                     "%s/%s/%s" % (r.get("uploads_ok", "-"), r.get("uploads_cut", "-"),
                                   r.get("uploads_bad", "-")),
                     "ok" if not r["failures"] else "FAIL"))
    table(h1, rows, out)
    out.write("\n")
    h2 = ("model", "RSS idle", "RSS warm", "RSS end", "RSS max", "growth", "bound",
          "PSS end", "fds idle", "fds peak", "fds after", "ferryd", "bench", "other", "load")
    rows = []
    for r in results:
        rows.append((r["model"], mib(r.get("rss_idle_kib")), mib(r.get("rss_warm_kib")),
                     mib(r.get("rss_end_kib")), mib(r.get("rss_max_kib")),
                     mib(r.get("rss_growth_kib")), mib(r.get("rss_bound_kib")),
                     mib(r.get("pss_end_kib")), str(r.get("fds_idle", "-")),
                     str(r.get("fds_peak", "-")), str(r.get("fds_after", "-")),
                     "%.2f" % r.get("ferryd_cores", 0), "%.2f" % r.get("bench_cores", 0),
                     "%.2f" % r.get("other_cores", 0), "%.2f" % r.get("loadavg", 0)))
    table(h2, rows, out)
    out.write("(memory in MiB; RSS warm: median at the end of warm-up, RSS end: median of\n"
              " the second half of the measured window, RSS max: highest sample under load;\n"
              " ferryd/bench/other: CPU cores used by the server, the load generators and\n"
              " everything else on the machine; load: 1-minute load average at the end)\n")
    for r in results:
        for f in r["failures"]:
            out.write("FAIL %s: %s\n" % (r["model"], f))


def table(head, rows, out):
    w = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i])
         for i in range(len(head))]
    out.write("  ".join(h.rjust(w[i]) if i else h.ljust(w[i]) for i, h in enumerate(head)) + "\n")
    for r in rows:
        out.write("  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r)) + "\n")


# ---- main -----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(
        description="Soak ferryd: many clients of mixed load against each event-loop "
                    "model, with memory and descriptors watched.")
    ap.add_argument("--ferryd", default=os.path.join(REPO, "build", "src", "ferryd"))
    ap.add_argument("--ferry-bench", default=os.path.join(REPO, "build", "bench", "ferry-bench"))
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma list of --model names (default %(default)s)")
    ap.add_argument("--total", type=float, default=600.0,
                    help="seconds for the whole soak, shared by the models (default 600)")
    ap.add_argument("--clients", type=int, default=1000,
                    help="concurrent clients per model (default 1000)")
    ap.add_argument("--select-clients", type=int, default=200,
                    help="clients for the select model, whose descriptors must stay below "
                         "FD_SETSIZE (1024); each busy client holds up to four (default 200)")
    ap.add_argument("--split", default=SPLIT_DEFAULT,
                    help="share of the clients per workload, in percent (default %(default)s)")
    ap.add_argument("--warmup-fraction", type=float, default=0.2,
                    help="part of each model's load time that is warm-up (default 0.2)")
    ap.add_argument("--interval", type=float, default=2.0,
                    help="seconds between samples of the server (default 2)")
    ap.add_argument("--rss-slack-kib", type=int, default=4096,
                    help="RSS growth after warm-up always allowed (default 4096 KiB)")
    ap.add_argument("--rss-slack-pct", type=float, default=10.0,
                    help="RSS growth allowed as percent of the warm-up RSS, when more than "
                         "--rss-slack-kib (default 10)")
    ap.add_argument("--log-level", default="warn", choices=["debug", "info", "warn", "error"],
                    help="ferryd's log level (default warn)")
    ap.add_argument("--workdir", help="folder for the root, logs and reports "
                                      "(default: a new one under $TMPDIR, removed unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json-out", help="write the figures as JSON to this file")
    args = ap.parse_args()

    models = [m for m in args.models.split(",") if m]
    for exe in (args.ferryd, args.ferry_bench):
        if not os.access(exe, os.X_OK):
            ap.error("%s is not an executable (build it, or pass --ferryd/--ferry-bench)" % exe)
    if not models or args.total <= 0 or args.clients <= 0 or args.select_clients <= 0:
        ap.error("need models, a positive --total and --clients")
    try:
        parse_split(args.split, args.clients)
    except ValueError as e:
        ap.error(str(e))

    # The load logs in as anonymous and uploads: a ferryd that keeps
    # anonymous sessions read-only unless told otherwise is told so.
    try:
        help_text = subprocess.run([args.ferryd, "--help"], capture_output=True,
                                   text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        ap.error("%s --help: %s" % (args.ferryd, e))
    args.anon_write = "--anon-write" in help_text

    # Descriptors for 1,000 clients and their data connections, in the
    # server and in the load generators (both inherit this).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(65536, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass

    for s in STOP_SIGNALS:
        signal.signal(s, on_signal)

    t0 = time.monotonic()
    kids = Children()
    made_workdir = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="ferry-soak.")
    os.makedirs(workdir, exist_ok=True)
    root = os.path.join(workdir, "root")
    results = []
    status = 0
    try:
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(root)
        expect = make_tree(root, args.ferry_bench)
        setup_s = time.monotonic() - t0
        share = (args.total - setup_s) / len(models)
        load_s = share - RESERVE_S
        if load_s < 10:
            raise Abort("--total %.0f leaves %.0f s of load per model; give at least %.0f"
                        % (args.total, load_s, len(models) * (RESERVE_S + 10) + setup_s))
        print("ferry soak: %s; %.0f s per model (%.0f s of load); load average %.2f; "
              "%d CPUs; work folder %s" % (",".join(models), share, load_s, loadavg(),
                                          os.cpu_count(), workdir), flush=True)
        reserve = RESERVE_S
        for i, m in enumerate(models):
            clients = args.select_clients if m == "select" else args.clients
            # Each model gets what is left of the total, in equal shares,
            # less the most that starting, checking and cleaning up has
            # taken so far (on a busy machine, file system work varies).
            left = args.total - (time.monotonic() - t0)
            share_now = min(share, left / (len(models) - i))
            load_now = max(10.0, share_now - reserve)
            t_m = time.monotonic()
            r = run_model(args, kids, m, clients, load_now, root, expect, workdir)
            r["wall_s"] = round(time.monotonic() - t_m, 1)
            reserve = max(reserve, r["wall_s"] - r.get("phases_s", {}).get("load", load_now) + 1.0)
            results.append(r)
            print("%-8s %5d clients  %9d requests  %7.0f MB  errors %d  RSS %s -> %s MiB  "
                  "fds %s/%s/%s  %s  (%.0f s)"
                  % (m, clients, r["requests"], r["bytes"] / 1e6, r["errors"],
                     mib(r.get("rss_warm_kib")), mib(r.get("rss_end_kib")),
                     r.get("fds_idle", "-"), r.get("fds_peak", "-"), r.get("fds_after", "-"),
                     "ok" if not r["failures"] else "FAIL", r["wall_s"]), flush=True)
        print()
        print_tables(results)
        print("total %.0f s; load average %.2f" % (time.monotonic() - t0, loadavg()))
        status = 1 if any(r["failures"] for r in results) else 0
    except Abort as e:
        print("ferry soak: stopped (%s)" % e, file=sys.stderr)
        if results:
            print_tables(results, sys.stderr)
        status = 130 if "signal" in str(e) else 2
    finally:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        kids.stop_all()
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"models": results, "args": vars(args)}, f, indent=1)
        if made_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("work folder kept: %s" % workdir, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

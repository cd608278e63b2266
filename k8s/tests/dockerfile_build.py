"""Does infra/Dockerfile build? Checked without a container engine.

These machines (and CI) have no Docker engine, so `docker build` cannot run
here; what can go wrong in it is checked the way the build would see it:

* the build context: every COPY/ADD source exists among the repository's
  files once /.dockerignore has removed what it names (a `COPY
  tests/Cargo.toml` of a file that does not exist, or that .dockerignore
  drops, fails the build);
* the dependency layer: the manifests the Dockerfile copies, plus the stub
  sources its RUN writes, form a workspace that cargo resolves with
  `--locked` and in which the package it builds exists (`cargo metadata`
  and `cargo tree` over exactly that tree, with the Dockerfile's own RUN
  script and `cargo build` swapped for those two);
* the runtime image: the binary is installed where the runtime stage
  copies it from, links only libraries debian:bookworm-slim ships, and what
  the binary embeds at compile time (`include_str!`, askama templates) is in
  the context.

`negative_checks` feeds it broken Dockerfiles, so the check is proved able
to fail.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "Dockerfile"

# Shared objects debian:bookworm-slim has (libc6, libgcc-s1): the binary may
# link nothing else, since the runtime stage installs only ca-certificates.
SLIM_LIBS = {
    "libc.so.6", "libm.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2", "librt.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) per logical line, continuations joined."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not current and not stripped):
            continue
        current += " " + stripped.rstrip("\\") if current else stripped.rstrip("\\")
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(w.upper(), rest.strip()) for w, _, rest in (line.partition(" ") for line in lines)]


# ------------------------------------------------------------ build context


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex."""
    pattern = os.path.normpath(pattern.strip().lstrip("/"))
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def context_files(dockerignore: str) -> set[str]:
    """The repository's files (tracked or untracked, not git-ignored) that
    reach the build context: a file is out when the last .dockerignore rule
    matching it, or one of its parent directories, excludes it."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    rules = []
    for line in dockerignore.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), _ignore_regex(line.lstrip("!"))))
    kept = set()
    for path in filter(None, listed):
        if not (ROOT / path).exists():
            continue  # deleted in the work tree, not yet in git
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for include, regex in rules:
            if any(regex.fullmatch(p) for p in prefixes):
                excluded = not include
        if not excluded:
            kept.add(path)
    return kept


def copy_sources(ins: list[tuple[str, str]]) -> list[tuple[int, list[str], str]]:
    """(instruction index, sources, destination) of each COPY/ADD from the
    context (not `--from` another stage)."""
    out = []
    for n, (word, rest) in enumerate(ins):
        if word not in ("COPY", "ADD"):
            continue
        args = shlex.split(rest)
        if any(a.startswith("--from=") for a in args):
            continue
        args = [a for a in args if not a.startswith("--")]
        out.append((n, args[:-1], args[-1]))
    return out


def _in_context(source: str, files: set[str]) -> bool:
    source = os.path.normpath(source).lstrip("/")
    if source == ".":
        return bool(files)
    regex = _ignore_regex(source)
    return any(regex.fullmatch(f) or f.startswith(source + "/") for f in files)


def check_context(ins: list[tuple[str, str]], files: set[str]) -> list[str]:
    problems = []
    for _, sources, _ in copy_sources(ins):
        for source in sources:
            if not _in_context(source, files):
                problems.append(f"dockerfile: COPY/ADD source {source} is not in the build context "
                                "(missing, or dropped by /.dockerignore)")
    return problems


# --------------------------------------------------------- dependency layer

SHIM = """#!/bin/sh
# cargo as the Dockerfile's dependency layer calls it: `build` becomes a
# resolution of the stubbed workspace (cargo metadata) and of the package
# it builds (cargo tree), which is what fails when a manifest or stub is
# missing or Cargo.lock does not fit.
if [ "$1" = build ]; then
  shift
  pkgs=""
  while [ $# -gt 0 ]; do
    case "$1" in -p|--package) pkgs="$pkgs -p $2"; shift ;; esac
    shift
  done
  "$REAL_CARGO" metadata --locked --format-version 1 >/dev/null || exit 1
  exec "$REAL_CARGO" tree --locked -e normal,build $pkgs >/dev/null
fi
exec "$REAL_CARGO" "$@"
"""


def check_dependency_layer(ins: list[tuple[str, str]], files: set[str]) -> list[str]:
    """Replays the builder stage up to its `COPY . .` in a temp dir: the
    COPYs of single files, then each RUN with the shimmed cargo."""
    cargo = shutil.which("cargo")
    if cargo is None:
        return ["dockerfile: cargo is not on PATH, the dependency layer cannot be checked"]
    froms = [n for n, (w, _) in enumerate(ins) if w == "FROM"]
    builder = ins[froms[0]: froms[1] if len(froms) > 1 else len(ins)]
    workdir = next((rest for w, rest in builder if w == "WORKDIR"), "/")
    with tempfile.TemporaryDirectory(prefix="masthead-docker-stub-") as tmp:
        src, shim = Path(tmp) / "src", Path(tmp) / "bin" / "cargo"
        src.mkdir()
        shim.parent.mkdir()
        shim.write_text(SHIM)
        shim.chmod(0o755)
        env = dict(os.environ, PATH=f"{shim.parent}:{os.environ['PATH']}", REAL_CARGO=cargo,
                   CARGO_TARGET_DIR=str(Path(tmp) / "target"))
        for word, rest in builder:
            if word in ("COPY", "ADD"):
                (_, sources, dest), = copy_sources([(word, rest)])
                if sources == ["."]:
                    return []  # the layer ends where the whole context comes in
                for source in sources:
                    if source not in files:
                        return [f"dockerfile: dependency layer copies {source}, which is not in the context"]
                    target = src / os.path.relpath(os.path.join(workdir, dest), workdir)
                    if dest.endswith("/") or len(sources) > 1:
                        target = target / Path(source).name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
            elif word == "RUN":
                run = subprocess.run(["sh", "-c", rest], cwd=src, env=env, capture_output=True, text=True)
                if run.returncode != 0:
                    tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-6:])
                    return [f"dockerfile: the dependency layer does not resolve as the Dockerfile builds it:\n{tail}"]
    return ["dockerfile: the builder stage never copies the whole context (COPY . .)"]


# ------------------------------------------------------------ runtime image

_INCLUDE = re.compile(r'include_(?:str|bytes)!\(\s*"([^"]+)"')


def compile_time_files() -> list[str]:
    """What production sources embed at compile time, as context paths."""
    found = []
    for rs in ROOT.glob("**/src/**/*.rs"):
        rel = rs.relative_to(ROOT).as_posix()
        if rel.startswith(("target/", "tests/")):
            continue
        for path in _INCLUDE.findall(rs.read_text()):
            found.append(os.path.normpath(os.path.join(os.path.dirname(rel), path)))
    # askama reads a crate's templates/ (its default directory) at compile time.
    for manifest in ROOT.glob("**/Cargo.toml"):
        crate = manifest.relative_to(ROOT).parent.as_posix()
        if crate != "." and not crate.startswith("target") and re.search(r"^askama\b", manifest.read_text(), re.M):
            found.append(f"{crate}/templates")
    return found


def check_runtime(ins: list[tuple[str, str]], files: set[str]) -> list[str]:
    problems = []
    froms = [n for n, (w, _) in enumerate(ins) if w == "FROM"]
    final = ins[froms[-1]:]
    runs = " ".join(rest for w, rest in ins[: froms[-1]] if w == "RUN")
    for word, rest in final:
        if word == "COPY" and "--from=builder" in rest:
            source = shlex.split(rest)[-2]
            if source not in runs:
                problems.append(f"dockerfile: the runtime stage copies {source}, which the builder never writes")
    if "ca-certificates" not in " ".join(rest for w, rest in final if w == "RUN"):
        problems.append("dockerfile: the runtime stage needs ca-certificates (TLS to NATS, SMTP, MongoDB)")
    for path in compile_time_files():
        if not _in_context(path, files):
            problems.append(f"dockerfile: {path} is embedded at compile time but not in the build context")
    for profile in ("release", "debug"):
        binary = ROOT / "target" / profile / "masthead"
        if binary.exists() and shutil.which("readelf"):
            dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True).stdout
            needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
            for lib in sorted(needed - SLIM_LIBS):
                problems.append(f"dockerfile: masthead links {lib}, which debian:bookworm-slim does not ship")
            break
    return problems


def check(text: str) -> list[str]:
    ins = instructions(text)
    ignore = ROOT / ".dockerignore"
    files = context_files(ignore.read_text() if ignore.exists() else "")
    problems = check_context(ins, files) + check_runtime(ins, files)
    return problems + check_dependency_layer(ins, files)


def negative_checks(text: str) -> list[str]:
    """Each broken variant of the Dockerfile must be caught."""
    broken = {
        "a COPY of a file that does not exist": text.replace(
            "COPY Cargo.toml Cargo.lock ./", "COPY Cargo.toml Cargo.lock ./\nCOPY tests/Cargo.toml tests/", 1),
        "a stub missing from the dependency layer": text.replace("services/addresses ", "", 1),
        "a runtime COPY of something the builder never wrote": text.replace(
            "COPY --from=builder /out/masthead", "COPY --from=builder /out/masthead-server", 1),
    }
    problems = []
    for what, variant in broken.items():
        if variant == text:
            problems.append(f"dockerfile negative check: cannot make {what} (the Dockerfile changed?)")
        elif not check(variant):
            problems.append(f"dockerfile negative check: {what} was not caught")
    return problems

#!/usr/bin/env python3
"""Fails when production Rust code grows past the project's size limits.

Production code is every `src/` tree of the crates under events/,
projections/ and services/ (tests/ holds only test and benchmark crates).
Limits: a source file at most 700 lines, a function at most 80 lines. A
function is counted from its `fn` line to its closing brace; unit-test
modules (`#[cfg(test)]` and below, or files named tests.rs) do not count.

    infra/scripts/check-code-size.py
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TREES = ["events", "projections", "services"]
MAX_FILE, MAX_FN = 700, 80
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def code_only(line: str) -> str:
    """The line without literals and comments, so braces in them don't count."""
    line = re.sub(r"b?'(\\.|[^'\\])'", "' '", line)
    line = re.sub(r'r#+".*?"#+', '""', line)
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    return re.sub(r"//.*", "", line)


def production_files():
    for tree in TREES:
        for dirpath, _, files in os.walk(os.path.join(ROOT, tree)):
            parts = os.path.relpath(dirpath, ROOT).split(os.sep)
            if "src" not in parts or "target" in parts:
                continue
            for f in files:
                if f.endswith(".rs") and f != "tests.rs":
                    yield os.path.join(dirpath, f)


def check(path: str) -> list[str]:
    lines = open(path, encoding="utf-8").read().split("\n")
    rel = os.path.relpath(path, ROOT)
    problems = []
    if len(lines) - 1 > MAX_FILE:
        problems.append(f"{rel}: {len(lines) - 1} lines (at most {MAX_FILE})")
    end = next((i for i, l in enumerate(lines) if l.startswith("#[cfg(test)]")), len(lines))
    for i in range(end):
        m = FN.match(lines[i])
        if not m:
            continue
        depth, started, j = 0, False, i
        while j < end:
            s = code_only(lines[j])
            depth += s.count("{") - s.count("}")
            started = started or "{" in s
            if (started and depth <= 0) or (not started and s.rstrip().endswith(";")):
                break
            j += 1
        if j - i + 1 > MAX_FN:
            problems.append(f"{rel}:{i + 1}: fn {m.group(6)} is {j - i + 1} lines (at most {MAX_FN})")
    return problems


def main() -> int:
    problems = [p for f in sorted(production_files()) for p in check(f)]
    for p in problems:
        print(p)
    if problems:
        print(f"code size: {len(problems)} limit(s) exceeded")
        return 1
    print(f"code size: every production file <= {MAX_FILE} lines, every function <= {MAX_FN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

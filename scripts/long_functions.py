#!/usr/bin/env python3
"""Lists functions longer than a limit (default 80 lines) in C++ sources: the project's rule is no
library function over about 80 lines. A text heuristic (a definition is a line that ends in ') {'
or ') const {' and so on, outside control statements and lambdas), good enough for this code base.

usage: scripts/long_functions.py [--limit N] [paths...]   (default: lib apps)
"""
import argparse
import pathlib
import re
import sys

CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|else|do|try|return|namespace|struct|class|enum)\b")
DEFINITION = re.compile(r"[\w:~>\]]+\s*\(.*\)\s*(const)?\s*(override|noexcept|final)?\s*(->\s*[\w:<>]+\s*)?\{\s*(//.*)?$")


def body_length(lines, start):
    depth = 0
    for i in range(start, len(lines)):
        code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'|//.*', "", lines[i])
        depth += code.count("{") - code.count("}")
        if depth <= 0 and i > start or (depth == 0 and "}" in code):
            return i - start + 1
    return len(lines) - start


def long_functions(path, limit):
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        # A signature may span lines: join back to where the statement starts.
        first = i
        while line.count("(") < line.count(")") and first > 0:
            first -= 1
            line = lines[first].rstrip() + " " + line.strip()
        if CONTROL.match(line) or "[" in line.split("(")[0] or "=" in line.split("(")[0]:
            continue
        if not DEFINITION.search(line):
            continue
        n = body_length(lines, i)
        if n > limit:
            yield first + 1, n, line.strip()[:100]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("paths", nargs="*", default=["lib", "apps"])
    args = ap.parse_args()
    found = 0
    for root in args.paths:
        for path in sorted(pathlib.Path(root).rglob("*")):
            if path.suffix not in (".cpp", ".hpp"):
                continue
            for line, n, text in long_functions(path, args.limit):
                print(f"{path}:{line}: {n} lines: {text}")
                found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

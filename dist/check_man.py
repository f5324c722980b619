#!/usr/bin/python3
"""The man pages against the real --help output, both ways.

usage: check_man.py TERND TERN TERND_8 TERN_1

ternd(8) must name every option and TERND_* variable `ternd --help`
prints, and list no option ternd does not take. tern(1) must name every
command of `tern --help` and every option of `tern --help` and of
`tern COMMAND --help`, and list no option tern does not take.
Exits 1 with one line per difference.
"""
import re
import subprocess
import sys

OPTION = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")


def help_text(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def man_text(path):
    """The page as a reader sees it: `\\-` is '-', font escapes gone."""
    with open(path) as f:
        lines = [l for l in f if not l.startswith('.\\"')]  # comments
    s = "".join(lines)
    s = re.sub(r"\\f[BIRP]", "", s)
    s = s.replace("\\-", "-").replace("\\(em", "-")
    return s


def compare(page, page_text, want, kind):
    bad = []
    have = set(OPTION.findall(page_text))
    for o in sorted(want - have):
        bad.append(f"{page}: {kind} {o} is in --help but not in the page")
    for o in sorted(have - want):
        bad.append(f"{page}: {o} is in the page but no --help prints it")
    return bad


def main():
    ternd, tern, ternd_8, tern_1 = sys.argv[1:5]
    bad = []

    h = help_text(ternd, "--help")
    page = man_text(ternd_8)
    bad += compare(ternd_8, page, set(OPTION.findall(h)), "option")
    for env in sorted(set(re.findall(r"\bTERND_[A-Z_]+", h)) - set(re.findall(r"\bTERND_[A-Z_]+", page))):
        bad.append(f"{ternd_8}: environment {env} is in --help but not in the page")

    h = help_text(tern, "--help")
    commands = re.findall(r"^  ([a-z]+)\b", h, re.M)
    if len(commands) < 5:
        sys.exit(f"tern --help: found only commands {commands}; has its format changed?")
    want = set(OPTION.findall(h))
    for c in commands:
        want |= set(OPTION.findall(help_text(tern, c, "--help")))
    page = man_text(tern_1)
    bad += compare(tern_1, page, want, "option")
    tags = [re.sub(r'^\.[BIR]{1,2}\s+|"', "", t)
            for t in re.findall(r"^\.TP\n(.*)$", page, re.M)]
    for c in commands:
        if not any(re.match(c + r"\b", t) for t in tags):
            bad.append(f"{tern_1}: command {c} has no .TP entry")

    for line in bad:
        print(line)
    print(f"{len(bad)} difference(s) between the man pages and --help")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

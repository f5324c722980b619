#!/usr/bin/env python3
"""Runs every test of every harness executable alone: `EXE [ARGS] NAME`.

Proves that no test leans on what an earlier one left. Reads the tests from
`meson introspect --tests`, asks each harness executable for its names
(`--list`), runs each name in turn with the test's env and cwd, and prints
one line per test and the failures at the end.

    tests/run_each_alone.py BUILDDIR [--suite S] [--only SUBSTR]
"""
import json
import os
import subprocess
import sys


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    build = args[0]
    suite = None
    only = None
    if "--suite" in args:
        suite = args[args.index("--suite") + 1]
    if "--only" in args:
        only = args[args.index("--only") + 1]
    tests = json.loads(subprocess.check_output(
        ["meson", "introspect", build, "--tests"]))
    failed = []
    npass = nskip = 0
    for t in tests:
        if suite and not any(s.endswith(suite) for s in t["suite"]):
            continue
        if only and only not in t["name"]:
            continue
        cmd = t["cmd"]
        if not os.path.isfile(cmd[0]) or not os.path.realpath(cmd[0]).startswith(
                os.path.realpath(build)):
            continue  # a script, not a harness executable
        env = dict(os.environ)
        env.update(t["env"])
        cwd = t["workdir"] or build
        ls = subprocess.run(cmd + ["--list"], env=env, cwd=cwd,
                            capture_output=True, text=True)
        if ls.returncode != 0 or not ls.stdout.strip():
            continue  # not a harness executable (fuzz replay, ...)
        for name in ls.stdout.split():
            try:
                r = subprocess.run(cmd + [name], env=env, cwd=cwd,
                                   capture_output=True, text=True,
                                   timeout=t["timeout"] if t["timeout"] > 0 else None)
                word = {0: "ok", 77: "SKIP"}.get(r.returncode, "FAIL")
                err = r.stderr
            except subprocess.TimeoutExpired as e:
                word = "FAIL"
                err = "meson's timeout (%s s)\n%s" % (t["timeout"], e.stderr or "")
            print("%-4s %s %s" % (word, t["name"], name), flush=True)
            if word == "FAIL":
                failed.append((t["name"], name, err[-3000:]))
            elif word == "SKIP":
                nskip += 1
            else:
                npass += 1
    for tname, name, err in failed:
        print("\n=== FAIL %s %s\n%s" % (tname, name, err))
    print("%d passed, %d failed, %d skipped" % (npass, len(failed), nskip))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

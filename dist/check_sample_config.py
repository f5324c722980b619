#!/usr/bin/python3
"""The sample ternd.yaml: complete, at the defaults, and loadable.

usage: check_sample_config.py TERND SAMPLE CONFIG_MD

1. Every flag of docs/config.md's table but --config is a key of the
   sample (commented out when it has no default: --forward), and the
   sample has no key the table lacks.
2. Each value is the default `ternd --help` prints for that option.
3. ternd starts with `--config SAMPLE` (ports 0 and a temporary data
   directory given as flags, which win over the file), answers /healthz
   with {"status":"ok"}, and stops cleanly on SIGTERM. Under
   TERN_UNDER_VALGRIND ternd runs under memcheck with leaks as errors.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request

KEY = re.compile(r"^(#?)([a-z][a-z0-9_-]*):\s*(.*?)\s*$")


def sample_keys(path):
    active, commented = {}, set()
    with open(path) as f:
        for line in f:
            if line.startswith(" ") or line.startswith("#  "):
                continue  # inside a nested (forwarders) example
            m = KEY.match(line)
            if not m:
                continue
            name = m.group(2).replace("_", "-")
            if m.group(1):
                commented.add(name)
            elif name in active:
                sys.exit(f"{path}: {name} twice")
            else:
                active[name] = m.group(3)
    return active, commented


def main():
    ternd, sample, config_md = sys.argv[1:4]
    bad = []

    with open(config_md) as f:
        documented = re.findall(r"^\| `--([a-z0-9-]+)", f.read(), re.M)
    documented = set(documented) - {"config"}
    if len(documented) < 10:
        sys.exit(f"{config_md}: found only {sorted(documented)}; has the table changed?")
    active, commented = sample_keys(sample)
    structural = {"forwarders"}  # a list, documented in docs/forwarding.md
    for k in sorted(documented - set(active) - commented):
        bad.append(f"{sample}: option {k} of {config_md} is missing")
    for k in sorted((set(active) | commented) - documented - structural):
        bad.append(f"{sample}: key {k} is not an option of {config_md}")

    h = subprocess.run([ternd, "--help"], capture_output=True, text=True, check=True).stdout
    defaults = {}
    for m in re.finditer(r"^  --([a-z0-9-]+) .*?\(default ([^;)]+)[;)]", h, re.M):
        defaults[m.group(1)] = m.group(2).strip()
    for k, v in sorted(active.items()):
        if k not in defaults:
            bad.append(f"{sample}: {k} is set but ternd --help shows no default for it")
        elif defaults[k] != v:
            bad.append(f"{sample}: {k}: {v}, but ternd --help says the default is {defaults[k]}")

    bad += run_ternd(ternd, sample)
    for line in bad:
        print(line)
    print(f"{len(bad)} problem(s) with {sample}")
    return 1 if bad else 0


def run_ternd(ternd, sample):
    with tempfile.TemporaryDirectory(prefix="tern-sample-") as data:
        argv = [ternd, "--config", sample, "--data", data, "--otlp-grpc", "127.0.0.1:0",
                "--otlp-http", "127.0.0.1:0", "--query", "127.0.0.1:0"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TERND_")}
        timeout = 20
        if os.environ.get("TERN_UNDER_VALGRIND"):
            vg = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                  "--show-leak-kinds=definite,indirect",
                  "--errors-for-leak-kinds=definite,indirect"]
            if os.environ.get("TERN_VALGRIND_SUPP"):
                vg.append("--suppressions=" + os.environ["TERN_VALGRIND_SUPP"])
            argv = vg + argv
            env.pop("TERN_UNDER_VALGRIND", None)
            timeout = 300
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        try:
            query = None
            for line in p.stdout:
                if line.startswith("listening query "):
                    query = line.split()[2]
                    break
            if query is None:
                return [f"ternd --config {sample} exited {p.wait(timeout)} before listening"]
            with urllib.request.urlopen(f"http://{query}/healthz", timeout=10) as r:
                body = json.load(r)
            if body != {"status": "ok"}:
                return [f"/healthz answered {body}"]
            p.send_signal(signal.SIGTERM)
            rest = p.stdout.read()
            rc = p.wait(timeout)
            if rc != 0 or "stopped accepted_spans" not in rest:
                return [f"ternd exited {rc} after SIGTERM; its last output: {rest.strip()}"]
            print(f"ternd --config {sample}: /healthz ok at {query}, clean exit")
            return []
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())

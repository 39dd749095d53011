#!/usr/bin/env python3
"""Checks deploy/container/Containerfile against the workspace, since no
image can be built where CI runs (no container engine): every package it
builds exists, every binary it copies out of target/release is a binary
target of those packages, and every stage's ENTRYPOINT is a binary the
stage copied in.

    cargo metadata --no-deps --format-version 1 | deploy/container/check.py
"""
import json
import pathlib
import re
import sys

CONTAINERFILE = pathlib.Path(sys.argv[1]) if sys.argv[1:] else pathlib.Path(__file__).with_name("Containerfile")

meta = json.load(sys.stdin)
bins = {
    p["name"]: {t["name"] for t in p["targets"] if "bin" in t["kind"]}
    for p in meta["packages"]
}
text = CONTAINERFILE.read_text()
problems = []
built = re.findall(r"-p ([a-z0-9-]+)", text)
if not built:
    problems.append("no `cargo build -p …` found")
for package in built:
    if package not in bins:
        problems.append(f"builds package {package}, which is not in the workspace")
available = set().union(*(bins.get(p, set()) for p in built))
copied = set(re.findall(r"target/release/([a-z0-9-]+)", text))
for binary in sorted(copied - available):
    problems.append(f"copies target/release/{binary}, which no built package makes")
for stage, body in re.findall(r"^FROM runtime AS ([a-z-]+)\n(.*?)(?=^FROM |\Z)", text, flags=re.M | re.S):
    entry = re.search(r'^ENTRYPOINT \["/usr/local/bin/([a-z0-9-]+)"\]', body, flags=re.M)
    installed = set(re.findall(r"/out/([a-z0-9-]+)", body))
    if not entry:
        problems.append(f"stage {stage}: no ENTRYPOINT of /usr/local/bin/<binary>")
    elif entry.group(1) not in installed or entry.group(1) not in copied:
        problems.append(f"stage {stage}: ENTRYPOINT {entry.group(1)} is not copied into the stage")
for p in problems:
    print(f"Containerfile: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"Containerfile: {len(built)} packages, {len(copied)} binaries, stages line up")

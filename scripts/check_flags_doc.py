#!/usr/bin/env python3
"""Diffs the flags in docs/configuration.md against each binary's --help, both ways.

docs/configuration.md tags each table of flags with the programs it describes:

    <!-- flags: kvc-master kvc-store -->        every row applies to both
    <!-- flags: kvc-local:up kvc-local:down --> "kvc-local up --help", "kvc-local down --help"

A row's flags are the `--name` tokens of its "flag" column (the first column when
there is none). With a "command" column, a row applies only to the programs whose
subcommand is named in that cell. A program's documented flags are the union of
its tables; its real flags are the --long options of its --help (without
--help). Every documented flag must exist and every real flag must be documented.

Usage: scripts/check_flags_doc.py BIN_DIR [docs/configuration.md]; exit 1 with
one line per difference.
"""

import os
import re
import subprocess
import sys

MARKER = re.compile(r"<!--\s*flags:\s*(.*?)\s*-->")
FLAG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
HELP_OPTION = re.compile(r"^\s+(?:-\w,)?(--[a-z0-9][a-z0-9-]*)")


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def documented(doc_path):
    """{program: {flag: line number}} from the tagged tables."""
    lines = open(doc_path).read().splitlines()
    out = {}
    i = 0
    while i < len(lines):
        m = MARKER.search(lines[i])
        i += 1
        if not m:
            continue
        programs = m.group(1).split()
        for p in programs:
            out.setdefault(p, {})
        while i < len(lines) and not lines[i].startswith("|"):
            i += 1
        if i >= len(lines):
            break
        header = [h.lower() for h in cells(lines[i])]
        flag_col = header.index("flag") if "flag" in header else 0
        command_col = header.index("command") if "command" in header else None
        i += 2  # header and --- row
        while i < len(lines) and lines[i].startswith("|"):
            row = cells(lines[i])
            targets = programs
            if command_col is not None:
                named = set(re.findall(r"[a-z][a-z-]*", row[command_col]))
                targets = [p for p in programs if p.split(":")[-1] in named]
            for flag in FLAG.findall(row[flag_col]):
                for p in targets:
                    out[p].setdefault(flag, i + 1)
            i += 1
    return out


def real(bin_dir, program):
    """The --long options of `program`'s --help ("kvc-local:up" = kvc-local up --help)."""
    argv = [os.path.join(bin_dir, program.split(":")[0])] + program.split(":")[1:] + ["--help"]
    try:
        text = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    flags, in_options = set(), False
    for line in text.splitlines():
        if line.startswith("Options:"):
            in_options = True
            continue
        if in_options and line and not line.startswith(" "):
            in_options = False  # "Subcommands:" and what follows
        m = HELP_OPTION.match(line) if in_options else None
        if m and m.group(1) != "--help":
            flags.add(m.group(1))
    return flags, None


def self_test():
    """Both directions are caught, on a scratch program and page."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        prog = os.path.join(d, "tool")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nprintf 'tool: x\\nOptions:\\n  -h,--help  help\\n"
                    "  --alpha TEXT  a\\n  --beta-ms INT=3  b\\n\\nSubcommands:\\n  --gamma  no\\n'\n")
        os.chmod(prog, 0o755)
        doc = os.path.join(d, "doc.md")
        with open(doc, "w") as f:
            f.write("<!-- flags: tool -->\n| key | flag |\n| --- | --- |\n"
                    "| `alpha` | `--alpha` |\n| `delta` | `--delta` |\n")
        out = subprocess.run([sys.executable, __file__, d, doc], capture_output=True, text=True)
    want = ["--delta is documented for tool but not in its --help",
            "tool --help has --beta-ms, which"]
    if out.returncode != 1 or not all(w in out.stdout for w in want) or "--gamma" in out.stdout:
        print("check_flags_doc self-test FAILED:\n" + out.stdout)
        return 1
    print("check_flags_doc self-test: ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    bin_dir = sys.argv[1]
    doc = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "docs", "configuration.md")
    docs = documented(doc)
    if not docs:
        print(f"{doc}: no <!-- flags: ... --> tables")
        return 1
    problems = []
    for program, flags in sorted(docs.items()):
        have, err = real(bin_dir, program)
        if have is None or not have:
            problems.append(f"{program}: no options in --help ({err or 'empty'})")
            continue
        name = program.replace(":", " ")
        for flag in sorted(set(flags) - have):
            problems.append(f"{doc}:{flags[flag]}: {flag} is documented for {name} "
                            "but not in its --help")
        for flag in sorted(have - set(flags)):
            problems.append(f"{name} --help has {flag}, which {doc} does not document for it")
    for p in problems:
        print(p)
    if problems:
        print(f"check_flags_doc: {len(problems)} difference(s)")
        return 1
    print(f"check_flags_doc: ok ({len(docs)} programs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Include-layer check: fails when a file includes a header it may not.

Every C++ file belongs to one component (by its folder). A quoted #include of a
project header is allowed when
  * the header is in the same component, and not in an internal/ folder of a
    folder the including file is outside of; or
  * the header is a PUBLIC header (include/kvc/<component>/..., or the generated
    protos kvc/v1/*, grpc/health/*) of a component listed below as one the
    including component may use; or
  * the including file is a test (tests/, *_test.cc, *_test_*.{h,cc}, a testing/
    folder) and the header is a generated proto, tests/support/, or a testing/
    header of a usable component; files under tests/ may include any header.
Every other project header (a component's private folders, internal/, a layer
above) is refused. Second rule: error reasons are typed. Outside tests, a string
literal that is the wire name of a kvc::Reason ("NO_KV_SPACE") may appear only in
include/kvc/common/reason.h; code uses Reason::kNoKvSpace. Usage: scripts/check_layers.py [repo root]; exit 1 on a
violation, listing each as FILE:LINE: message. scripts/check_layers.py --self-test
checks the checker on a scratch tree. docs/architecture.md shows the table.
"""

import os
import re
import subprocess
import sys

# Component -> the components it may include (besides itself). Lower layers first;
# a component never lists one above it. Keep in sync with docs/architecture.md.
ALLOWED = {
    "proto": [],
    "common": [],
    "http": ["common"],
    # http: SetProcessTls also sets the HTTP client's TLS (https etcd gateway, probes).
    "rpc": ["common", "proto", "http"],
    "membership": ["common", "rpc", "proto"],
    "perfmodel": ["common"],
    "jinja": ["common"],
    "tokenizer": ["common", "jinja"],
    "engine": ["common", "tokenizer", "perfmodel"],
    "transfer": ["common"],
    "store": ["common", "rpc", "membership", "http", "proto", "transfer"],
    "worker": ["common", "rpc", "http", "proto", "engine", "tokenizer", "transfer", "store"],
    "prefill": ["common", "rpc", "http", "proto", "engine", "tokenizer", "transfer", "store",
                "worker"],
    "decode": ["common", "rpc", "http", "proto", "engine", "tokenizer", "transfer", "store",
               "worker"],
    # transfer: only kvcctl doctor (kvc-conductor itself links no transfer engine).
    "conductor": ["common", "rpc", "membership", "http", "proto", "perfmodel", "tokenizer",
                  "engine", "store", "transfer"],
    "local": ["common", "rpc", "http", "proto", "engine", "tokenizer"],
    "bench": ["common", "rpc", "http", "proto", "perfmodel", "tokenizer", "engine", "transfer",
              "store", "conductor"],
    "tests": ["*"],
}

# Folder prefix -> component; the longest matching prefix wins.
FOLDERS = {
    "proto/": "proto",
    "src/common/": "common", "include/kvc/common/": "common",
    "src/rpc/": "rpc", "include/kvc/rpc/": "rpc",
    "src/membership/": "membership", "include/kvc/membership/": "membership",
    "src/http/": "http", "include/kvc/http/": "http",
    "src/perfmodel/": "perfmodel", "include/kvc/perfmodel/": "perfmodel",
    "src/jinja/": "jinja", "include/kvc/jinja/": "jinja",
    "src/engine/tokenizer/": "tokenizer", "include/kvc/tokenizer/": "tokenizer",
    "src/engine/": "engine", "include/kvc/engine/": "engine",
    "transfer/": "transfer", "include/kvc/transfer/": "transfer",
    "store/": "store", "include/kvc/store/": "store",
    "worker/": "worker", "include/kvc/worker/": "worker",
    "prefill/": "prefill", "include/kvc/prefill/": "prefill",
    "decode/": "decode", "include/kvc/decode/": "decode",
    "conductor/": "conductor", "include/kvc/conductor/": "conductor",
    "local/": "local",
    "bench/": "bench",
    "tests/": "tests",
}

SOURCE = re.compile(r"\.(cc|h|cu|cuh)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
TEST_FILE = re.compile(r"(^tests/|/testing/|_test\.cc$|_test_[a-z_]+\.(h|cc)$)")


def component_of(path):
    best = None
    for prefix, comp in FOLDERS.items():
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, comp)
    return best[1] if best else None


def resolve(root, header):
    """(repo path of the header, is_public) or None for a header outside the project."""
    if header.startswith("kvc/v1/") or header.startswith("grpc/health/"):
        return ("proto/" + header, True)
    if os.path.exists(os.path.join(root, "include", header)):
        return ("include/" + header, True)
    if os.path.exists(os.path.join(root, header)):
        return (header, False)
    return None


def check_include(path, header, target, public):
    """A message when `path` may not include `header` (resolved to `target`), else None."""
    me, them = component_of(path), component_of(target)
    if them is None:
        return None
    # internal/ is private to the folder that holds it, even inside one component.
    m = re.match(r"(.*/)internal/", target)
    if m and not path.startswith(m.group(1)) and me != "tests":
        return f"{header} is internal to {m.group(1)}"
    if me == them:
        return None
    allowed = ALLOWED.get(me, [])
    if "*" in allowed:
        return None
    if TEST_FILE.search(path):
        # Tests also use the generated protos, the shared test support and the
        # testing/ seams (fakes, in-process servers) of the components below.
        if them == "proto" or target.startswith("tests/support/"):
            return None
        if "/testing/" in target and them in allowed:
            return None
    if them not in allowed:
        return f"{me} may not include {them} ({header}): {them} is not below {me}"
    if public:
        return None
    return f"{header} is private to {them}; include its public header under include/kvc/{them}/"


REASON_LIST = "include/kvc/common/reason.h"
REASON_ENTRY = re.compile(r'X\(k\w+, "([A-Z0-9_]+)", \d+\)')


def code_of(line):
    """`line` without a // comment (one outside string literals)."""
    in_string, i = False, 0
    while i < len(line):
        c = line[i]
        if in_string and c == "\\":
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        elif not in_string and line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def reason_literals(root, files):
    """Free-string reasons in non-test code, as FILE:LINE: message."""
    path = os.path.join(root, REASON_LIST)
    if not os.path.exists(path):
        return []
    names = set(REASON_ENTRY.findall(open(path).read()))
    if not names:
        return []
    literal = re.compile('"(' + "|".join(sorted(names)) + ')"')
    errors = []
    for f in files:
        if f == REASON_LIST or TEST_FILE.search(f):
            continue
        with open(os.path.join(root, f), errors="replace") as text:
            for lineno, line in enumerate(text, 1):
                m = literal.search(code_of(line))
                if m:
                    errors.append(f"{f}:{lineno}: reason {m.group(0)} as a string; use "
                                  f"kvc::Reason (kvc/common/reason.h)")
    return errors


def violations(root):
    """Every refused include under `root` (a git checkout), as FILE:LINE: message."""
    files = subprocess.check_output(["git", "-C", root, "ls-files", "--cached", "--others",
                                     "--exclude-standard"], text=True).split()
    errors = []
    files = [p for p in files if SOURCE.search(p) and component_of(p) is not None
             and os.path.exists(os.path.join(root, p))]
    for path in files:
        with open(os.path.join(root, path), errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                resolved = resolve(root, m.group(1))
                if resolved is None:
                    continue
                msg = check_include(path, m.group(1), *resolved)
                if msg:
                    errors.append(f"{path}:{lineno}: {msg}")
    return errors + reason_literals(root, files), len(files)


def self_test():
    """The check refuses what it must and accepts what it may, on a scratch tree."""
    import tempfile
    tree = {
        "include/kvc/store/store_client.h": "",
        "include/kvc/common/status.h": "",
        "store/master/master_core.h": "",
        "store/testing/fake.h": "",
        "transfer/internal/wire.h": "",
        "src/common/up.cc": '#include "kvc/store/store_client.h"\n',            # refused: upward
        "conductor/private.cc": '#include "store/master/master_core.h"\n',    # refused: private
        "decode/internal.cc": '#include "transfer/internal/wire.h"\n',        # refused: internal
        "decode/testing_use.cc": '#include "store/testing/fake.h"\n',         # refused: not a test
        "decode/ok.cc": '#include "kvc/store/store_client.h"\n#include "kvc/common/status.h"\n'
                        '#include "kvc/v1/decode.pb.h"\n#include "absl/status/status.h"\n',
        "decode/ok_test.cc": '#include "store/testing/fake.h"\n#include "tests/support/x.h"\n',
        "transfer/ok.cc": '#include "transfer/internal/wire.h"\n',
        "tests/store/ok.cc": '#include "store/master/master_core.h"\n',
        "tests/support/x.h": "",
        "include/kvc/common/reason.h": '  X(kNoKvSpace, "NO_KV_SPACE", 1) \\\n',
        "store/free_reason.cc": 'Status s = WithReason(e, "NO_KV_SPACE");\n',     # refused
        "store/comment_ok.cc": '// answers "NO_KV_SPACE"\nint x;\n',
        "store/free_reason_test.cc": 'EXPECT_EQ(ReasonOf(s), "NO_KV_SPACE");\n',
    }
    with tempfile.TemporaryDirectory() as root:
        for path, text in tree.items():
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        subprocess.check_call(["git", "-C", root, "init", "-q"])
        errors, _ = violations(root)
    refused = sorted(e.split(":")[0] for e in errors)
    want = ["conductor/private.cc", "decode/internal.cc", "decode/testing_use.cc",
            "src/common/up.cc", "store/free_reason.cc"]
    if refused != want:
        print(f"check_layers self-test FAILED: refused {refused}, want {want}")
        for e in errors:
            print("  ", e)
        return 1
    print("check_layers self-test: ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    errors, nfiles = violations(os.path.abspath(root))
    for e in errors:
        print(e)
    if errors:
        print(f"check_layers: {len(errors)} include(s) break the layer table "
              "(scripts/check_layers.py, docs/architecture.md)")
        return 1
    print(f"check_layers: ok ({nfiles} files checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

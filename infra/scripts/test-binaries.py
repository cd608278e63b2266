#!/usr/bin/env python3
"""Lists test executables of a `cargo test --no-run --message-format=json`
build (read from stdin) as `package-dir<TAB>executable` lines, for the
packages named as arguments (`package` for all its test targets, or
`package:target` for one).

test.sh runs the oldest-supported-server pass on these very binaries:
`cargo test -p ...` would resolve features for those packages alone and
rebuild ~120 dependencies, ~4 GB more of target/.
"""
import json
import os
import sys


def package_name(package_id: str) -> str:
    # "path+file:///repo/events/jetstream#masthead-jetstream@0.1.0", or
    # "path+file:///repo/services/masthead#0.1.0" when the name is the
    # directory's.
    location, _, fragment = package_id.partition("#")
    if "@" in fragment:
        return fragment.split("@", 1)[0]
    return location.rstrip("/").rsplit("/", 1)[-1]


def main() -> int:
    wanted = sys.argv[1:]
    if not wanted:
        print("usage: test-binaries.py PACKAGE[:TARGET]... < cargo-json", file=sys.stderr)
        return 2
    found = set()
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message.get("profile", {}).get("test"):
            continue
        package = package_name(message["package_id"])
        target = message["target"]["name"]
        for want in wanted:
            name, _, only = want.partition(":")
            if name == package and (not only or only == target):
                found.add(want)
                directory = os.path.dirname(message["manifest_path"])
                print(f"{directory}\t{message['executable']}")
    missing = [w for w in wanted if w not in found]
    if missing:
        print(f"no test executable built for: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

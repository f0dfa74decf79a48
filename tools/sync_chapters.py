"""Rewrite each chapter's set-up cell from _config.yml and its .ipynb from its .md.

Usage: python tools/sync_chapters.py [book/NN_name.md ...]   (default: all)
       python tools/sync_chapters.py --check                  (exit 1 when out of sync)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_tools  # noqa: E402


def main(argv):
    check = "--check" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")] or book_tools.chapters()
    bad = 0
    for md in paths:
        if check:
            why = book_tools.out_of_sync(md)
            if why:
                bad += 1
                print(f"{md}: {why}")
        else:
            book_tools.sync(md)
            print(f"synced {md} -> {md.with_suffix('.ipynb').name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

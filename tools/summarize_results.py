"""Write a results folder's tables, figures and CSV files again from its run records, or set aside an extension.

For a reproduction whose training finished but whose summary did not: the folder's ``provenance.json``
holds its plan (rows, recipes, classes...), so :func:`mer_lib.experiments.summarize_results` needs
nothing else; this script runs it, notes in the provenance where and when, and validates the folder.

    python tools/summarize_results.py book/results/full
    python tools/summarize_results.py book/results/full --set-commit SHA --reason "..."
    python tools/summarize_results.py /tmp/mer-full/results --set-aside /tmp/out/partial

``--set-commit`` corrects the recorded commit (with the reason and the old value kept in the
provenance), for a device whose copy of the tree sat in a stale ``.git``. ``--set-aside DIR`` moves
the records of a stopped extension (every record outside the plan the folder last summarised) to
DIR, so that the folder is its last finished plan again (:func:`mer_lib.experiments.set_aside_partial`).
"""

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mer_lib import experiments as ex  # noqa: E402
from mer_lib._io import atomic_write_text  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a results folder of `mer reproduce` (runs/ and provenance.json)")
    p.add_argument("--set-commit", default=None, help="the commit the results were really made with")
    p.add_argument("--reason", default=None, help="why the recorded commit is corrected (required with --set-commit)")
    p.add_argument("--set-aside", default=None, metavar="DIR",
                   help="move the records of a stopped extension to DIR instead of summarising")
    args = p.parse_args(argv)
    out = Path(args.folder)
    if args.set_commit and not args.reason:
        p.error("--set-commit needs --reason")
    try:
        if args.set_aside:
            moved = ex.set_aside_partial(out, args.set_aside)
            print(f"{out}: {len(moved)} records set aside in {args.set_aside}")
            return 0
        ex.summarize_results(out)
        prov = json.loads((out / "provenance.json").read_text())
        prov["summarized"] = {"by": "tools/summarize_results.py (mer_lib.experiments.summarize_results)",
                              "on": platform.platform(),
                              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        if args.set_commit:
            prov["commit_recorded"] = prov["commit"]
            prov["commit"], prov["tree_clean"] = args.set_commit, True
            prov["commit_note"] = args.reason
        atomic_write_text(out / "provenance.json", json.dumps(prov, indent=1))
        ex.validate_results(out)
    except UserInputError as err:
        p.error(str(err))
    print(f"summarised {out}: {prov['runs']} fold records")
    return 0


if __name__ == "__main__":
    sys.exit(main())

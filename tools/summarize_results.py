"""Write a results folder's tables, figures and CSV files again from its run records, or set aside an extension.

For a reproduction whose training finished but whose summary did not (the GPU call of
2026-11-26 was stopped while drawing the figures, after every fold's record was written), or
whose summary the library now writes differently (new tests, named intervals, protocol names):
the records in ``runs/`` and ``provenance.json`` are what the GPU wrote; this script only runs
:func:`mer_lib.experiments.summarize_results` on them, and notes in the provenance where, when
and, for a folder summarised before, with which commit of the library and why (``resummarized``).

    python tools/summarize_results.py book/results/full
    python tools/summarize_results.py book/results/full --reason "issue 23: ..."
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
    p.add_argument("--reason", default=None, help="why the recorded commit is corrected (required with --set-commit), "
                   "or why the folder is summarised again (recorded with the summary)")
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
        # the code that writes the summary, as it is before the summary changes any file
        commit, clean = ex.folder._git_state(Path(__file__).resolve().parent.parent)
        ex.summarize_results(out)
        prov = json.loads((out / "provenance.json").read_text())
        note = {"by": "tools/summarize_results.py (mer_lib.experiments.summarize_results)", "on": platform.platform(),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        if "summarized" in prov:
            # summarised before: the first summary stays as it was; each later one is listed with the code that
            # wrote it
            note.update({"library_commit": commit, "tree_clean": clean, "why": args.reason or "re-summarised"})
            prov["resummarized"] = list(prov.get("resummarized") or []) + [note]
        else:
            prov["summarized"] = note
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

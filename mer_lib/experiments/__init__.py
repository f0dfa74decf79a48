"""The paper's experiments: Tables 3 and 4, controls, both recipes, both protocols, repeated runs.

Each row of a table is a model and an input:

- Table 3 (models): CNN_RNN and the one-stream 3D CNN on raw frames, and the
  two-stream network on frames plus phase-magnified TV-L1 flow ("our method");
- Table 4 (pre-processing): raw frames only (the one-stream 3D CNN), the
  two-stream network with the flow of the unmagnified clip ("optical flow"), and
  with the flow of the phase-magnified clip ("PBVM"). The paper's text also
  mentions flow of the Eulerian-magnified clip; it is an extra row here;
- controls (:data:`CONTROLS`): the "corrected" two-stream variant, each stream
  of the two-stream network trained alone (the architecture held fixed), and
  the two-stream network fed the flow of *another* clip (shuffled flow: what
  is left when the flow carries no information about the clip).

:func:`reproduce` runs any set of rows under both recipes
(:data:`mer_lib.train.RECIPES`) and both protocols, with repeated runs (the
paper's split with several seeds, each seed drawing its own split;
leave-one-subject-out with one or more seeds), several runs at once on one GPU,
and writes a results folder (:data:`RESULTS_FILES`, :data:`PROVENANCE_FIELDS`):
CSV tables of mean, standard deviation and an interval named by what it is per
cell (a range under 5 runs), paired comparisons each with one named test, the
findings the paper's claims raise, per-run predictions, learning curves,
confusion matrices and the provenance of the run. It shows progress and resumes
after an interruption. The controls that answer the full run's open questions
and the whole plan of ``mer reproduce --all`` are in
:mod:`mer_lib.experiments.controls`; each row's recipe chosen by nested
validation in :mod:`mer_lib.experiments.nested`.

The paper's own numbers (Yan & Li 2020, Tables 3 and 4) are kept beside ours
for comparison; they are the paper's, measured on CAS(ME)^2 with a random
80/20 split.
"""

from mer_lib.experiments.comparisons import FINDINGS, collapses, compare_cells, comparison_sentence, findings
from mer_lib.experiments.controls import (ALPHA_SWEEP, ALPHAS, FIXED_ARCHITECTURE, FULL_PLAN, PLAN_ROWS,
                                          PRECISION_CONTROL, alpha_of, count_trainings)
from mer_lib.experiments.folder import (PROVENANCE_FIELDS, RESULTS_FILES, check_results_data, current_settings,
                                        describe_provenance, locate_results, provenance, settings_differences,
                                        validate_results)
from mer_lib.experiments.folds import run_row, run_table
from mer_lib.experiments.nested import NESTED, NESTED_GRID, choose_recipe, compose_nested
from mer_lib.experiments.results import NOT_TRAINED_FRACTION, TABLE4_FIXED, paper_tables, summarize_results
from mer_lib.experiments.rows import (CONTROLS, FULL_ROWS, MODELS, PAPER_TABLE3, PAPER_TABLE4, TABLE3, TABLE4, Row,
                                      build, row_inputs, unique_rows)
from mer_lib.experiments.runner import reproduce
from mer_lib.pipeline import INPUT_SETTINGS

__all__ = ["Row", "TABLE3", "TABLE4", "CONTROLS", "FULL_ROWS", "PAPER_TABLE3", "PAPER_TABLE4", "INPUT_SETTINGS",
           "MODELS", "build", "row_inputs", "unique_rows", "run_row", "run_table", "reproduce", "summarize_results",
           "validate_results", "provenance", "RESULTS_FILES", "PROVENANCE_FIELDS", "current_settings",
           "settings_differences", "describe_provenance", "locate_results",
           "ALPHAS", "ALPHA_SWEEP", "FIXED_ARCHITECTURE", "PRECISION_CONTROL", "PLAN_ROWS", "FULL_PLAN",
           "count_trainings", "alpha_of", "NESTED", "NESTED_GRID", "choose_recipe", "compose_nested",
           "compare_cells", "comparison_sentence", "findings", "FINDINGS", "collapses", "paper_tables",
           "NOT_TRAINED_FRACTION", "TABLE4_FIXED", "check_results_data"]

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
after an interruption. A results folder holds one plan: a request for another
plan is refused, one that only adds runs extends the folder. The controls that
answer the full run's open questions and the whole plan of ``mer reproduce
--all`` are in :mod:`mer_lib.experiments.controls`; each row's recipe chosen by
nested validation in :mod:`mer_lib.experiments.nested`.

The package, in the order of the data flow (each module imports only the ones
before it):

- :mod:`~mer_lib.experiments.rows`: the rows, the models they name, their inputs;
- :mod:`~mer_lib.experiments.folds`: a protocol's folds, one fold's training, a row, a table;
- :mod:`~mer_lib.experiments.batched_runs`: folds trained many at once (the batched trainer, on JAX);
- :mod:`~mer_lib.experiments.nested`: a row's recipe chosen on an inner subject split of its training side;
- :mod:`~mer_lib.experiments.controls`: the controls (precision, the alpha sweep, Table 4 held fixed) and the full plan;
- :mod:`~mer_lib.experiments.plan`: a folder's plan, its jobs, and the records that belong to it;
- :mod:`~mer_lib.experiments.comparisons`: paired comparisons with one named test each, the paper's claims as findings;
- :mod:`~mer_lib.experiments.results`: the tables and figures written from the records;
- :mod:`~mer_lib.experiments.folder`: reading a folder (provenance, validation, settings, where it is);
- :mod:`~mer_lib.experiments.runner`: :func:`reproduce`, the jobs run in this process or several.

Every public name is importable from ``mer_lib.experiments``.

The paper's own numbers (Yan & Li 2020, Tables 3 and 4) are kept beside ours
for comparison; they are the paper's, measured on CAS(ME)^2 with a random
80/20 split.
"""

from mer_lib.experiments.comparisons import FINDINGS, collapses, compare_cells, comparison_sentence, findings
from mer_lib.experiments.controls import (ALPHA_SWEEP, ALPHAS, FIXED_ARCHITECTURE, FULL_PLAN, PLAN_ROWS,
                                          PRECISION_CONTROL, alpha_of, count_trainings)
from mer_lib.experiments.folder import (PROVENANCE_FIELDS, RESULTS_FILES, check_results_data, current_settings,
                                        describe_provenance, locate_results, provenance, set_aside_partial,
                                        settings_differences, validate_results)
from mer_lib.experiments.folds import PROTOCOLS, check_classes, run_row, run_table
from mer_lib.experiments.nested import NESTED, NESTED_GRID, choose_recipe, compose_nested
from mer_lib.experiments.plan import compare_plans
from mer_lib.experiments.results import NOT_TRAINED_FRACTION, TABLE4_FIXED, paper_tables, summarize_results
from mer_lib.experiments.rows import (CONTROLS, FULL_ROWS, MODEL_VARIANTS, MODELS, PAPER_TABLE3, PAPER_TABLE4, TABLE3,
                                      TABLE4, Row, build, model_variants, row_by_key, row_inputs, select_rows,
                                      unique_rows)
from mer_lib.experiments.runner import reproduce
from mer_lib.pipeline import INPUT_SETTINGS

__all__ = ["Row", "TABLE3", "TABLE4", "CONTROLS", "FULL_ROWS", "PAPER_TABLE3", "PAPER_TABLE4", "INPUT_SETTINGS",
           "MODELS", "MODEL_VARIANTS", "model_variants", "build", "row_inputs", "unique_rows", "run_row", "run_table",
           "reproduce", "summarize_results",
           "validate_results", "provenance", "RESULTS_FILES", "PROVENANCE_FIELDS", "current_settings",
           "settings_differences", "describe_provenance", "locate_results", "set_aside_partial", "PROTOCOLS",
           "check_classes", "row_by_key", "select_rows", "compare_plans",
           "ALPHAS", "ALPHA_SWEEP", "FIXED_ARCHITECTURE", "PRECISION_CONTROL", "PLAN_ROWS", "FULL_PLAN",
           "count_trainings", "alpha_of", "NESTED", "NESTED_GRID", "choose_recipe", "compose_nested",
           "compare_cells", "comparison_sentence", "findings", "FINDINGS", "collapses", "paper_tables",
           "NOT_TRAINED_FRACTION", "TABLE4_FIXED", "check_results_data"]

"""Many training runs of one architecture at once, in one compiled program (Keras 3 on JAX).

One small run leaves a GPU idle: a step of the two-stream network on a batch
of 8 clips is a few GFLOP, microseconds of an H100's arithmetic, and the time
goes to launching kernels, Python between steps and copies. :func:`train_many`
trains N runs together instead. Their weights, optimiser states and
batch-normalisation statistics are stacked along a leading axis; one step
function, ``jax.vmap`` over Keras' stateless API (``model.stateless_call``
and ``optimizer.stateless_apply``), advances all of them; ``jax.lax.scan``
runs the steps of an epoch inside the compiled program; the clips stay on the
device and each step gathers its batch there.

Each run is trained exactly as :func:`mer_lib.train.train` trains it, and ends
with the same weights (up to floating-point rounding; a test checks it):

- its initial weights come from building the model after
  :func:`mer_lib.train.set_seeds` with the run's seed (and the recipe's zero
  head); its dropout draws come from the model's own seed generators, which
  are non-trainable variables that ``stateless_call`` advances, so they are
  the draws Keras' ``fit`` makes;
- each epoch's order of the clips and its flips and shifts come from the same
  NumPy generators, seeded with (seed, epoch), as in ``train``
  (:func:`mer_lib.train.epoch_order`, :func:`mer_lib.train.epoch_augmentation`):
  these small tables (a few integers per clip) are drawn on the host and
  uploaded each epoch, and the gathering, flipping and shifting of the clips
  happen on the device. Drawing them with ``jax.random`` instead would cost
  nothing measurable either, but would give other batches than ``train``;
- the loss (categorical cross-entropy, label smoothing, class weights, the
  batch's mean), the learning-rate schedule, AdamW's decoupled weight decay and
  Adam's update are Keras' own; the last, smaller batch of an epoch is a step
  of its own size, as in ``fit``;
- the histories (loss and accuracy as ``fit`` averages them, the learning rate
  at the start of each epoch, the validation loss and accuracy), the loss at
  initialisation, the best epoch on a validation set, collapse detection, and
  checkpoints from which the whole batch resumes exactly.

Runs of different training-set sizes (the folds of leave-one-subject-out)
share one program: a run with fewer steps in an epoch skips the steps it does
not have (its state passes through unchanged), and each distinct size of last
batch is one extra step shape. Nothing is padded inside a batch, so batch
normalisation sees exactly the clips ``fit`` would.

The recipe may differ between the runs of a batch (learning rate, schedule,
weight decay, label smoothing, class weights, augmentation, best epoch); the
architecture may not: it is one ``build_model``.

Why ``vmap``: one trace of one run's step gives one program whatever N is
(the compile time does not grow with N), and each layer's kernels do the work
of all N runs at once (a convolution of N runs becomes one grouped
convolution, a Dense layer a batched matrix product). A Python loop over the
runs inside one program would compile N copies of the step and launch N small
kernels per layer; separate processes (``reproduce(workers=...)``) pay N
runtimes and compete for the card. ``benchmarks/bench_training.py --part
speed`` measures the batched trainer against both.

On a CPU, JAX's default random-bit generator (the "partitionable" Threefry)
compiles the dropout of these networks' 5-D tensors very slowly (about 50 s
for one draw against 3 s on the machine the tests were written on); set
``JAX_THREEFRY_PARTITIONABLE=false`` before JAX starts (the tests, the
benchmark's CPU runs and ``tools/gpu_run.sh``'s rehearsal do). Both trainers
then draw from the same other generator, so they still agree.
"""


from mer_lib.batched.arithmetic import PEAK_FLOPS, forward_macs, precision_for_device, step_flops
from mer_lib.batched.program import Run
from mer_lib.batched.stacking import measure_stacking, measure_stacking_in_subprocess
from mer_lib.batched.trainer import CHECKPOINT_NAME, train_many

__all__ = ["Run", "train_many", "forward_macs", "step_flops", "precision_for_device", "PEAK_FLOPS",
           "CHECKPOINT_NAME", "measure_stacking", "measure_stacking_in_subprocess"]

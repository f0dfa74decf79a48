"""mer_lib: the helper library of the micro-expression recognition course.

Each module holds one stage of Yan & Li (CSAE 2020), rebuilt from first
principles and explained in the chapter of the same name.
"""

__version__ = "0.1.0"

# TensorFlow's C++ start-up lines stay out of every output (see env.quiet_tensorflow);
# this imports nothing heavy: TensorFlow is imported only when a module needs it.
from mer_lib.env import quiet_tensorflow as _quiet_tensorflow

_quiet_tensorflow()

"""mer_lib: the helper library of the micro-expression recognition course.

Each module holds one stage of Yan & Li (CSAE 2020), rebuilt from first
principles and explained in the chapter of the same name.

Importing it changes nothing in the interpreter: TensorFlow's start-up lines are
kept out of the output by :func:`mer_lib.env.quiet_tensorflow`, which every
chapter's set-up cell and the ``mer`` command call.
"""

__version__ = "0.1.0"

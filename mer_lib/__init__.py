"""mer_lib: the helper library of the micro-expression recognition course.

Each module holds one stage of Yan & Li (CSAE 2020), rebuilt from first
principles and explained in the chapter of the same name.
"""

__version__ = "0.1.0"

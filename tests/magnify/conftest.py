from mer_lib.magnify.testdata import grating_clip, measured_shift, static_noisy_clip  # noqa: F401

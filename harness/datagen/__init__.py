"""Getting training data: distillation, best-of-N sampling, pool filtering and weighted mixing.

Library entry points (each is one CLI command): :func:`harness.datagen.distill.distill`,
:func:`harness.datagen.best_of_n.best_of_n`, :func:`harness.datagen.filter.filter_pool`,
:func:`harness.datagen.mix.mix`. Nothing heavy is imported here.
"""

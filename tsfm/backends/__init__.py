"""Model backends. Importing this package registers every built-in model.

Each module registers its names explicitly with :func:`tsfm.registry.register_model`
and imports its heavy dependencies (torch, chronos, statsforecast) only inside the
factories, so listing models stays fast. Trainable families also register their training
interface (:mod:`tsfm.training`) beside their loader, e.g. :mod:`tsfm.backends.chronos_training`.
"""

from tsfm.backends import (  # noqa: F401  (registration side effect)
    baselines,
    bundled,
    chronos,
    chronos_training,
    fracast,
    moirai,
    moirai_testing,
    timesfm,
    timesfm_testing,
    timesfm_training,
    tirex,
    tirex_testing,
    tirex_training,
    toto,
    toto_testing,
    ttm,
    ttm_testing,
    ttm_training,
)

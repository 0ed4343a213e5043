"""``lamina.utils``: host-side helpers (``to_categorical``, ``normalize``, ``Progbar``, seeds)."""
from ..ops.random import set_random_seed
from .np_utils import normalize, to_categorical
from .progbar import Progbar
from .sequence import Sequence

__all__ = ["Progbar", "Sequence", "normalize", "set_random_seed", "to_categorical"]

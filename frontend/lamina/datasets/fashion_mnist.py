"""Fashion-MNIST (Zalando article images), as ``keras.datasets.fashion_mnist``.

60,000 training and 10,000 test images of 10 clothing classes, 28x28 grey levels. The four
IDX ``.gz`` files are looked for in ``$LAMINA_DATASETS/fashion-mnist/``, then
``lamina_home()/datasets/fashion-mnist/``, then ``lamina_home()/datasets/``, each used only
if its sha256 is known (Zalando's originals or Debian's recompressed copies); otherwise they
are downloaded into ``lamina_home()/datasets/fashion-mnist/``.

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot.
"""
from __future__ import annotations

import numpy as np

from lamina.datasets import _cache
from lamina.datasets._cache import DatasetNotFoundError

__all__ = ["load_data", "DatasetNotFoundError"]

_TITLE = "The Fashion-MNIST data set"
_FOLDER = "fashion-mnist"

_GZ_FILES = tuple(
    _cache.RemoteFile(name, digests, tuple(base + name for base in _cache._FASHION_MIRRORS))
    for name, digests in _cache.FASHION_GZ_SHA256.items()
)


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST, downloading it on first use.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28), (10000,); pixels 0-255, labels 0-9, original order.

    Raises:
        DatasetNotFoundError: (an OSError) no verified local copy and the download failed.
    """
    _, paths = _cache.resolve(_FOLDER, _TITLE, [list(_GZ_FILES)])
    return _cache.load_idx_set(paths, _TITLE)

"""Built-in data sets, mirroring ``keras.datasets``: ``mnist`` and ``fashion_mnist``.

Each module has ``load_data()`` returning ``(x_train, y_train), (x_test, y_test)`` as uint8
numpy arrays. Files are verified by sha256 and cached under ``lamina_home()/datasets``
(``$LAMINA_HOME``, default ``~/.lamina``); ``$LAMINA_DATASETS`` may name a folder with
``mnist/`` and ``fashion-mnist/`` subfolders that is searched first (for offline use and CI).
When no verified copy exists and downloading fails, ``DatasetNotFoundError`` (an ``OSError``)
is raised naming the files needed and the folder to put them in.
"""
from lamina.datasets import fashion_mnist, mnist
from lamina.datasets._cache import DatasetNotFoundError

__all__ = ["mnist", "fashion_mnist", "DatasetNotFoundError"]

"""Layer wrappers (also the Keras 2 module path ``keras.layers.wrappers``)."""
from .time_distributed import TimeDistributed
from .wrapper import Wrapper

__all__ = ["Bidirectional", "TimeDistributed", "Wrapper"]


def __getattr__(name: str):
    # Keras 2 kept Bidirectional here too; imported lazily because it subclasses Wrapper.
    if name == "Bidirectional":
        from ..recurrent.bidirectional import Bidirectional
        return Bidirectional
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Layer wrappers (also the Keras 2 module path ``keras.layers.wrappers``)."""
from .time_distributed import TimeDistributed
from .wrapper import Wrapper

__all__ = ["TimeDistributed", "Wrapper"]

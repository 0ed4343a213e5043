"""Recurrent layers (also the Keras 2 module path ``keras.layers.recurrent``)."""
from .bidirectional import Bidirectional
from .gru import GRU
from .lstm import LSTM
from .rnn import BaseRNN
from .simple_rnn import SimpleRNN

__all__ = ["BaseRNN", "Bidirectional", "GRU", "LSTM", "SimpleRNN"]

"""Recurrent layers (also the Keras 2 module path ``keras.layers.recurrent``)."""
from .bidirectional import Bidirectional
from .conv_lstm2d import ConvLSTM2D
from .gru import GRU
from .lstm import LSTM
from .rnn import BaseRNN
from .simple_rnn import SimpleRNN

__all__ = ["BaseRNN", "Bidirectional", "ConvLSTM2D", "GRU", "LSTM", "SimpleRNN"]

"""A Keras 2 era MNIST MLP script, unchanged except ``keras`` → ``lamina`` in the imports.

Unscaled uint8 pixels, one-hot integer targets, ``SGD(lr=..., decay=...)``, the Keras 1
``class_mode`` argument, 50 epochs, ``verbose=0``, then ``evaluate`` and ``predict``.

    python examples/keras2_mnist_mlp.py [nb_epoch]
"""
from __future__ import print_function

import sys

import numpy as np
from lamina.datasets import mnist
from lamina.layers.core import Activation, Dense, Dropout
from lamina.models import Sequential
from lamina.optimizers import SGD
from lamina.utils import np_utils

nb_epoch = int(sys.argv[1]) if len(sys.argv) > 1 else 50
batch_size = 200
nb_classes = 10

(X_train, y_train), (X_test, y_test) = mnist.load_data()
X_train = X_train.reshape(60000, 784)
X_test = X_test.reshape(10000, 784)
Y_train = np_utils.to_categorical(y_train, nb_classes).astype("int32")
Y_test = np_utils.to_categorical(y_test, nb_classes).astype("int32")

model = Sequential()
model.add(Dense(500, input_shape=(784,)))
model.add(Activation("tanh"))
model.add(Dropout(0.5))
model.add(Dense(500))
model.add(Activation("tanh"))
model.add(Dropout(0.5))
model.add(Dense(10))
model.add(Activation("softmax"))

sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
model.compile(loss="categorical_crossentropy", optimizer=sgd, class_mode="categorical")

model.fit(X_train, Y_train, batch_size=batch_size, nb_epoch=nb_epoch, shuffle=True, verbose=0,
          validation_split=0.3)
score = model.evaluate(X_test, Y_test, batch_size=batch_size, verbose=0)
print("Test score:", score)
predictions = model.predict(X_test, batch_size=batch_size)
accuracy = float(np.mean(predictions.argmax(axis=1) == y_test))
print("Test accuracy:", accuracy)

"""Neural networks on chainrule (``cr.nn``): layers, losses, training, saving.

Built only on the public engine; nothing in the engine knows about it.

Keras style:

>>> import numpy as np
>>> from chainrule import nn
>>> from chainrule.data import digits
>>> data = digits()
>>> model = nn.Sequential([nn.Dense(32, activation="relu", input_dim=64),
...                        nn.Dense(10, activation="softmax")], seed=0)
>>> model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy"])
>>> history = model.fit(data.x_train, data.y_train, epochs=20, batch_size=32, verbose=0)
>>> model.evaluate(data.x_test, data.y_test)["accuracy"] > 0.9
True

The same training as a hand-written loop (forward, loss, ``backward()``,
optimizer step), the way the course writes it:

>>> import chainrule as cr
>>> from chainrule import optim
>>> from chainrule.data import Batches
>>> model = nn.Sequential([nn.Dense(32, activation="relu", input_dim=64),
...                        nn.Dense(10)], seed=0)            # outputs logits
>>> opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> for epoch in range(5):
...     for x_batch, y_batch in Batches(data.x_train, data.y_train, batch_size=32, seed=epoch):
...         opt.zero_grad()                                  # .grad = None
...         loss = nn.softmax_cross_entropy(model(x_batch), y_batch)
...         loss.backward()                                  # fills p.grad
...         opt.step()                                       # p -= lr · update, in place
>>> with cr.no_grad():
...     predicted = model(data.x_test).numpy().argmax(axis=1)
>>> float((predicted == data.y_test).mean()) > 0.9
True
"""

from . import activations, initializers, losses, plots, regularizers
from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint
from .initializers import constant
from .layers import Dense
from .losses import (
    BinaryCrossEntropy,
    CrossEntropy,
    Loss,
    MeanSquaredError,
    binary_cross_entropy,
    mean_squared_error,
    softmax_cross_entropy,
)
from .model import Sequential
from .module import Module, parameter
from .regularizers import L2, l2_penalty
from .serialization import load_checkpoint, load_model, save_model

__all__ = [
    "L2", "BinaryCrossEntropy", "Callback", "CrossEntropy", "Dense", "EarlyStopping", "History",
    "Loss", "MeanSquaredError", "ModelCheckpoint", "Module", "Sequential", "activations",
    "binary_cross_entropy", "constant", "initializers", "l2_penalty", "load_checkpoint",
    "load_model", "losses", "mean_squared_error", "parameter", "plots", "regularizers",
    "save_model", "softmax_cross_entropy",
]

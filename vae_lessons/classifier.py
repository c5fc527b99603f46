"""A small MNIST digit classifier, whose hidden layer is the feature space in which lessons
measure generated images (metrics.frechet_distance, metrics.precision_recall).

Its confidence alone is a poor yardstick: like most classifiers it is confident far from the
data, on most images of uniform noise (lesson 01 measures it), so lessons compare feature
distributions instead, with real-vs-real and noise beside every score.
"""
import torch
import torch.nn.functional as F

from .models import mlp
from .training import evaluate, train
from .validation import flatten_images


def classification_loss(model, x, y):
    """Cross-entropy (nats per image) and accuracy of a batch."""
    logits = model(flatten_images(x, 784))
    return F.cross_entropy(logits, y), {"accuracy": (logits.argmax(1) == y).float().mean()}


def train_classifier(x, y, *, epochs=10, seed=0, progress=False):
    """An MLP 784-256-10 trained on (x, y); returns the model (in eval mode)."""
    torch.manual_seed(seed)
    model = mlp((784, 256, 10))
    train(model, (x, y), classification_loss, epochs=epochs, seed=seed, progress=progress)
    return model


@torch.no_grad()
def features(model, images, batch_size=2000):
    """The classifier's hidden layer, after its ReLU: images (N, 784) or (N, 28, 28) in [0, 1]
    -> features (N, 256), on the CPU."""
    device = next(model.parameters()).device
    x = flatten_images(images, 784)
    return torch.cat([model[:-1](x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model, x, y):
    return evaluate(model, (x, y), classification_loss)["accuracy"]


@torch.no_grad()
def confident_fraction(model, images, threshold=0.9):
    """Fraction of images whose most likely class has probability > threshold."""
    device = next(model.parameters()).device
    probs = F.softmax(model(flatten_images(images, 784).to(device)), dim=1)
    return (probs.max(1).values > threshold).float().mean().item()

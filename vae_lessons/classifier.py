"""A small MNIST digit classifier: a yardstick for generated images.

A decoded image that the classifier assigns to one digit with high confidence looks like
a digit; garbage spreads its probability over several classes. Lessons use the fraction
of confident images to compare generators (lesson 01: autoencoder codes; lesson 07: AE vs VAE).
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


def accuracy(model, x, y):
    return evaluate(model, (x, y), classification_loss)["accuracy"]


@torch.no_grad()
def confident_fraction(model, images, threshold=0.9):
    """Fraction of images whose most likely class has probability > threshold."""
    device = next(model.parameters()).device
    probs = F.softmax(model(flatten_images(images, 784).to(device)), dim=1)
    return (probs.max(1).values > threshold).float().mean().item()

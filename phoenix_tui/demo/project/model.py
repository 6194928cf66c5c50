"""A one-feature linear model trained by SGD on mean squared error."""


class Model:
    def __init__(self):
        self.w = 0.0
        self.b = 0.0

    def predict(self, x):
        return self.w * x + self.b

    def sgd_step(self, xs, ys, lr):
        n = len(xs)
        errors = [self.predict(x) - y for x, y in zip(xs, ys)]
        self.w -= lr * 2 * sum(e * x for e, x in zip(errors, xs)) / n
        self.b -= lr * 2 * sum(errors) / n
        return sum(e * e for e in errors) / n

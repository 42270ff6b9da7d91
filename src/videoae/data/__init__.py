"""Data: bundled and downloadable MNIST digits, the Moving MNIST generator and test sets, video I/O."""

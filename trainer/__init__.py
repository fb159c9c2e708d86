"""The trainer: datasets, tag vocabulary, model, training loop, evaluation and export."""

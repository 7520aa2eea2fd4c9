"""Metrics, model-based scorers and the GPT judge that turn predictions into scores."""

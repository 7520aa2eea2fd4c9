"""Model-based scorers shared by the evaluators and the trainer's reward experts."""

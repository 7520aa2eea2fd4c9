"""The signal that a scorer cannot run here, in a module of its own so that code which only reports it (the
trainer's reward table, `ubpp doctor`) needs no torch."""


class ScorerUnavailable(RuntimeError):
    """The scorer's weights or package are not here; metrics report "not computed (reason)"."""

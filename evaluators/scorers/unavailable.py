"""The signal that a scorer cannot run here, in a module of its own so that code which only reports it (the
trainer's reward table, `ubpp doctor`) needs no torch. A user error where it ends a command (a reward's model
missing at training)."""


from unifybench_pp.errors import UbppError


class ScorerUnavailable(UbppError, RuntimeError):
    """The scorer's weights or package are not here; metrics report "not computed (reason)"."""

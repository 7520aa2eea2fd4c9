"""The model protocol, the adapter registry and the adapters (Show-o family under `showo/`)."""

"""The peers' servers measured by bench sections, one module per protocol."""

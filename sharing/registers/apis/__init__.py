"""The registers' member API: one module per register."""

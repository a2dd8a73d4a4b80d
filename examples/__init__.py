"""Examples for people who build on Vigil's topics (not installed with the package)."""

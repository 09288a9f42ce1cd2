"""Built-in plugins: tempo_kit registers its own components through the same hooks as third-party plugins."""

"""The shop's actions, one module per namespace; the app includes the whole package."""

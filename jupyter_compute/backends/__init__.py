"""Platform adapters: one module per platform, all implementing backends.base.Backend."""

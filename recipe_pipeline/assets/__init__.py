"""Software-defined assets, one module per layer: ingestion, privacy, metrics, warehouse."""

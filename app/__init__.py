"""Drop-zone ingest station."""

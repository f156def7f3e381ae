"""Storage: engine and sessions, typed models, migrations."""

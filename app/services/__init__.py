"""Use cases: each owns its transaction and raises a `DomainError` the web layer can show."""

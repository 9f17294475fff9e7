"""Authentication building blocks with no storage: hashing, secrets, scopes, JWTs."""

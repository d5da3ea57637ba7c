"""SQL: engine and migrations, models, and the stores / queries of each domain."""

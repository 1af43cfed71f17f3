"""How the service stands: the facts every worker reads from the database, and the health decision."""

"""Tables, sessions and migrations of the GraphQL API server."""

"""HTTP and GraphQL layer of the integration platform's API server."""

"""Real API server processes and protocol clients for the HTTP and WebSocket tests."""

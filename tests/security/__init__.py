"""Helpers of the security tests: servers with chosen settings and logs."""

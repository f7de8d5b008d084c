"""Authentication: the Lambda authorizer and the /api/auth routes."""

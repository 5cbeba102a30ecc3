"""The REST API under /api/v1/ (Django REST Framework, schema by drf-spectacular): thin views
over the same core functions and role checks as the pages. docs/api.md says how to use it."""

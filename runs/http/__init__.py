"""The project's own framework: errors as values, bearer auth, JSON plumbing and view decorators."""

"""The HTML pages of what exists: runs list, trace viewer and monitoring."""

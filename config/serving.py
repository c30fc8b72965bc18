"""The address the web server listens on, from HOST and PORT: gunicorn binds it and `seed_demo` prints it."""

import os


def address() -> str:
    return f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"

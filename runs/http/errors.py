class Rejected(Exception):
    """A request a service refuses: carries the HTTP status and the exact message shown."""

    code = "rejected"

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        nodes: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.headers = headers or {}  # HTTP fields the answer carries, e.g. a 429's Retry-After
        self.status = status
        self.message = message
        self.field = field
        self.nodes = nodes  # the nodes the refusal is about, when it is about nodes
        if code:
            self.code = code

    def carried_by(self, response):
        """The response with the HTTP fields this refusal carries (a quota 429's Retry-After), whatever its body."""
        for name, value in self.headers.items():
            response[name] = value
        return response

    def as_dict(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.nodes is not None:
            error["nodes"] = self.nodes
        return {"error": error}


class BadRequest(Rejected):
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(400, message, field=field)


class NotFound(Rejected):
    code = "not_found"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(404, message, field=field)


class Forbidden(Rejected):
    code = "forbidden"

    def __init__(self, message: str):
        super().__init__(403, message)


class Conflict(Rejected):
    code = "conflict"

    def __init__(self, message: str):
        super().__init__(409, message)

"""Named domain errors. The store raises them; the app maps each to one HTTP status."""


class StoreError(Exception):
    """Base class: `status` and `title` become the problem+json response."""

    status = 500
    title = "Store error"
    extra: dict = {}  # more members of the problem+json body

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class ConversationNotFound(StoreError):
    status = 404
    title = "Conversation not found"

    def __init__(self, sender_id: str):
        super().__init__(f"No conversation with sender_id {sender_id!r}.")


class MessageNotFound(StoreError):
    status = 404
    title = "Message not found"

    def __init__(self, sender_id: str, timestamp: float, *, what: str = "user or bot message"):
        super().__init__(f"Conversation {sender_id!r} has no {what} at timestamp {timestamp!r}.")


class InvalidEvent(StoreError):
    status = 400
    title = "Invalid event"


class InvalidParameter(StoreError):
    """A parameter that cannot mean anything (a filter with no value, a time that is none): a 400
    naming it. `reason` is the detail without the name, for a command line that names it itself."""

    status = 400
    title = "Bad Request"

    def __init__(self, parameter: str, detail: str):
        super().__init__(f"{parameter}: {detail}")
        self.extra = {"parameter": parameter}
        self.reason = detail


class InvalidBackup(StoreError):
    """A backup (an NDJSON export) holds a mark that cannot be put back."""

    status = 400
    title = "Invalid backup"


class StoreFull(StoreError):
    """The disk (or the file system's quota) is full: nothing of the write was stored."""

    status = 507
    title = "Insufficient Storage"

    def __init__(self, reason: str):
        super().__init__(f"The store could not be written, and nothing of this request was stored: {reason}. "
                         "Free disk space (or `rasa-messaging vacuum` after erasing) and send it again.")


class NotOurDatabase(StoreError):
    title = "Not a rasa-messaging database"

    def __init__(self, path):
        super().__init__(
            f"{path} is not a rasa-messaging database (it has tables of another program). "
            "To import a Rasa tracker store or event broker file, name it as a FILE of "
            "`rasa-messaging import`, and give --db a new or rasa-messaging file."
        )


class StoreUnavailable(StoreError):
    """The database server cannot be reached, or dropped the connection: nothing of the request
    was stored. The next request connects again."""

    status = 503
    title = "Store unavailable"


class StoreNotReady(StoreError):
    """The database cannot be reached, or its schema is older than this version: `/core/ready` is
    a 503 until it is, so a load balancer sends no request to this replica."""

    status = 503
    title = "Not ready"

"""The one exception tree of cairn.

Every error cairn raises on purpose is a ``CairnError``; foreign exceptions (SQLAlchemy,
fsspec, botocore, OSError) are mapped to one of these at the boundary where they happen, so
that callers catch one family and the CLI can print ``str(error)`` without a traceback.
Every message says what is wrong and what to do about it.

    CairnError
    ├── ConfigError                 settings, cairn.yaml, project home
    ├── MissingDependencyError      an optional extra is not installed
    │   └── GitNotFoundError        a git repository, but no git command
    ├── StoreError                  metadata store
    │   ├── StoreUnavailableError   cannot open or reach the database
    │   └── MigrationError          schema creation or upgrade failed
    ├── ArtifactError               artifact store
    │   ├── ArtifactNotFoundError
    │   ├── ArtifactCorruptedError  digest mismatch on read
    │   └── ArtifactExistsError     a run path already holds other content
    ├── NotFoundError               a named object does not exist
    │   ├── RunNotFoundError
    │   ├── ExperimentNotFoundError
    │   └── ModelNotFoundError      no such model, version or alias
    ├── InvalidInputError           a value given by the user is not acceptable
    │   ├── FilterError             search filter / order-by syntax
    │   ├── ParamConflictError      a param was logged twice with different values
    │   ├── SignatureError          model input does not match the model's signature
    │   └── PromotionRuleError      a promotion rule does not parse
    ├── RunStateError               operation not valid for the run's state
    ├── ModelLoadError              a stored model cannot be loaded (flavor, format)
    └── ServerError                 team mode (a cairn server and its clients)
        ├── AuthenticationError     no token, or one unknown, expired or revoked
        ├── PermissionDeniedError   the token's role may not do this
        ├── ServerUnavailableError  the server cannot be reached (writes go to the spool)
        └── ClientModeError         an operation the server does not offer to clients yet
"""

from __future__ import annotations


class CairnError(Exception):
    """Base of every error cairn raises on purpose; ``str()`` is a complete user message."""


class ConfigError(CairnError):
    """Settings or project home are not usable."""


class MissingDependencyError(CairnError):
    """An optional dependency is missing; the message names the extra to install."""


class GitNotFoundError(MissingDependencyError):
    """The project is a git repository but the git command is not installed."""


class StoreError(CairnError):
    """The metadata store failed."""


class StoreUnavailableError(StoreError):
    """The metadata store cannot be opened or reached."""


class MigrationError(StoreError):
    """Creating or upgrading the schema failed."""


class ArtifactError(CairnError):
    """The artifact store failed."""


class ArtifactNotFoundError(ArtifactError):
    """No artifact with that digest or path exists."""


class ArtifactCorruptedError(ArtifactError):
    """An artifact's bytes do not match its digest."""


class ArtifactExistsError(ArtifactError):
    """A run already holds different content under that artifact path."""


class NotFoundError(CairnError):
    """A named object does not exist."""


class RunNotFoundError(NotFoundError):
    """No run with that id (or id prefix) exists."""


class ExperimentNotFoundError(NotFoundError):
    """No experiment with that name exists."""


class ModelNotFoundError(NotFoundError):
    """No model, model version or alias with that name exists."""


class InvalidInputError(CairnError, ValueError):
    """A value given by the user is not acceptable."""


class FilterError(InvalidInputError):
    """A search filter or order-by clause could not be parsed."""


class ParamConflictError(InvalidInputError):
    """A param was logged again with a different value."""


class RunStateError(CairnError):
    """The operation is not valid in the run's current state."""


class SignatureError(InvalidInputError):
    """Model input does not match the model's signature; ``problems`` lists each one."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [message])


class PromotionRuleError(InvalidInputError):
    """A promotion rule could not be parsed or evaluated."""


class ModelLoadError(CairnError):
    """A stored model cannot be loaded: unknown flavor, missing package, refused format."""


class ServerError(CairnError):
    """Team mode: a cairn server refused a request, or cannot be reached."""


class AuthenticationError(ServerError):
    """No token was given, or it is unknown, malformed, expired or revoked."""


class PermissionDeniedError(ServerError):
    """The token's role (or its user) may not do what was asked."""


class ServerUnavailableError(ServerError):
    """The cairn server cannot be reached, or answered with a server-side failure."""


class ClientModeError(ServerError):
    """Client mode (``CAIRN_SERVER``) does not offer this operation yet."""

"""An object store's failures as ``ArtifactError``s that name the cause and the fix.

Only the advice that fits the failure is given: telling a user to check credentials when the
interpreter was shutting down (or the endpoint was unreachable) sends them the wrong way.
"""

from __future__ import annotations

from typing import Any

from cairn.core.errors import ArtifactError

_CREDENTIALS = (
    "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or key/secret "
    "in CAIRN_ARTIFACTS_OPTIONS) and that they may use the bucket"
)


def advice_for(exc: BaseException) -> str:
    """What to do about ``exc``, raised by an object store's client."""
    text = str(exc).lower()
    kind = type(exc).__name__
    if isinstance(exc, RuntimeError) and "shutdown" in text:
        return (
            "the Python interpreter was already shutting down, so the transfer could not run; "
            "end the run before the program exits (a with-block, or cairn.end_run())"
        )
    if isinstance(exc, PermissionError) or "Credentials" in kind:
        return _CREDENTIALS
    if any(word in text for word in ("access denied", "accessdenied", "forbidden", "signature")):
        return _CREDENTIALS
    if "nosuchbucket" in text or "bucket does not exist" in text:
        return "the bucket does not exist: create it, or fix the bucket in CAIRN_ARTIFACTS"
    if isinstance(exc, (ConnectionError, TimeoutError)) or any(
        word in kind for word in ("Connect", "Endpoint", "Timeout")
    ):
        return (
            "the object store could not be reached; check the network and the endpoint_url in "
            "CAIRN_ARTIFACTS_OPTIONS"
        )
    return "check the bucket, the network and CAIRN_ARTIFACTS_OPTIONS"


def _is_missing_bucket(exc: BaseException) -> bool:
    """Whether ``exc`` (s3fs raises FileNotFoundError for it) says the bucket is missing."""
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return "bucket does not exist" in text or "nosuchbucket" in text


class MappedErrors:
    """Turns an object store's errors into an ``ArtifactError`` naming the cause."""

    def __init__(self, url: str, target: str) -> None:
        self.url = url
        self.target = target

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        if exc is None or isinstance(exc, ArtifactError):
            return
        if isinstance(exc, FileNotFoundError) and not _is_missing_bucket(exc):
            return  # a missing object: the caller says what that means
        if (
            isinstance(exc, (OSError, RuntimeError))
            or "botocore" in type(exc).__module__
            or "aiohttp" in type(exc).__module__
        ):
            raise ArtifactError(
                f"the artifact store {self.url} failed on {self.target}: "
                f"{type(exc).__name__}: {exc}; {advice_for(exc)}"
            ) from exc

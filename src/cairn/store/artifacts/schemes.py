"""URL scheme → fsspec filesystem, importing the implementation only when used.

Unknown or uninstalled schemes fail with the package or extra to install.
"""

from __future__ import annotations

from typing import Any

from cairn.core.errors import ConfigError, MissingDependencyError

#: scheme -> (package that implements it, cairn extra that installs it, or None)
SCHEMES: dict[str, tuple[str, str | None]] = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", None),
    "gcs": ("gcsfs", None),
    "az": ("adlfs", None),
    "abfs": ("adlfs", None),
}


def scheme_of(url: str) -> str:
    """Return the URL's scheme, ``file`` for plain paths."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else "file"


def filesystem_for(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """Return ``(fsspec filesystem, root path inside it)`` for an artifact store URL."""
    from fsspec.core import url_to_fs

    scheme = scheme_of(url)
    try:
        return url_to_fs(url, **options)  # type: ignore[no-any-return]
    except ImportError:
        package, extra = SCHEMES.get(scheme, (f"an fsspec implementation of {scheme}://", None))
        how = f"pip install 'cairn-mlops[{extra}]'" if extra else f"pip install {package}"
        raise MissingDependencyError(
            f"the artifact store {url} needs {package}, which is not installed; install it "
            f"with: {how}"
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"cannot use {url!r} as the artifact store ({exc}); set CAIRN_ARTIFACTS to a "
            "folder or an s3://bucket/prefix URL"
        ) from None

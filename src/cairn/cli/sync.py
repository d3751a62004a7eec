"""``cairn sync``: send what the offline spool holds to the cairn server now."""

from __future__ import annotations

from cairn.cli._render import err_console, fail
from cairn.core.errors import CairnError, ServerUnavailableError


def sync_command() -> None:
    """Send the writes spooled while the cairn server was unreachable (client mode).

    Runs, metrics, params, tags and artifacts that could not reach the server wait in the
    project's .cairn/spool; any cairn client sends them once the server answers, and this
    command sends them now. Exits 1 while the server cannot be reached.
    """
    from cairn.store import get_store

    try:
        store = get_store()
        if store.remote is None:
            fail(
                "cairn sync sends spooled writes to a cairn server; set CAIRN_SERVER (and "
                "CAIRN_TOKEN) to the server this project logs to"
            )
        waiting = store.remote.spool.pending()
        if waiting == 0:
            err_console.print("nothing to send: the spool is empty", highlight=False)
            return
        err_console.print(f"sending {waiting} spooled request(s) to {store.remote.url}")
        try:
            sent = store.remote.replay()
        except ServerUnavailableError as exc:
            left = store.remote.spool.pending()
            fail(f"{exc}; {left} request(s) are still in the spool")
        left = store.remote.spool.pending()
        rejected = store.remote.rejected
        err_console.print(
            f"sent {sent} request(s); {left} left (held by running cairn processes, which send "
            "them themselves)"
            if left
            else f"sent {sent} request(s); the spool is empty",
            highlight=False,
        )
        if rejected:
            fail(
                f"the server refused {rejected} spooled request(s); they are kept in "
                f"{store.remote.spool.folder / 'rejected.jsonl'} with the reasons"
            )
    except CairnError as exc:
        fail(exc)

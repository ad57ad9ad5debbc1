"""Workshop mode: the instructor sees the room live, problem by problem and mistake by mistake.

Instructor, in a terminal:

    python -m tutor classroom            # prints the line learners type, and the dashboard link

Learner, once in any notebook (or set TUTOR_CLASSROOM="http://host:8765/?code=K7M2QX&name=Ada"):

    tutor.join("http://host:8765", code="K7M2QX", name="Ada")
    tutor.leave()                        # stop sharing

From `join` on, every `tutor.check` also sends (name, problem, status, mistake named, time,
attempt number) to the instructor, never your code. Sending happens in the background: a check
is never slower for it and never fails because the server is down; unsent results wait under
TUTOR_HOME and go when the server is back.

This module stays light: `import tutor` imports it, and it imports nothing beyond the standard
library until `join` (the server's Tornado is only ever imported by the server).
"""

from __future__ import annotations

import os

__all__ = ["join", "leave", "record"]

_client = None
_left = False  # after leave(), TUTOR_CLASSROOM no longer joins by itself


class Joined:
    """What `join` says, as text in a console and in a notebook."""

    def __init__(self, text: str, ok: bool):
        self.text, self.ok = text, ok

    def __repr__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return self.ok

    def _repr_markdown_(self) -> str:
        return self.text


def _from_environment() -> tuple[str, str, str] | None:
    """(url, code, name) from TUTOR_CLASSROOM (and TUTOR_NAME), or None."""
    from urllib.parse import parse_qs, urlsplit

    value = os.environ.get("TUTOR_CLASSROOM", "").strip()
    if not value:
        return None
    parts = urlsplit(value if "://" in value else "http://" + value)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    name = query.get("name") or os.environ.get("TUTOR_NAME") or _user()
    return f"{parts.scheme}://{parts.netloc}", query.get("code", ""), name


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "learner"


def _attempts() -> dict[str, int]:
    """Attempts per problem so far, as the learner's progress file counts them."""
    from tutor import progress_store

    return {id: entry.get("attempts", 0)
            for id, entry in progress_store.load()["problems"].items()}


def join(url: str | None = None, code: str | None = None, name: str | None = None, *,
         wait: float = 3.0) -> Joined:
    """Share your checks with the instructor's workshop server.

        tutor.join("http://10.0.0.5:8765", code="K7M2QX", name="Ada")

    Without arguments, TUTOR_CLASSROOM (and TUTOR_NAME) are used. Waits up to `wait` seconds for
    the server's first answer, to tell you whether it worked; if the server is not reachable,
    your results are kept on this machine and sent once it is.
    """
    global _client, _left
    from tutor import progress_store
    from tutor.classroom.client import Client

    if url is None:
        found = _from_environment()
        if found is None:
            return Joined("Give the server's address, the class code and your name: "
                          "tutor.join('http://host:8765', code='…', name='…').", False)
        url, env_code, env_name = found
        code, name = code or env_code, name or env_name
    if not code or not isinstance(code, str):
        return Joined("The class code is missing: the instructor shows it with the join line, "
                      "e.g. tutor.join(url, code='K7M2QX', name='Ada').", False)
    name = name if isinstance(name, str) and name.strip() else _user()
    leave()
    _left = False
    try:
        _client = Client(url, code, name.strip(), progress_store.home(), _attempts())
    except (ValueError, OSError) as e:
        return Joined(f"Could not join: {e}", False)
    _client.answered.wait(wait)
    c = _client
    if c.status == "joined":
        waiting = len(c.pending())
        more = f" {waiting} earlier results are being sent." if waiting else ""
        from html import escape

        return Joined(f"Joined {c.url} as **{escape(c.name)}**. From now on each check shares your name, "
                      "the problem, its status, the mistake named, the time and the attempt "
                      f"number, never your code. `tutor.leave()` stops it.{more}", True)
    if c.status == "refused":
        text = c.message
        leave()
        return Joined(f"The server refused to let you join: {text}", False)
    return Joined(f"The server at {c.url} has not answered yet; you are joined on this machine, "
                  "and your results are kept here and sent as soon as it answers. "
                  "`tutor.leave()` stops it.", True)


def leave() -> None:
    """Stop sharing results. Any not sent yet stay on this machine for the next `join`."""
    global _client, _left
    _left = True
    client, _client = _client, None
    if client is not None:
        client.stop()


def record(result) -> None:
    """Hand a finished check's result to the workshop client, if there is one. Never raises,
    never waits: `tutor.check` calls it for every result."""
    global _client
    try:
        client = _client
        if client is None:
            if _left or not os.environ.get("TUTOR_CLASSROOM"):
                return
            from tutor import progress_store
            from tutor.classroom.client import Client

            url, code, name = _from_environment()
            attempts = _attempts()
            if result.status != "not_attempted":  # the progress file counts this check already
                attempts[result.problem] = attempts.get(result.problem, 1) - 1
            client = _client = Client(url, code, name, progress_store.home(), attempts)
        client.submit(result.problem, result.status, result.misconception)
    except Exception:  # sharing is a courtesy: it never breaks a learner's check
        pass

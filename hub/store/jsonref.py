"""A JSON reference as text, written the same way in an index and in the queries that use it.

SQLite and PostgreSQL use an expression index only when a query repeats the indexed expression
exactly; SQLAlchemy's generic JSON accessors bind the path as a parameter, which neither planner
can match. This construct renders the path as a literal, once per dialect, so the model's index
(``hub.store.tables``) and ``hub.store.time_entries`` cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class json_text(FunctionElement[str]):
    """``json_text(column, "resource")``: the JSON member as text (``NULL`` when absent)."""

    type = String()
    inherit_cache = True
    name = "json_text"

    def __init__(self, column: Any, member: str) -> None:
        if not _NAME.fullmatch(member):
            raise ValueError(f"json_text: {member!r} is not a plain member name")
        self.member = member
        super().__init__(column)


@compiles(json_text, "postgresql")
def _postgresql(element: json_text, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"({column} ->> '{element.member}')"


@compiles(json_text)
def _sqlite(element: json_text, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"json_extract({column}, '$.{element.member}')"

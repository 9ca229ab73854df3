"""Shared asset conventions: owners, and metadata builders for the Dagster UI."""


import pyarrow as pa
import dagster as dg

OWNERS = ["team:data-platform"]


def column_schema(schema: pa.Schema, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[dg.TableColumn(f.name, str(f.type), description=descriptions.get(f.name)) for f in schema]
    )


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A small markdown table (no pandas needed); values are shortened for the UI."""
    if not rows:
        return "_no rows_"
    columns = columns or list(rows[0])

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 80 else text[:77] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)

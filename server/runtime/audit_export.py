"""``GET /api/audit``: the shop's audit trail (flagged final checks and overrides, masked when
recorded) for a range of its local dates, as JSON or as CSV a spreadsheet opens safely.
A supervisor's token only; an agent's gets ``forbidden`` (HTTP 403)."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from server import protocol
from server.errors import BadValue
from server.runtime.dashboard import supervisor
from server.runtime.http import SERVICE, json_response, query_date, shop_of

CSV_COLUMNS = ("time", "agent", "conversation", "kind", "severity", "categories", "rules", "text")
# A cell starting with one of these is a formula to a spreadsheet: agents write these texts.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def audit_export(request: web.Request) -> web.Response:
    """``GET /api/audit?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|csv``: the shop's flagged final
    checks and overrides from ``from`` through ``to`` (local dates; default today), masked."""
    shop = shop_of(request, supervisor(request))
    service = request.app[SERVICE]
    view = service.view
    first = query_date(request, "from", view.today())
    last = query_date(request, "to", first.isoformat())
    if last < first:
        raise BadValue.must_be("query 'to'", f"on or after 'from' ({first.isoformat()})", str(last))
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise BadValue.must_be("query 'format'", "'json' or 'csv'", kind)
    zone = ZoneInfo(service.config.timezone)
    items = [
        protocol.audit_item(record, zone) for record in await view.audit_of_days(shop, first, last)
    ]
    if kind == "json":
        return json_response(
            {
                "shop": shop,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "timezone": service.config.timezone,
                "records": items,
            }
        )
    name = f"audit-{first.isoformat()}-{last.isoformat()}.csv"
    return web.Response(
        body=audit_csv(items).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def audit_csv(items: list[dict[str, Any]]) -> str:
    """CSV with a byte-order mark (so spreadsheet programs read the Chinese as UTF-8)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        row = [";".join(v) if isinstance(v, list) else v for v in map(item.get, CSV_COLUMNS)]
        writer.writerow([_inert(cell) for cell in row])
    return out.getvalue()


def _inert(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_START) else text

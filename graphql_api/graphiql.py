"""The GraphiQL page that ``/graphql`` serves to browsers, with its assets.

GraphiQL 3.9.0 and React 18.3.1 are vendored in ``static/graphiql`` and
served by this server under `ASSET_PATH`, so the page works without
internet access. ``static/graphiql/README.md`` describes how to update them.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

ASSET_PATH = "/graphiql"
# Media types that GraphQL clients ask for.
_JSON_TYPES = ("application/json", "application/graphql-response+json")
ASSET_DIRECTORY = Path(__file__).parent / "static" / "graphiql"

_PAGE = f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>GraphiQL · graphql-api</title>
    <link rel="stylesheet" href="{ASSET_PATH}/graphiql.min.css" />
    <style>
      body {{ margin: 0; height: 100vh; overflow: hidden; }}
      #graphiql {{ height: 100vh; }}
    </style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="{ASSET_PATH}/react.production.min.js"></script>
    <script src="{ASSET_PATH}/react-dom.production.min.js"></script>
    <script src="{ASSET_PATH}/graphiql.min.js"></script>
    <script src="{ASSET_PATH}/init.js"></script>
  </body>
</html>
"""


def wants_graphiql(request: Request) -> bool:
    """Tell whether a GET request comes from a browser opening the page.

    Browsers navigating to a URL list ``text/html`` in ``Accept`` and no
    JSON type, while GraphQL clients ask for JSON. A browser opening a
    shared link such as ``/graphql?query=...`` also gets the page, which
    puts the link's query and variables in its editors.
    """
    accept = request.headers.get("accept", "").lower()
    if "text/html" not in accept:
        return False
    return not any(media_type in accept for media_type in _JSON_TYPES)


def graphiql_page(_request: Request) -> HTMLResponse:
    """Return the GraphiQL page. It needs no token because it contains no data."""
    return HTMLResponse(_PAGE)


def graphiql_asset_routes() -> list[BaseRoute]:
    """Build the route that serves GraphiQL's vendored JavaScript and CSS."""
    return [
        Mount(
            ASSET_PATH,
            app=StaticFiles(directory=ASSET_DIRECTORY),
            name="graphiql_assets",
        )
    ]
